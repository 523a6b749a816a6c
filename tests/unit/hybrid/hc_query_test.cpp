#include "hybrid/hc_query.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace switchboard::hybrid {
namespace {

// ---- Section 1.4 table ----

struct FilterRow {
  std::string_view query;  // without '?'
  std::string_view forwarded;
  bool present;
};

TEST(FilterAppQuery, SectionOnePointFourTable) {
  const std::vector<FilterRow> rows{
      {"a=1&a=2&", "a=1&a=2&", true},
      {"&&&", "&&&", true},
      {"&foo=bar", "&foo=bar", true},
      {"%2f%3a%3d%26", "%2f%3a%3d%26", true},
      {"sb-hc-id=1&custom=value", "custom=value", true},
      {"custom=value&sb-hc-id=1", "custom=value", true},
      {"sb-hc-undefined", "sb-hc-undefined", true},
      {"sb-hc-whatever=&foo=bar", "foo=bar", true},
  };
  for (const auto& row : rows) {
    SCOPED_TRACE(row.query);
    const FilteredQuery out = filter_app_query(row.query);
    EXPECT_EQ(out.text, row.forwarded);
    EXPECT_EQ(out.present, row.present);
  }
}

TEST(FilterAppQuery, NothingLeft) {
  for (std::string_view query :
       {"", "sb-hc-id=1", "sb-hc-action=connect&sb-hc-token=x%20y", "sb-hc-id=1&"}) {
    SCOPED_TRACE(query);
    const FilteredQuery out = filter_app_query(query);
    EXPECT_EQ(out.text, "");
    EXPECT_FALSE(out.present);
  }
}

TEST(FilterAppQuery, NamesCaseInsensitive) {
  EXPECT_EQ(filter_app_query("SB-HC-Action=connect&x=1&Sb-Hc-Token=t").text, "x=1");
}

TEST(FilterAppQuery, KeepsOrderAndBytes) {
  EXPECT_EQ(filter_app_query("b=%41+x&sb-hc-id=1&a=%zz&&c").text, "b=%41+x&a=%zz&&c");
  EXPECT_EQ(filter_app_query("sb-hcx=1&sb-h=2&xsb-hc-id=3").text, "sb-hcx=1&sb-h=2&xsb-hc-id=3");
}

TEST(FilterAppQuery, EncodedSbHcNameIsStrippedLikeParsing) {
  // parse_hc_params reads this as sb-hc-token, so it must not reach the listener.
  EXPECT_EQ(parse_hc_params("sb-hc-%74oken=secret").token, "secret");
  EXPECT_EQ(filter_app_query("sb-hc-%74oken=secret&a=1").text, "a=1");
}

// ---- Section 1.2 parsing ----

TEST(ParseHcParams, AllNames) {
  const HcParams p = parse_hc_params(
      "sb-hc-action=accept&sb-hc-id=abc_1&sb-hc-token=tok&sb-hc-statusCode=404&"
      "sb-hc-statusDescription=Not+here");
  EXPECT_EQ(p.action, "accept");
  EXPECT_EQ(p.id, "abc_1");
  EXPECT_EQ(p.token, "tok");
  EXPECT_EQ(p.status_code, "404");
  EXPECT_EQ(p.status_description, "Not here");
}

TEST(ParseHcParams, AbsentStaysAbsent) {
  const HcParams p = parse_hc_params("foo=bar&sb-hc-undefined&sb-hc-other=1");
  EXPECT_FALSE(p.action);
  EXPECT_FALSE(p.id);
  EXPECT_FALSE(p.token);
  EXPECT_FALSE(p.status_code);
  EXPECT_FALSE(p.status_description);
  EXPECT_FALSE(parse_hc_params("").action);
  EXPECT_FALSE(parse_hc_params("sb-hc-action").action);
}

TEST(ParseHcParams, EmptyValueIsPresent) {
  EXPECT_EQ(parse_hc_params("sb-hc-action=").action, "");
}

TEST(ParseHcParams, NamesCaseInsensitive) {
  const HcParams p = parse_hc_params(
      "SB-HC-ACTION=listen&Sb-Hc-Id=x&SB-hc-TOKEN=t&sb-hc-statuscode=400&"
      "SB-HC-STATUSDESCRIPTION=d");
  EXPECT_EQ(p.action, "listen");
  EXPECT_EQ(p.id, "x");
  EXPECT_EQ(p.token, "t");
  EXPECT_EQ(p.status_code, "400");
  EXPECT_EQ(p.status_description, "d");
}

TEST(ParseHcParams, StatusDescriptionFormDecoded) {
  EXPECT_EQ(
      parse_hc_params("sb-hc-statusDescription=Rejected+by+user%20code%21").status_description,
      "Rejected by user code!");
  EXPECT_EQ(parse_hc_params("sb-hc-statusDescription=a%2Bb").status_description, "a+b");
}

TEST(ParseHcParams, FirstOccurrenceWins) {
  const HcParams p =
      parse_hc_params("sb-hc-id=first&SB-HC-ID=second&sb-hc-action=connect&sb-hc-action=listen");
  EXPECT_EQ(p.id, "first");
  EXPECT_EQ(p.action, "connect");
}

TEST(ParseHcParams, SplitsAtFirstEquals) {
  EXPECT_EQ(parse_hc_params("sb-hc-token=a=b==").token, "a=b==");
}

TEST(ParseHcParams, TokenOuterLayerDecodedOnce) {
  const HcParams p = parse_hc_params(
      "sb-hc-action=listen&sb-hc-token=SharedAccessSignature+sr%3Dhttp%253A%252F%252Fh%252Fhc1"
      "%26sig%3Dabc%252B%253D%26se%3D1%26skn%3Dk");
  EXPECT_EQ(p.token, "SharedAccessSignature sr=http%3A%2F%2Fh%2Fhc1&sig=abc%2B%3D&se=1&skn=k");
}

TEST(ParseHcParams, MalformedEscapeKeptRaw) {
  EXPECT_EQ(parse_hc_params("sb-hc-statusDescription=100%+done").status_description, "100%+done");
}

// ---- Section 6.3 listener ids and 5.7 lists ----

TEST(ListenerIdFrom, StripsSuffix) {
  EXPECT_EQ(listener_id_from("0b7ef9a1-2c4d-4e5f-8a9b-0c1d2e3f4a5b_G12"),
            "0b7ef9a1-2c4d-4e5f-8a9b-0c1d2e3f4a5b");
  EXPECT_EQ(listener_id_from("plain"), "plain");
  EXPECT_EQ(listener_id_from("a_b_c"), "a");
}

TEST(ListenerIdFrom, EmptyGetsRandomUuid) {
  const std::string a = listener_id_from("");
  const std::string b = listener_id_from("_suffix-only");
  EXPECT_EQ(a.size(), 36u) << a;
  EXPECT_EQ(b.size(), 36u) << b;
  EXPECT_EQ(a[14], '4');
  EXPECT_NE(a, b);
}

}  // namespace
}  // namespace switchboard::hybrid
