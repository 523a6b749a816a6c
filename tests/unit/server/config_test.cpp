#include "server/config.hpp"

#include <gtest/gtest.h>

namespace switchboard::server {
namespace {

using namespace std::chrono_literals;

TEST(Config, ParsesDurations) {
  EXPECT_EQ(parse_duration("250ms"), core::Duration(250));
  EXPECT_EQ(parse_duration("30s"), core::Duration(30'000));
  EXPECT_EQ(parse_duration("1.5s"), core::Duration(1'500));
  EXPECT_EQ(parse_duration("5m"), core::Duration(300'000));
  EXPECT_EQ(parse_duration("1h"), core::Duration(3'600'000));
  EXPECT_EQ(parse_duration("7"), core::Duration(7'000));
  EXPECT_FALSE(parse_duration("10 parsecs"));
  EXPECT_FALSE(parse_duration("-1s"));
  EXPECT_FALSE(parse_duration(""));
}

TEST(Config, ReadsEveryTable) {
  Config config;
  const auto error = load_toml_text(R"(
listen = "0.0.0.0:9080"
public_url = "https://relay.example.com"
sas_keys = ["A=keyA"]
threads = 3
shutdown_grace = "2s"
[limits]
max_header_bytes = 4096
relay_buffer_high_water = 65536
ping_interval = "5s"
ping_misses = 2
[hybrid]
strict_entities = true
token_grace = 1
accept_timeout = "3s"
hosts = ["contoso.example"]
[[hybrid.rules]]
name = "listen-only"
key = "k"
rights = ["Listen"]
[[hybrid.entities]]
path = "/orders/"
requires_client_authorization = false
accept_http = false
max_listeners = 2
[[hybrid.entities.rules]]
name = "orders-send"
key = "s"
rights = ["Send"]
)",
                                    config);
  ASSERT_FALSE(error) << *error;
  EXPECT_EQ(config.listen, "0.0.0.0:9080");
  EXPECT_EQ(config.threads, 3u);
  EXPECT_EQ(config.shutdown_grace, 2s);
  EXPECT_EQ(config.limits.max_header_bytes, 4096u);
  EXPECT_EQ(config.limits.relay_buffer_high_water, 65536u);
  EXPECT_EQ(config.limits.ping_interval, 5s);
  EXPECT_EQ(config.limits.ping_misses, 2u);
  EXPECT_TRUE(config.hybrid.strict_entities);
  EXPECT_EQ(config.hybrid.token_grace, 1s);
  EXPECT_EQ(config.hybrid.accept_timeout, 3s);
  ASSERT_EQ(config.hybrid.rules.size(), 1u);
  EXPECT_EQ(config.hybrid.rules[0].rights, auth::kListen);
  ASSERT_EQ(config.hybrid.entities.size(), 1u);
  const auto& entity = config.hybrid.entities[0];
  EXPECT_EQ(entity.path, "orders");  // slashes trimmed
  EXPECT_FALSE(entity.requires_client_authorization);
  EXPECT_TRUE(entity.accept_websocket);
  EXPECT_FALSE(entity.accept_http);
  EXPECT_EQ(entity.max_listeners, 2u);
  ASSERT_EQ(entity.rules.size(), 1u);
  EXPECT_EQ(entity.rules[0].rights, auth::kSend);
  ASSERT_FALSE(apply_sas_keys(config));
  ASSERT_EQ(config.hybrid.rules.size(), 2u);
  EXPECT_EQ(config.hybrid.rules[1].name, "A");
  EXPECT_EQ(config.hybrid.rules[1].primary_key, "keyA");
}

TEST(Config, ReadsTheLocalfirstTable) {
  Config config;
  const auto error = load_toml_text(R"(
[localfirst]
enabled = false
path_prefix = "relay/"
allowed_origins = ["https://app.example"]
max_message = 1000
max_documents_per_peer = 8
max_pipe_message = 0
held_buffer = 2000
partner_high_water = 3000
max_held_per_peer = 4
max_held = 5
tombstone_linger = "250ms"
max_param_length = 6
close_timeout = "7s"
)",
                                    config);
  ASSERT_FALSE(error) << *error;
  const auto& l = config.localfirst;
  EXPECT_FALSE(l.enabled);
  EXPECT_EQ(l.path_prefix, "/relay");  // one leading slash, no trailing one
  EXPECT_EQ(l.allowed_origins, std::vector<std::string>{"https://app.example"});
  EXPECT_EQ(l.max_message, 1000u);
  EXPECT_EQ(l.max_documents_per_peer, 8u);
  EXPECT_EQ(l.max_pipe_message, 0u);
  EXPECT_EQ(l.held_buffer, 2000u);
  EXPECT_EQ(l.partner_high_water, 3000u);
  EXPECT_EQ(l.max_held_per_peer, 4u);
  EXPECT_EQ(l.max_held, 5u);
  EXPECT_EQ(l.tombstone_linger, 250ms);
  EXPECT_EQ(l.max_param_length, 6u);
  EXPECT_EQ(l.close_timeout, 7s);
  Config bad;
  const auto zero = load_toml_text("[localfirst]\nheld_buffer = 0\n", bad);
  ASSERT_TRUE(zero);
  EXPECT_NE(zero->find("[localfirst]"), std::string::npos);
}

TEST(Config, NamesTheOffendingKey) {
  Config config;
  auto error = load_toml_text("[limits]\nping_interval = \"soon\"\n", config);
  ASSERT_TRUE(error);
  EXPECT_NE(error->find("ping_interval"), std::string::npos);
  error = load_toml_text("[[hybrid.rules]]\nname = \"x\"\nkey = \"y\"\nrights = [\"Everything\"]\n",
                         config);
  ASSERT_TRUE(error);
  EXPECT_NE(error->find("Everything"), std::string::npos);
  error = load_toml_text("listen = [", config);
  EXPECT_TRUE(error);
  Config keys;
  keys.sas_keys = {"no-equals-sign"};
  EXPECT_TRUE(apply_sas_keys(keys));
}

TEST(Config, SplitsHostAndPort) {
  std::string host;
  unsigned short port = 0;
  ASSERT_TRUE(split_host_port("127.0.0.1:8080", host, port));
  EXPECT_EQ(host, "127.0.0.1");
  EXPECT_EQ(port, 8080);
  ASSERT_TRUE(split_host_port("[::1]:0", host, port));
  EXPECT_EQ(host, "::1");
  EXPECT_EQ(port, 0);
  EXPECT_FALSE(split_host_port("8080", host, port));
  EXPECT_FALSE(split_host_port("host:99999", host, port));
}

}  // namespace
}  // namespace switchboard::server
