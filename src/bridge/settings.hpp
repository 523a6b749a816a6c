// Bridge settings (protocol sections 5.2, 7 and 11; docs/configuration.md, [bridge]).
#pragma once

#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "auth/bridge_token.hpp"
#include "auth/digest.hpp"
#include "core/limits.hpp"

namespace switchboard::bridge {

using core::Duration;
using namespace std::chrono_literals;

struct WebhookSettings {
  std::string url;  // "" = no webhook notifier; "{deviceId}" is replaced by the encoded id
  std::string secret;
  std::string ca_file;  // PEM CAs trusted for https instead of the system's
  Duration timeout = 5s;
  unsigned retries = 0;
  std::size_t max_response_body = std::size_t{64} * 1024;
};

struct Settings {
  bool enabled = true;
  std::string node_id = "local";       // this node's membership id, named in every token it seals
  std::string public_url;              // scheme and authority; "" = the request's Host
  std::vector<auth::Digest> api_keys;  // SHA-256 of each requester API key
  std::map<std::string, auth::Digest> device_keys;  // deviceId -> SHA-256 of its key
  std::string device_key_secret;                    // derived device keys; "" = table only
  std::vector<auth::SealingKey> token_keys;         // the first seals; empty = random at start-up
  std::vector<std::string> url_signing_keys;        // the first signs; empty = random at start-up
  std::vector<std::string> notifiers{"channel", "webhook"};
  WebhookSettings webhook;
  Duration accept_timeout = 30s;  // the accept wait, and the token lifetime
  Duration clock_skew = 5s;
  std::size_t max_pending_per_device = 16;
  std::size_t max_pending = 10000;
  std::size_t max_device_id = 256;
  std::size_t max_request_data = std::size_t{8} * 1024;
  Duration signed_url_default_ttl = 15min;
  Duration signed_url_max_ttl = 24h;
  std::size_t early_data = std::size_t{64} * 1024;  // requester bytes read while waiting
  std::size_t in_flight = std::size_t{256} * 1024;  // per direction of an active bridge
  std::size_t max_decline_reason = 100;
};

// "sha256:<64 hex>" is a digest as configured; any other text is the secret itself, hashed here.
auth::Digest secret_digest(std::string_view configured);
// "ID:KEY" with ID 0-255 and KEY 32 bytes as base64, base64url or 64 hex digits.
std::optional<auth::SealingKey> parse_token_key(std::string_view configured);
// Section 5.2: sizes, distinct token key ids, and no secret serving two purposes (other_secrets:
// secrets of the rest of the server, e.g. SAS keys). An error message, or nullopt.
std::optional<std::string> check_secrets(const Settings& settings,
                                         const std::vector<std::string>& other_secrets);

}  // namespace switchboard::bridge
