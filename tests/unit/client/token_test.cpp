#include "switchboard/client/token.hpp"

#include <gtest/gtest.h>

#include "switchboard/client/listener.hpp"

namespace sc = switchboard::client;

namespace {

// Section 2.9 of the Hybrid Connections document: the sr that createRelayToken derives.
TEST(TokenAudience, FollowsCreateRelayToken) {
  const std::pair<const char*, const char*> cases[] = {
      {"http://contoso.servicebus.windows.net/hc1", "http://contoso.servicebus.windows.net/hc1"},
      {"http://contoso.servicebus.windows.net", "http://contoso.servicebus.windows.net/"},
      {"wss://contoso.servicebus.windows.net:443/$hc/hc1?sb-hc-action=listen",
       "http://contoso.servicebus.windows.net:443/hc1"},
      {"https://contoso.servicebus.windows.net/hc1", "http://contoso.servicebus.windows.net/hc1"},
      {"wss://contoso.servicebus.windows.net/$hc/hc1/sub/path?x=1#frag",
       "http://contoso.servicebus.windows.net/hc1/sub/path"},
      {"ws://127.0.0.1:9080/$hc/hc1?sb-hc-action=listen", "http://127.0.0.1:9080/hc1"},
      {"ws://127.0.0.1:9080/$hc/hc1/suffix?foo=bar&sb-hc-action=connect",
       "http://127.0.0.1:9080/hc1/suffix"},
  };
  for (const auto& [uri, sr] : cases) EXPECT_EQ(sc::token_audience(uri), sr) << uri;
}

// Vector V1: the worked example of section 2.9.
TEST(CreateRelayToken, MatchesTheWorkedExample) {
  EXPECT_EQ(sc::create_relay_token_until("http://contoso.servicebus.windows.net/hc1",
                                         "RootManageSharedAccessKey", "testkey", 1700000000),
            "SharedAccessSignature sr=http%3A%2F%2Fcontoso.servicebus.windows.net%2Fhc1&sig="
            "6ud3sRj2CEXAFre2Va3p8b0eGxyQ7MwR%2FSBSgagWO%2Bg%3D&se=1700000000&skn="
            "RootManageSharedAccessKey");
  EXPECT_EQ(sc::token_expiry(sc::create_relay_token_until("wss://h/$hc/x", "k", "v", 42)), 42);
  EXPECT_EQ(sc::token_expiry("not a token"), 0);
}

TEST(Uris, BuildListenSendAndHttpAddresses) {
  EXPECT_EQ(sc::listen_uri("contoso.servicebus.windows.net", "hc1"),
            "wss://contoso.servicebus.windows.net/$hc/hc1?sb-hc-action=listen");
  EXPECT_EQ(sc::listen_uri("ws://127.0.0.1:8080/", "/a/b", {}, "id-1"),
            "ws://127.0.0.1:8080/$hc/a/b?sb-hc-action=listen&sb-hc-id=id-1");
  EXPECT_EQ(sc::send_uri("https://relay.example.com", "hc1", "SharedAccessSignature sr=x&se=1"),
            "wss://relay.example.com/$hc/hc1?sb-hc-action=connect&sb-hc-token="
            "SharedAccessSignature%20sr%3Dx%26se%3D1");
  EXPECT_EQ(sc::http_uri("ws://127.0.0.1:8080", "hc1/x"), "http://127.0.0.1:8080/hc1/x");
  EXPECT_EQ(sc::http_uri("relay.example.com", "hc1"), "https://relay.example.com/hc1");
  EXPECT_EQ(sc::append_relay_token("ws://h/$hc/e?a=1", "t&u"),
            "ws://h/$hc/e?a=1&sb-hc-token=t%26u");
  EXPECT_EQ(sc::append_relay_token("ws://h/$hc/e", "t"), "ws://h/$hc/e?sb-hc-token=t");
}

// What the listener tells the application about a sender comes from the accept address.
TEST(AcceptRequest, PathAndQueryComeFromTheAddressWithoutSbHcParameters) {
  sc::AcceptRequest request(nullptr, "id_1",
                            "ws://h:1/$hc/hc1/orders/42?region=eu&&sb-hc-action=accept&x&"
                            "sb-hc-id=id_1",
                            {{"Sec-WebSocket-Protocol", "chat.v2, chat.v1 ,,x"}}, "203.0.113.7",
                            37332);
  EXPECT_EQ(request.path(), "hc1/orders/42");
  EXPECT_EQ(request.query(), "region=eu&&x");
  EXPECT_EQ(request.subprotocols(), (std::vector<std::string>{"chat.v2", "chat.v1", "x"}));
  EXPECT_EQ(request.remote_port(), 37332);
}

}  // namespace
