#include "server/config.hpp"

#include <charconv>

#include <toml++/toml.h>

#include "polling/target_policy.hpp"

namespace switchboard::server {
namespace {

using Error = std::optional<std::string>;

Error read_duration(const toml::table& table, std::string_view key, core::Duration& out) {
  const auto* node = table.get(key);
  if (node == nullptr) return std::nullopt;
  if (const auto* number = node->as_integer()) {
    out = std::chrono::seconds(number->get());
    return std::nullopt;
  }
  if (const auto* text = node->as_string()) {
    if (auto parsed = parse_duration(text->get())) {
      out = *parsed;
      return std::nullopt;
    }
  }
  return "'" + std::string(key) + "' must be a duration such as \"30s\" or \"250ms\"";
}

template <typename T>
Error read_integer(const toml::table& table, std::string_view key, T& out) {
  const auto* node = table.get(key);
  if (node == nullptr) return std::nullopt;
  const auto* number = node->as_integer();
  if (number == nullptr || number->get() < 0)
    return "'" + std::string(key) + "' must be a non-negative integer";
  out = static_cast<T>(number->get());
  return std::nullopt;
}

Error read_bool(const toml::table& table, std::string_view key, bool& out) {
  const auto* node = table.get(key);
  if (node == nullptr) return std::nullopt;
  const auto* value = node->as_boolean();
  if (value == nullptr) return "'" + std::string(key) + "' must be true or false";
  out = value->get();
  return std::nullopt;
}

Error read_string(const toml::table& table, std::string_view key, std::string& out) {
  const auto* node = table.get(key);
  if (node == nullptr) return std::nullopt;
  const auto* value = node->as_string();
  if (value == nullptr) return "'" + std::string(key) + "' must be a string";
  out = value->get();
  return std::nullopt;
}

Error read_strings(const toml::table& table, std::string_view key, std::vector<std::string>& out) {
  const auto* node = table.get(key);
  if (node == nullptr) return std::nullopt;
  const auto* array = node->as_array();
  if (array == nullptr) return "'" + std::string(key) + "' must be an array of strings";
  out.clear();
  for (const auto& item : *array) {
    const auto* value = item.as_string();
    if (value == nullptr) return "'" + std::string(key) + "' must be an array of strings";
    out.push_back(value->get());
  }
  return std::nullopt;
}

Error read_rules(const toml::table& table, std::string_view key, std::vector<auth::SasRule>& out) {
  const auto* node = table.get(key);
  if (node == nullptr) return std::nullopt;
  const auto* array = node->as_array();
  if (array == nullptr) return "'" + std::string(key) + "' must be an array of tables ([[...]])";
  for (const auto& item : *array) {
    const auto* rule_table = item.as_table();
    if (rule_table == nullptr) return "'" + std::string(key) + "' entries must be tables";
    auth::SasRule rule;
    std::vector<std::string> rights{"Listen", "Send", "Manage"};
    if (auto e = read_string(*rule_table, "name", rule.name)) return e;
    if (auto e = read_string(*rule_table, "key", rule.primary_key)) return e;
    if (auto e = read_string(*rule_table, "secondary_key", rule.secondary_key)) return e;
    if (auto e = read_strings(*rule_table, "rights", rights)) return e;
    if (rule.name.empty() || rule.primary_key.empty())
      return "a rule in '" + std::string(key) + "' needs name and key";
    for (const auto& right : rights) {
      if (right == "Listen")
        rule.rights |= auth::kListen;
      else if (right == "Send")
        rule.rights |= auth::kSend;
      else if (right == "Manage")
        rule.rights |= auth::kManage;
      else
        return "unknown right '" + right + "' (Listen, Send, Manage)";
    }
    out.push_back(std::move(rule));
  }
  return std::nullopt;
}

Error read_limits(const toml::table& t, core::Limits& l) {
  for (auto e :
       {read_integer(t, "max_header_bytes", l.max_header_bytes),
        read_duration(t, "handshake_timeout", l.handshake_timeout),
        read_integer(t, "max_pending_handshakes", l.max_pending_handshakes),
        read_integer(t, "max_pending_handshakes_per_source", l.max_pending_handshakes_per_source),
        read_integer(t, "failed_handshakes_before_delay", l.failed_handshakes_before_delay),
        read_duration(t, "failed_handshake_window", l.failed_handshake_window),
        read_duration(t, "failed_handshake_max_delay", l.failed_handshake_max_delay),
        read_integer(t, "relay_buffer_high_water", l.relay_buffer_high_water),
        read_integer(t, "relay_max_message", l.relay_max_message),
        read_integer(t, "control_max_message", l.control_max_message),
        read_integer(t, "control_buffer_high_water", l.control_buffer_high_water),
        read_duration(t, "ping_interval", l.ping_interval),
        read_integer(t, "ping_misses", l.ping_misses),
        read_duration(t, "close_timeout", l.close_timeout),
        read_duration(t, "keepalive_timeout", l.keepalive_timeout)}) {
    if (e) return e;
  }
  if (l.relay_buffer_high_water == 0) return "'relay_buffer_high_water' must be positive";
  if (l.ping_interval <= core::Duration::zero() || l.ping_misses == 0)
    return "'ping_interval' and 'ping_misses' must be positive";
  return std::nullopt;
}

Error read_hybrid(const toml::table& t, hybrid::Settings& h) {
  for (auto e :
       {read_strings(t, "hosts", h.hosts), read_bool(t, "strict_entities", h.strict_entities),
        read_duration(t, "token_grace", h.token_grace),
        read_duration(t, "accept_timeout", h.accept_timeout),
        read_duration(t, "response_timeout", h.response_timeout),
        read_duration(t, "body_idle_timeout", h.body_idle_timeout),
        read_duration(t, "inline_read_window", h.inline_read_window),
        read_duration(t, "tombstone_ttl", h.tombstone_ttl),
        read_integer(t, "max_pending_requests", h.max_pending_requests),
        read_integer(t, "max_listeners", h.max_listeners), read_rules(t, "rules", h.rules)}) {
    if (e) return e;
  }
  const auto* entities = t.get("entities");
  if (entities == nullptr) return std::nullopt;
  const auto* array = entities->as_array();
  if (array == nullptr) return "'entities' must be an array of tables ([[hybrid.entities]])";
  for (const auto& item : *array) {
    const auto* et = item.as_table();
    if (et == nullptr) return "'entities' entries must be tables";
    hybrid::EntityConfig entity;
    entity.max_listeners = h.max_listeners;
    for (auto e :
         {read_string(*et, "path", entity.path),
          read_bool(*et, "requires_client_authorization", entity.requires_client_authorization),
          read_bool(*et, "accept_websocket", entity.accept_websocket),
          read_bool(*et, "accept_http", entity.accept_http),
          read_integer(*et, "max_listeners", entity.max_listeners),
          read_rules(*et, "rules", entity.rules)}) {
      if (e) return "hybrid.entities: " + *e;
    }
    while (!entity.path.empty() && entity.path.front() == '/') entity.path.erase(0, 1);
    while (!entity.path.empty() && entity.path.back() == '/') entity.path.pop_back();
    if (entity.path.empty()) return "hybrid.entities: every entity needs a 'path'";
    h.entities.push_back(std::move(entity));
  }
  return std::nullopt;
}

Error read_localfirst(const toml::table& t, localfirst::Settings& l) {
  for (auto e : {read_bool(t, "enabled", l.enabled), read_string(t, "path_prefix", l.path_prefix),
                 read_strings(t, "allowed_origins", l.allowed_origins),
                 read_integer(t, "max_message", l.max_message),
                 read_integer(t, "max_documents_per_peer", l.max_documents_per_peer),
                 read_integer(t, "max_pipe_message", l.max_pipe_message),
                 read_integer(t, "held_buffer", l.held_buffer),
                 read_integer(t, "partner_high_water", l.partner_high_water),
                 read_integer(t, "max_held_per_peer", l.max_held_per_peer),
                 read_integer(t, "max_held", l.max_held),
                 read_duration(t, "tombstone_linger", l.tombstone_linger),
                 read_integer(t, "max_param_length", l.max_param_length),
                 read_duration(t, "close_timeout", l.close_timeout)}) {
    if (e) return e;
  }
  while (l.path_prefix.ends_with('/')) l.path_prefix.pop_back();
  if (!l.path_prefix.empty() && l.path_prefix.front() != '/') l.path_prefix.insert(0, "/");
  if (l.held_buffer == 0 || l.partner_high_water == 0)
    return "'held_buffer' and 'partner_high_water' must be positive";
  return std::nullopt;
}

Error read_webhook(const toml::table& t, bridge::WebhookSettings& w) {
  for (auto e : {read_string(t, "url", w.url), read_string(t, "secret", w.secret),
                 read_string(t, "ca_file", w.ca_file), read_duration(t, "timeout", w.timeout),
                 read_integer(t, "retries", w.retries),
                 read_integer(t, "max_response_body", w.max_response_body)}) {
    if (e) return "webhook: " + *e;
  }
  return std::nullopt;
}

Error read_bridge(const toml::table& t, bridge::Settings& b) {
  std::vector<std::string> api_keys, token_keys;
  for (auto e :
       {read_bool(t, "enabled", b.enabled), read_string(t, "node_id", b.node_id),
        read_strings(t, "api_keys", api_keys),
        read_string(t, "device_key_secret", b.device_key_secret),
        read_strings(t, "token_keys", token_keys),
        read_strings(t, "url_signing_keys", b.url_signing_keys),
        read_strings(t, "notifiers", b.notifiers),
        read_duration(t, "accept_timeout", b.accept_timeout),
        read_duration(t, "clock_skew", b.clock_skew),
        read_integer(t, "max_pending_per_device", b.max_pending_per_device),
        read_integer(t, "max_pending", b.max_pending),
        read_integer(t, "max_device_id", b.max_device_id),
        read_integer(t, "max_request_data", b.max_request_data),
        read_duration(t, "signed_url_default_ttl", b.signed_url_default_ttl),
        read_duration(t, "signed_url_max_ttl", b.signed_url_max_ttl),
        read_integer(t, "early_data", b.early_data), read_integer(t, "in_flight", b.in_flight),
        read_integer(t, "max_decline_reason", b.max_decline_reason)}) {
    if (e) return e;
  }
  for (const auto& key : api_keys) {
    if (auto e = add_bridge_api_key(b, key)) return e;
  }
  for (const auto& key : token_keys) {
    if (auto e = add_bridge_token_key(b, key)) return e;
  }
  if (const auto* devices = t.get("device_keys")) {
    const auto* table = devices->as_table();
    if (table == nullptr) return "'device_keys' must be a table of deviceId = \"key\"";
    for (const auto& [id, value] : *table) {
      const auto* key = value.as_string();
      if (key == nullptr || key->get().empty())
        return "'device_keys' values must be non-empty strings";
      b.device_keys[std::string(id.str())] = bridge::secret_digest(key->get());
    }
  }
  if (const auto* webhook = t.get_as<toml::table>("webhook")) {
    if (auto e = read_webhook(*webhook, b.webhook)) return e;
  }
  if (b.accept_timeout <= core::Duration::zero() || b.early_data == 0 || b.in_flight == 0)
    return "'accept_timeout', 'early_data' and 'in_flight' must be positive";
  return std::nullopt;
}

Error read_polling(const toml::table& t, polling::Settings& p) {
  for (auto e : {read_bool(t, "enabled", p.enabled),
                 read_bool(t, "s0_compat", p.s0_compat),
                 read_strings(t, "allowed_origins", p.allowed_origins),
                 read_strings(t, "allow", p.allow),
                 read_strings(t, "allow_private", p.allow_private),
                 read_string(t, "ca_file", p.ca_file),
                 read_duration(t, "connect_timeout", p.connect_timeout),
                 read_duration(t, "poll_timeout", p.poll_timeout),
                 read_duration(t, "poll_timeout_cap", p.poll_timeout_cap),
                 read_duration(t, "expiry", p.expiry),
                 read_duration(t, "close_wait", p.close_wait),
                 read_duration(t, "heartbeat", p.heartbeat),
                 read_integer(t, "stream_cap", p.stream_cap),
                 read_integer(t, "buffer", p.buffer),
                 read_integer(t, "max_message", p.max_message),
                 read_integer(t, "target_high_water", p.target_high_water),
                 read_integer(t, "max_body", p.max_body),
                 read_integer(t, "max_events", p.max_events),
                 read_integer(t, "batch", p.batch),
                 read_integer(t, "max_sockets_per_client", p.max_sockets_per_client),
                 read_integer(t, "max_sockets", p.max_sockets)}) {
    if (e) return e;
  }
  for (const auto* list : {&p.allow, &p.allow_private}) {
    for (const auto& pattern : *list) {
      if (!polling::parse_target_pattern(pattern, false))
        return "'" + pattern + "' is not a target pattern ws[s]://HOST[:PORT][/PATH]";
    }
  }
  if (p.buffer == 0 || p.max_message == 0 || p.target_high_water == 0 || p.batch == 0)
    return "'buffer', 'max_message', 'target_high_water' and 'batch' must be positive";
  return std::nullopt;
}

Error read_client(const toml::table& t, ClientSettings& c) {
  for (auto e : {read_string(t, "endpoint", c.endpoint), read_string(t, "key_name", c.key_name),
                 read_string(t, "key", c.key), read_string(t, "token", c.token),
                 read_duration(t, "token_ttl", c.token_ttl), read_string(t, "ca_file", c.ca_file),
                 read_strings(t, "local", c.local), read_strings(t, "remote", c.remote),
                 read_strings(t, "http", c.http)}) {
    if (e) return e;
  }
  if (c.token_ttl < std::chrono::seconds(1)) return "'token_ttl' must be at least 1s";
  return std::nullopt;
}

Error read_table(const toml::table& root, Config& c) {
  for (auto e :
       {read_string(root, "listen", c.listen), read_string(root, "public_url", c.public_url),
        read_strings(root, "sas_keys", c.sas_keys), read_string(root, "log_level", c.log_level),
        read_string(root, "log_format", c.log_format), read_integer(root, "threads", c.threads),
        read_duration(root, "shutdown_grace", c.shutdown_grace)}) {
    if (e) return e;
  }
  if (const auto* limits = root.get_as<toml::table>("limits")) {
    if (auto e = read_limits(*limits, c.limits)) return "[limits] " + *e;
  }
  if (const auto* hybrid = root.get_as<toml::table>("hybrid")) {
    if (auto e = read_hybrid(*hybrid, c.hybrid)) return "[hybrid] " + *e;
  }
  if (const auto* localfirst = root.get_as<toml::table>("localfirst")) {
    if (auto e = read_localfirst(*localfirst, c.localfirst)) return "[localfirst] " + *e;
  }
  if (const auto* bridge = root.get_as<toml::table>("bridge")) {
    if (auto e = read_bridge(*bridge, c.bridge)) return "[bridge] " + *e;
  }
  if (const auto* polling = root.get_as<toml::table>("polling")) {
    if (auto e = read_polling(*polling, c.polling)) return "[polling] " + *e;
  }
  if (const auto* client = root.get_as<toml::table>("client")) {
    if (auto e = read_client(*client, c.client)) return "[client] " + *e;
  }
  return std::nullopt;
}

}  // namespace

std::optional<core::Duration> parse_duration(std::string_view text) {
  double value = 0;
  const auto* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (ec != std::errc{} || value < 0) return std::nullopt;
  const std::string_view unit(ptr, static_cast<std::size_t>(end - ptr));
  double ms = 0;
  if (unit == "ms")
    ms = value;
  else if (unit == "s" || unit.empty())
    ms = value * 1000;
  else if (unit == "m")
    ms = value * 60'000;
  else if (unit == "h")
    ms = value * 3'600'000;
  else
    return std::nullopt;
  return core::Duration(static_cast<core::Duration::rep>(ms));
}

std::optional<std::string> load_toml_text(std::string_view text, Config& config) {
  toml::table root;
  try {
    root = toml::parse(text);
  } catch (const toml::parse_error& error) {
    return std::string(error.description()) + " (line " +
           std::to_string(error.source().begin.line) + ")";
  }
  return read_table(root, config);
}

std::optional<std::string> load_toml_file(const std::string& path, Config& config) {
  toml::table root;
  try {
    root = toml::parse_file(path);
  } catch (const toml::parse_error& error) {
    return path + ": " + std::string(error.description()) + " (line " +
           std::to_string(error.source().begin.line) + ")";
  }
  if (auto e = read_table(root, config)) return path + ": " + *e;
  return std::nullopt;
}

std::optional<std::string> add_bridge_api_key(bridge::Settings& bridge, std::string_view key) {
  if (key.empty()) return "a bridge API key cannot be empty";
  bridge.api_keys.push_back(bridge::secret_digest(key));
  return std::nullopt;
}

std::optional<std::string> add_bridge_token_key(bridge::Settings& bridge, std::string_view key) {
  auto parsed = bridge::parse_token_key(key);
  if (!parsed) return "a bridge token key must be ID:KEY, ID 0-255, KEY 32 bytes (base64 or hex)";
  bridge.token_keys.push_back(*parsed);
  return std::nullopt;
}

std::optional<std::string> apply_sas_keys(Config& config) {
  for (const auto& entry : config.sas_keys) {
    const auto eq = entry.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == entry.size()) {
      return "--sas-key expects NAME=KEY, got '" + entry + "'";
    }
    config.hybrid.rules.push_back({entry.substr(0, eq), entry.substr(eq + 1), "",
                                   auth::kListen | auth::kSend | auth::kManage});
  }
  return std::nullopt;
}

bool split_host_port(std::string_view text, std::string& host, unsigned short& port) {
  const auto colon = text.rfind(':');
  if (colon == std::string_view::npos) return false;
  std::string_view h = text.substr(0, colon);
  if (h.size() >= 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
  const auto p = text.substr(colon + 1);
  unsigned value = 0;
  if (h.empty() || std::from_chars(p.data(), p.data() + p.size(), value).ec != std::errc{} ||
      value > 65535) {
    return false;
  }
  host = std::string(h);
  port = static_cast<unsigned short>(value);
  return true;
}

}  // namespace switchboard::server
