#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace switchboard::auth {

// Rights a SAS rule grants; Manage implies Listen and Send.
enum Right : std::uint8_t { kListen = 1, kSend = 2, kManage = 4 };

struct SasRule {
  std::string name;
  std::string primary_key;    // key TEXT; its bytes are the HMAC key, never base64-decoded
  std::string secondary_key;  // empty = no secondary key
  std::uint8_t rights = 0;    // bit set of Right
};

struct SasToken {
  std::string raw_sr;     // exactly as in the token (still percent-encoded): this is what is hashed
  std::string signature;  // decoded: 32 raw bytes
  std::int64_t expiry = 0;  // se
  std::string key_name;     // skn, percent-decoded
};

// Section 2.3 tolerant parsing; nullopt when the text is not a well-formed SAS token.
std::optional<SasToken> parse_sas_token(std::string_view text);

// Base64 HMAC-SHA256 of raw_sr + "\n" + se keyed by the key text (section 2.2).
std::string sign_base64(std::string_view raw_sr, std::int64_t se, std::string_view key_text);

// Constant-time check of the token's signature against the rule's primary or secondary key.
// The rule's name is not compared; callers pick rules by skn.
bool signature_matches(const SasToken& token, const SasRule& rule);

// A token the way createRelayToken builds it: sr = encodeURIComponent(resource_uri), sig
// url-encoded, skn appended unencoded.
std::string create_token(std::string_view resource_uri, std::string_view key_name,
                         std::string_view key_text, std::int64_t expiry);

// Section 2.4. request_path = entity + suffix as received (raw, may contain %XX), no leading
// '/'. hosts = configured namespace hosts plus the request's Host header host (no port).
bool audience_covers(std::string_view raw_sr, std::string_view request_path,
                     std::span<const std::string> hosts);

enum class AuthFailure {
  kNone,
  kNoToken,
  kMalformed,
  kBadSignature,
  kExpired,
  kInvalidAudience,
  kMissingListen,
  kMissingSend,
};

struct AuthResult {
  AuthFailure failure = AuthFailure::kNone;
  std::int64_t expiry = 0;  // se of the token, once it parsed
  int status() const;       // 0 when authorized, else 401 or 403
  // Section 2.8 phrase without the tracking suffix; empty when authorized.
  std::string_view reason() const;
};

struct AuthRequest {
  std::optional<std::string_view> token;  // token text, outer query layer already decoded
  std::span<const SasRule* const> rules;  // namespace-wide plus entity-scoped rules
  std::string_view request_path;          // entity + suffix, raw, no leading '/'
  std::span<const std::string> hosts;
  Right needed = kSend;  // kListen or kSend
  std::int64_t now = 0;
  std::int64_t grace_seconds = 0;  // valid while now <= se + grace
};

// Checks in the order of section 2.8: token, syntax and skn, signature, expiry, audience, right.
AuthResult authorize(const AuthRequest& request);

}  // namespace switchboard::auth
