#include "polling/target_policy.hpp"

#include <gtest/gtest.h>

namespace switchboard::polling {
namespace {

std::vector<TargetPattern> patterns(std::initializer_list<const char*> texts) {
  std::vector<TargetPattern> out;
  for (const char* t : texts) out.push_back(*parse_target_pattern(t, false));
  return out;
}

TEST(TargetPolicy, MatchesSchemeHostPortAndPathPrefix) {
  const auto list =
      patterns({"wss://chat.example.com/socket", "ws://*.example.org", "ws://h:8080"});
  EXPECT_TRUE(match_target(list, true, "CHAT.example.com", "", "/socket"));
  EXPECT_TRUE(match_target(list, true, "chat.example.com", "443", "/socket/room"));
  EXPECT_FALSE(match_target(list, true, "chat.example.com", "", "/sockets"));
  EXPECT_FALSE(match_target(list, false, "chat.example.com", "", "/socket"));
  EXPECT_FALSE(match_target(list, true, "chat.example.com", "8443", "/socket"));
  EXPECT_TRUE(match_target(list, false, "a.b.example.org", "", "/"));
  EXPECT_FALSE(match_target(list, false, "example.org", "", "/"));
  EXPECT_FALSE(match_target(list, false, "badexample.org", "", "/"));
  EXPECT_TRUE(match_target(list, false, "h", "8080", "/anything"));
  EXPECT_FALSE(match_target(list, false, "h", "", "/anything"));
}

TEST(TargetPolicy, RejectsWhatIsNotAPattern) {
  for (const char* t :
       {"http://a", "ws://", "ws://u@h/", "ws://h/?q", "ws://h/#f", "ws://*/", "ws://a*.b/"}) {
    EXPECT_FALSE(parse_target_pattern(t, false)) << t;
  }
}

TEST(TargetPolicy, PrivateAddressesAreNotPublic) {
  using boost::asio::ip::make_address;
  for (const char* a : {"127.0.0.1", "10.1.2.3", "172.16.0.1", "172.31.255.255", "192.168.1.1",
                        "100.64.0.1", "169.254.1.1", "0.0.0.0", "224.0.0.1", "::1", "::", "fe80::1",
                        "fc00::1", "fd12::1", "ff02::1", "::ffff:10.0.0.1", "::ffff:127.0.0.1"}) {
    EXPECT_FALSE(public_address(make_address(a))) << a;
  }
  for (const char* a :
       {"8.8.8.8", "172.32.0.1", "100.128.0.1", "2001:4860:4860::8888", "::ffff:1.1.1.1"}) {
    EXPECT_TRUE(public_address(make_address(a))) << a;
  }
}

}  // namespace
}  // namespace switchboard::polling
