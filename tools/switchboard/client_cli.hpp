// What the client subcommands (token, listen, connect, forward) share: where the relay is, how to
// sign tokens, TLS trust, and one status line per state change on stderr.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include <CLI/CLI.hpp>

#include "server/config.hpp"
#include "switchboard/client/listener.hpp"
#include "switchboard/client/sender.hpp"

namespace switchboard::tools {

struct ClientCli {
  std::string command;  // for messages: "listen", "forward", …
  std::string config_file;
  std::string endpoint, key_name, key, token, ttl, ca_file;
  bool insecure = false;
  server::ClientSettings settings;  // after resolve(): the TOML [client] table with options on top

  // Adds --config, --endpoint, --key-name, --key, --token, --ttl, --ca-file, --insecure.
  void add_options(CLI::App& app);
  // Loads the TOML file and applies the options; a message when something is wrong.
  std::optional<std::string> resolve();

  // A full URL for `target`: a ws(s)/http(s) URL as given, or an entity path under the endpoint.
  std::optional<std::string> websocket_url(std::string_view target) const;
  std::string http_url(std::string_view entity) const;
  // A fresh token for `uri` (empty when there are no credentials: anonymous).
  std::string token_for(std::string_view uri) const;
  client::TokenProvider token_provider() const;
  client::ConnectOptions connect_options() const;
  client::SenderOptions sender_options(std::string_view uri) const;

  // "switchboard listen: connected" on stderr.
  void say(std::string_view line) const;
  // Reports listener state changes as such lines.
  void report_state(std::string_view what, client::ListenerState state, const client::Error& cause,
                    std::chrono::seconds retry_in) const;
};

}  // namespace switchboard::tools
