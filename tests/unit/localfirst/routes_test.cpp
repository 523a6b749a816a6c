// The section 3.2 matching table of the localfirst protocol, row by row.
#include "localfirst/routes.hpp"

#include <gtest/gtest.h>

namespace switchboard::localfirst {
namespace {

RouteMatch match(std::string_view path, std::string_view prefix = "") {
  return match_route(path, prefix, 1024);
}

TEST(LocalfirstRoutes, LiteralSegmentsMatchCaseInsensitively) {
  const auto m = match("/INTRODUCTION/p3");
  EXPECT_EQ(m.outcome, RouteMatch::kIntroduction);
  EXPECT_EQ(m.params, std::vector<std::string>{"p3"});
  EXPECT_EQ(match("/Connection/a/b/c").outcome, RouteMatch::kConnection);
}

TEST(LocalfirstRoutes, ParametersKeepTheirCase) {
  EXPECT_EQ(match("/introduction/Alice").params, std::vector<std::string>{"Alice"});
}

TEST(LocalfirstRoutes, OneTrailingSlashIsAccepted) {
  EXPECT_EQ(match("/introduction/p2/").params, std::vector<std::string>{"p2"});
  const auto m = match("/connection/a/b/c/");
  EXPECT_EQ(m.outcome, RouteMatch::kConnection);
  EXPECT_EQ(m.params, (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(match("/introduction/p2//").outcome, RouteMatch::kNone);
}

TEST(LocalfirstRoutes, ParametersArePercentDecodedAndPlusStays) {
  EXPECT_EQ(match("/introduction/a%2Fb%20c").params, std::vector<std::string>{"a/b c"});
  EXPECT_EQ(match("/introduction/a+b").params, std::vector<std::string>{"a+b"});
  EXPECT_EQ(match("/introduction/%C3%A9").params, std::vector<std::string>{"\xC3\xA9"});
}

TEST(LocalfirstRoutes, EachParameterIsExactlyOneNonEmptySegment) {
  for (const char* path : {"/introduction", "/introduction/", "/introduction/p4/extra",
                           "/connection/a//c", "/connection/a/b", "/connection/a/b/c/d", "/"}) {
    EXPECT_EQ(match(path).outcome, RouteMatch::kNone) << path;
  }
}

TEST(LocalfirstRoutes, DoubleSlashesAndTheExpressWsSuffixDoNotMatch) {
  EXPECT_EQ(match("//introduction/p1").outcome, RouteMatch::kNone);
  EXPECT_EQ(match("/introduction/p6/.websocket").outcome, RouteMatch::kNone);
}

TEST(LocalfirstRoutes, MalformedEncodingAndInvalidUtf8AreBadEncoding) {
  EXPECT_EQ(match("/introduction/a%2").outcome, RouteMatch::kBadEncoding);
  EXPECT_EQ(match("/introduction/%zz").outcome, RouteMatch::kBadEncoding);
  EXPECT_EQ(match("/connection/a/b/%FF").outcome, RouteMatch::kBadEncoding);
}

TEST(LocalfirstRoutes, LongParametersAreTooLong) {
  EXPECT_EQ(match_route("/introduction/" + std::string(11, 'x'), "", 10).outcome,
            RouteMatch::kTooLong);
  EXPECT_EQ(match_route("/introduction/" + std::string(10, 'x'), "", 10).outcome,
            RouteMatch::kIntroduction);
  // The decoded length counts: 10 escapes are 10 bytes.
  std::string escaped;
  for (int i = 0; i < 10; ++i) escaped += "%41";
  EXPECT_EQ(match_route("/introduction/" + escaped, "", 10).outcome, RouteMatch::kIntroduction);
}

TEST(LocalfirstRoutes, PrefixIsMatchedBeforeTheRoutes) {
  EXPECT_EQ(match("/relay/introduction/p", "/relay").outcome, RouteMatch::kIntroduction);
  EXPECT_EQ(match("/RELAY/introduction/p", "/relay").outcome, RouteMatch::kIntroduction);
  EXPECT_EQ(match("/introduction/p", "/relay").outcome, RouteMatch::kNone);
  EXPECT_EQ(match("/relayx/introduction/p", "/relay").outcome, RouteMatch::kNone);
}

}  // namespace
}  // namespace switchboard::localfirst
