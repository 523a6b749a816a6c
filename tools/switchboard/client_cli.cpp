#include "tools/switchboard/client_cli.hpp"

#include <iostream>

#include "switchboard/client/token.hpp"

namespace switchboard::tools {

void ClientCli::add_options(CLI::App& app) {
  app.add_option("--config", config_file,
                 "TOML configuration file, the one 'serve' reads; its [client] table holds these "
                 "options (docs/configuration.md)");
  app.add_option("--endpoint", endpoint,
                 "The relay: ws[s]://HOST[:PORT] or http[s]://HOST[:PORT] (TOML client.endpoint; "
                 "default: the file's 'listen' address over ws://)");
  app.add_option("--key-name", key_name,
                 "SAS rule name (TOML client.key_name; default: the first of the file's sas_keys)");
  app.add_option("--key", key, "SAS key text (TOML client.key)");
  app.add_option("--token", token, "A ready-made SAS token instead of a key (TOML client.token)");
  app.add_option("--ttl", ttl,
                 "Lifetime of the tokens made from the key, e.g. 1h (TOML client.token_ttl; "
                 "default 1h); listeners renew theirs before they expire");
  app.add_option("--ca-file", ca_file,
                 "wss: trust the certificates in this PEM file (TOML client.ca_file; default: the "
                 "system's)");
  app.add_flag("--insecure", insecure, "wss: do not verify the relay's certificate");
}

std::optional<std::string> ClientCli::resolve() {
  server::Config config;
  if (!config_file.empty()) {
    if (auto error = server::load_toml_file(config_file, config)) return *error;
  }
  settings = config.client;
  if (settings.endpoint.empty() && !config_file.empty())
    settings.endpoint = "ws://" + config.listen;
  if (settings.key_name.empty() && settings.key.empty() && !config.sas_keys.empty()) {
    const auto& first = config.sas_keys.front();
    const auto eq = first.find('=');
    if (eq != std::string::npos) {
      settings.key_name = first.substr(0, eq);
      settings.key = first.substr(eq + 1);
    }
  }
  if (!endpoint.empty()) settings.endpoint = endpoint;
  if (!key_name.empty()) settings.key_name = key_name;
  if (!key.empty()) settings.key = key;
  if (!token.empty()) settings.token = token;
  if (!ca_file.empty()) settings.ca_file = ca_file;
  if (!ttl.empty()) {
    auto parsed = server::parse_duration(ttl);
    if (!parsed || *parsed < std::chrono::seconds(1)) return "--ttl expects a duration such as 1h";
    settings.token_ttl = *parsed;
  }
  if (!settings.key.empty() && settings.key_name.empty()) return "--key needs --key-name";
  if (!settings.key_name.empty() && settings.key.empty() && settings.token.empty()) {
    return "--key-name needs --key";
  }
  return std::nullopt;
}

std::optional<std::string> ClientCli::websocket_url(std::string_view target) const {
  if (target.find("://") != std::string_view::npos) return std::string(target);
  if (settings.endpoint.empty()) return std::nullopt;
  std::string url = client::listen_uri(settings.endpoint, target);
  url.resize(url.find('?'));
  return url;
}

std::string ClientCli::http_url(std::string_view entity) const {
  return client::http_uri(settings.endpoint, entity);
}

std::string ClientCli::token_for(std::string_view uri) const {
  if (!settings.token.empty()) return settings.token;
  if (settings.key.empty()) return {};
  return client::create_relay_token(
      uri, settings.key_name, settings.key,
      std::chrono::duration_cast<std::chrono::seconds>(settings.token_ttl));
}

client::TokenProvider ClientCli::token_provider() const {
  return [self = *this](std::string_view audience) { return self.token_for(audience); };
}

client::ConnectOptions ClientCli::connect_options() const {
  client::ConnectOptions options;
  options.ca_file = settings.ca_file;
  options.verify_peer = !insecure;
  return options;
}

client::SenderOptions ClientCli::sender_options(std::string_view uri) const {
  client::SenderOptions options;
  options.token = token_for(uri);
  options.connect = connect_options();
  return options;
}

void ClientCli::say(std::string_view line) const {
  std::cerr << "switchboard " << command << ": " << line << std::endl;
}

void ClientCli::report_state(std::string_view what, client::ListenerState state,
                             const client::Error& cause, std::chrono::seconds retry_in) const {
  using client::ListenerState;
  switch (state) {
    case ListenerState::kConnecting:
      return say(std::string(what) + ": connecting");
    case ListenerState::kConnected:
      return say(std::string(what) + ": connected");
    case ListenerState::kReconnecting:
      return say(std::string(what) + ": " + cause.message() + "; reconnecting in " +
                 std::to_string(retry_in.count()) + " s");
    case ListenerState::kStopped:
      return say(std::string(what) + ": stopped");
  }
}

}  // namespace switchboard::tools
