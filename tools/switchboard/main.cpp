// switchboard: the relay server's command line.
#include <cstdlib>
#include <iostream>
#include <tuple>

#include <CLI/CLI.hpp>

#include "auth/bridge_token.hpp"
#include "polling/target_policy.hpp"
#include "server/config.hpp"
#include "server/server.hpp"
#include "tools/switchboard/client_commands.hpp"

namespace {

using switchboard::server::Config;

void apply_environment(Config& config, bool listen_given) {
  if (listen_given) return;
  const char* host = std::getenv("HOST");
  const char* port = std::getenv("PORT");
  if (host == nullptr && port == nullptr) return;
  std::string h;
  unsigned short p = 0;
  switchboard::server::split_host_port(config.listen, h, p);
  config.listen =
      std::string(host ? host : h) + ":" + (port ? std::string(port) : std::to_string(p));
}

}  // namespace

namespace {
int run(int argc, char** argv) {
  CLI::App app{"Switchboard: a self-hosted relay (Azure Relay Hybrid Connections compatible)"};
  app.require_subcommand(1);
  auto* serve = app.add_subcommand("serve", "Run the relay server");

  Config defaults;
  std::string config_file, listen, public_url, log_level, log_format, shutdown_grace;
  std::vector<std::string> sas_keys;
  unsigned threads = 0;
  serve->add_option("--config", config_file, "TOML configuration file (docs/configuration.md)");
  serve->add_option("--listen", listen,
                    "HOST:PORT to serve on (TOML 'listen'; default " + defaults.listen +
                        "; HOST and PORT environment variables apply when this option is absent)");
  serve->add_option(
      "--public-url", public_url,
      "Scheme and authority used in rendezvous addresses, e.g. https://relay.example.com "
      "(TOML 'public_url'; default: the listener's own Host header)");
  serve->add_option(
      "--sas-key", sas_keys,
      "NAME=KEY: a namespace-wide SAS rule with Listen, Send and Manage rights; repeatable "
      "(TOML 'sas_keys'; default: a random key for RootManageSharedAccessKey, printed at start)");
  serve->add_option("--log-level", log_level,
                    "trace, debug, info, warn, error, off (TOML 'log_level'; default info)");
  serve->add_option("--log-format", log_format, "text or json (TOML 'log_format'; default text)");
  serve->add_option("--threads", threads,
                    "Worker threads, 0 = one per core (TOML 'threads'; default 0)");
  serve->add_option("--shutdown-grace", shutdown_grace,
                    "How long relayed connections may drain on SIGINT/SIGTERM (TOML "
                    "'shutdown_grace'; default 10s)");
  std::vector<std::string> bridge_api_keys, bridge_token_keys;
  std::string bridge_device_secret, bridge_accept_timeout, webhook_url, webhook_secret,
      webhook_timeout;
  unsigned webhook_retries = 0;
  serve->add_option("--bridge-api-key", bridge_api_keys,
                    "A requester API key for /bridge/connect and /bridge/getSignedUrl (X-Api-Key); "
                    "repeatable; 'sha256:HEX' gives a digest (TOML bridge.api_keys)");
  serve->add_option("--bridge-device-key-secret", bridge_device_secret,
                    "Secret (>= 32 bytes) from which device keys are derived (TOML "
                    "bridge.device_key_secret)");
  serve->add_option("--bridge-token-key", bridge_token_keys,
                    "ID:KEY, an AES-256 key for bridge tokens (32 bytes, base64 or hex); the "
                    "first seals, all open; repeatable (TOML bridge.token_keys; default: random)");
  serve->add_option("--bridge-accept-timeout", bridge_accept_timeout,
                    "How long a requester waits for the device (TOML bridge.accept_timeout; "
                    "default 30s)");
  serve->add_option(
      "--bridge-webhook-url", webhook_url,
      "http[s]://HOST[:PORT]/PATH notified of bridge requests; {deviceId} is replaced "
      "(TOML bridge.webhook.url)");
  serve->add_option(
      "--bridge-webhook-secret", webhook_secret,
      "Secret (>= 32 bytes) that signs webhook requests (TOML bridge.webhook.secret)");
  serve->add_option("--bridge-webhook-timeout", webhook_timeout,
                    "Webhook answer deadline (TOML bridge.webhook.timeout; default 5s)");
  serve->add_option("--bridge-webhook-retries", webhook_retries,
                    "Webhook retries within the accept wait (TOML bridge.webhook.retries; "
                    "default 0)");
  std::vector<std::string> polling_allow, polling_allow_private;
  serve->add_option("--polling-allow", polling_allow,
                    "ws[s]://HOST[:PORT][/PATH]: an external target the HTTP fallback may open "
                    "(public addresses only); repeatable (TOML polling.allow)");
  serve->add_option("--polling-allow-private", polling_allow_private,
                    "The same, private and loopback addresses allowed too (TOML "
                    "polling.allow_private)");
  serve->footer(
      "Limits, timeouts, Hybrid Connections entities and rules: TOML only, see "
      "docs/configuration.md.");

  auto* device_key = app.add_subcommand(
      "device-key", "Print a bridge device's key, derived from the device key secret");
  std::string device_id, device_secret;
  device_key->add_option("DEVICE_ID", device_id, "The device's id")->required();
  device_key
      ->add_option("--secret", device_secret,
                   "The server's bridge device key secret (--bridge-device-key-secret)")
      ->required();

  auto client_commands = switchboard::tools::add_stdio_commands(app);
  client_commands.push_back(switchboard::tools::add_forward_command(app));

  CLI11_PARSE(app, argc, argv);
  for (const auto& command : client_commands) {
    if (*command.app) return command.run();
  }
  if (*device_key) {
    std::cout << switchboard::auth::derive_device_key(device_secret, device_id) << "\n";
    return 0;
  }

  Config config;
  if (!config_file.empty()) {
    if (auto error = switchboard::server::load_toml_file(config_file, config)) {
      std::cerr << "switchboard: " << *error << "\n";
      return 2;
    }
  }
  if (!listen.empty()) config.listen = listen;
  apply_environment(config, !listen.empty() || serve->count("--listen") > 0);
  if (!public_url.empty()) config.public_url = public_url;
  if (!sas_keys.empty()) config.sas_keys = sas_keys;
  if (!log_level.empty()) config.log_level = log_level;
  if (!log_format.empty()) config.log_format = log_format;
  if (serve->count("--threads") > 0) config.threads = threads;
  if (!shutdown_grace.empty()) {
    auto parsed = switchboard::server::parse_duration(shutdown_grace);
    if (!parsed) {
      std::cerr << "switchboard: --shutdown-grace expects a duration such as 10s\n";
      return 2;
    }
    config.shutdown_grace = *parsed;
  }
  auto& bridge = config.bridge;
  if (!bridge_api_keys.empty()) bridge.api_keys.clear();
  for (const auto& key : bridge_api_keys) {
    if (auto error = switchboard::server::add_bridge_api_key(bridge, key)) {
      std::cerr << "switchboard: --bridge-api-key: " << *error << "\n";
      return 2;
    }
  }
  if (!bridge_token_keys.empty()) bridge.token_keys.clear();
  for (const auto& key : bridge_token_keys) {
    if (auto error = switchboard::server::add_bridge_token_key(bridge, key)) {
      std::cerr << "switchboard: --bridge-token-key: " << *error << "\n";
      return 2;
    }
  }
  if (!bridge_device_secret.empty()) bridge.device_key_secret = bridge_device_secret;
  if (!webhook_url.empty()) bridge.webhook.url = webhook_url;
  if (!webhook_secret.empty()) bridge.webhook.secret = webhook_secret;
  if (serve->count("--bridge-webhook-retries") > 0) bridge.webhook.retries = webhook_retries;
  for (auto [text, target, name] :
       {std::tuple{&bridge_accept_timeout, &bridge.accept_timeout, "--bridge-accept-timeout"},
        std::tuple{&webhook_timeout, &bridge.webhook.timeout, "--bridge-webhook-timeout"}}) {
    if (text->empty()) continue;
    auto parsed = switchboard::server::parse_duration(*text);
    if (!parsed || parsed->count() <= 0) {
      std::cerr << "switchboard: " << name << " expects a duration such as 30s\n";
      return 2;
    }
    *target = *parsed;
  }
  config.hybrid.public_url = config.public_url;
  bridge.public_url = config.public_url;
  config.polling.public_url = config.public_url;
  for (auto [given, target] : {std::pair{&polling_allow, &config.polling.allow},
                               std::pair{&polling_allow_private, &config.polling.allow_private}}) {
    for (const auto& pattern : *given) {
      if (!switchboard::polling::parse_target_pattern(pattern, false)) {
        std::cerr << "switchboard: '" << pattern
                  << "' is not a target pattern ws[s]://HOST[:PORT][/PATH]\n";
        return 2;
      }
      target->push_back(pattern);
    }
  }
  if (auto error = switchboard::server::apply_sas_keys(config)) {
    std::cerr << "switchboard: " << *error << "\n";
    return 2;
  }
  if (!switchboard::server::configure_logging(config.log_level, config.log_format)) {
    std::cerr << "switchboard: unknown log level or format ('" << config.log_level << "', '"
              << config.log_format << "')\n";
    return 2;
  }
  return switchboard::server::serve(std::move(config));
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& error) {
    std::cerr << "switchboard: fatal: " << error.what() << "\n";
    return 1;
  }
}
