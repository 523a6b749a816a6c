// Sealed bridge tokens (bridge protocol section 5), signed connect URLs (section 6), derived
// device keys (section 7.3) and webhook signatures (section 7.4).
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "auth/digest.hpp"

namespace switchboard::auth {

using TokenKey = std::array<unsigned char, 32>;
using BridgeId = std::array<unsigned char, 16>;
using Nonce = std::array<unsigned char, 12>;

struct SealingKey {
  std::uint8_t id = 0;
  TokenKey key{};
};

struct BridgeTokenFields {
  std::int64_t expiry_ms = 0;  // Unix time in milliseconds: the accept deadline
  BridgeId bridge_id{};
  std::string owner;  // membership id of the owner node, 1..64 of [A-Za-z0-9._-]
};

bool valid_node_id(std::string_view id);

// base64url token of section 5.1; `owner` must be a valid node id.
std::string seal_bridge_token(const SealingKey& key, const BridgeTokenFields& fields,
                              const Nonce& nonce);
// Same, with a fresh CSPRNG nonce.
std::string seal_bridge_token(const SealingKey& key, const BridgeTokenFields& fields);
// Section 5.3 steps 1-3 against every configured key; nullopt for any failure, whichever step.
std::optional<BridgeTokenFields> open_bridge_token(const std::vector<SealingKey>& keys,
                                                   std::string_view token);

// Section 6: base64url HMAC-SHA256 over the length-prefixed decoded query values.
std::string sign_connect_url(std::string_view key, std::string_view device_id,
                             const std::optional<std::string>& request_data,
                             std::string_view expiration_utc);
// Recomputes with each key and compares in constant time, every key checked.
bool verify_connect_url(const std::vector<std::string>& keys, std::string_view device_id,
                        const std::optional<std::string>& request_data,
                        std::string_view expiration_utc, std::string_view signature);

// Section 7.3, derived mode: base64url HMAC-SHA256(secret, "switchboard-device-key-v1" 0x00 id).
std::string derive_device_key(std::string_view secret, std::string_view device_id);

// Section 7.4: "v1=" + lower-case hex HMAC-SHA256(secret, timestamp "." body).
std::string webhook_signature(std::string_view secret, std::string_view timestamp,
                              std::string_view body);

}  // namespace switchboard::auth
