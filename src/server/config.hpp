// The server's settings: embedded defaults, then the TOML file, then the command line.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "bridge/settings.hpp"
#include "core/limits.hpp"
#include "hybrid/settings.hpp"
#include "localfirst/settings.hpp"
#include "polling/settings.hpp"

namespace switchboard::server {

// The client subcommands (token, listen, connect, forward): where the relay is and how to sign.
struct ClientSettings {
  std::string endpoint;  // ws[s]://HOST[:PORT] or http[s]://…; default: this file's `listen`
  std::string key_name;  // default: the first of `sas_keys`
  std::string key;
  std::string token;     // a fixed token instead of a key
  core::Duration token_ttl = std::chrono::hours(1);
  std::string ca_file;
  std::vector<std::string> local;   // -L bindings
  std::vector<std::string> remote;  // -T bindings
  std::vector<std::string> http;    // -H bindings
};

struct Config {
  std::string listen = "127.0.0.1:8080";
  std::string public_url;
  std::vector<std::string> sas_keys;  // "NAME=KEY", namespace-wide with all rights
  std::string log_level = "info";
  std::string log_format = "text";
  unsigned threads = 0;  // 0 = number of cores
  core::Duration shutdown_grace = std::chrono::seconds(10);
  core::Limits limits;
  hybrid::Settings hybrid;
  localfirst::Settings localfirst;
  bridge::Settings bridge;
  polling::Settings polling;
  ClientSettings client;
};

// "250ms", "30s", "5m", "1h", or a bare number of seconds.
std::optional<core::Duration> parse_duration(std::string_view text);

// Reads a TOML file into `config`; on failure returns a message naming the file and the key.
std::optional<std::string> load_toml_file(const std::string& path, Config& config);
std::optional<std::string> load_toml_text(std::string_view text, Config& config);

// Adds bridge API keys, token keys and device keys given as text (CLI or TOML); an error message
// for one that does not parse.
std::optional<std::string> add_bridge_api_key(bridge::Settings& bridge, std::string_view key);
std::optional<std::string> add_bridge_token_key(bridge::Settings& bridge, std::string_view key);

// Turns sas_keys into rules; returns an error for an entry without '='.
std::optional<std::string> apply_sas_keys(Config& config);

// Splits "HOST:PORT" ("[::1]:80" for IPv6).
bool split_host_port(std::string_view text, std::string& host, unsigned short& port);

}  // namespace switchboard::server
