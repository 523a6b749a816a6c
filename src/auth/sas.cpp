#include "auth/sas.hpp"

#include "auth/digest.hpp"
#include "core/encoding.hpp"
#include "core/text.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <boost/url/encode.hpp>
#include <boost/url/grammar/lut_chars.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/rfc/unreserved_chars.hpp>

#include <array>
#include <charconv>
#include <limits>
#include <vector>

namespace switchboard::auth {
namespace {

using core::base64_decode;
using core::base64_encode;
using core::iequals;

constexpr std::string_view kPrefix = "SharedAccessSignature";
constexpr std::size_t kSignatureBytes = 32;

// The characters JavaScript's encodeURIComponent leaves alone.
constexpr auto kUriComponentChars =
    boost::urls::unreserved_chars + boost::urls::grammar::lut_chars("!*'()");

std::optional<Digest> sign(std::string_view raw_sr, std::int64_t se, std::string_view key) {
  std::string to_sign(raw_sr);
  to_sign += '\n';
  to_sign += std::to_string(se);
  return hmac_sha256(key, to_sign);
}

struct RawFields {
  std::optional<std::string_view> sr, sig, se, skn;
};

// Fields in any order, names case-insensitive, unknown fields ignored, first occurrence wins.
RawFields split_fields(std::string_view text) {
  RawFields fields;
  while (!text.empty()) {
    const auto amp = text.find('&');
    const auto piece = text.substr(0, amp);
    text = amp == std::string_view::npos ? std::string_view{} : text.substr(amp + 1);
    const auto eq = piece.find('=');
    if (eq == std::string_view::npos) continue;
    const auto name = piece.substr(0, eq);
    const auto value = piece.substr(eq + 1);
    for (auto [field_name, slot] : {std::pair{"sr", &fields.sr}, std::pair{"sig", &fields.sig},
                                    std::pair{"se", &fields.se}, std::pair{"skn", &fields.skn}}) {
      if (!*slot && iequals(name, field_name)) *slot = value;
    }
  }
  return fields;
}

std::optional<std::int64_t> parse_expiry(std::string_view raw) {
  const auto text = core::percent_decode(raw);
  if (!text || text->empty() || (*text)[0] < '0' || (*text)[0] > '9') return std::nullopt;
  std::int64_t value = 0;
  const auto* end = text->data() + text->size();
  const auto [ptr, ec] = std::from_chars(text->data(), end, value);
  if (ec != std::errc{} || ptr != end) return std::nullopt;
  return value;
}

std::optional<std::string> parse_signature(std::string_view raw) {
  const auto base64 = core::percent_decode(raw);
  if (!base64) return std::nullopt;
  auto bytes = base64_decode(*base64);
  if (!bytes || bytes->size() != kSignatureBytes) return std::nullopt;
  return bytes;
}

// Segments of a path with leading and trailing '/' trimmed, each percent-decoded.
std::optional<std::vector<std::string>> decoded_segments(std::string_view path) {
  const auto first = path.find_first_not_of('/');
  if (first == std::string_view::npos) return std::vector<std::string>{};
  path = path.substr(first, path.find_last_not_of('/') - first + 1);
  std::vector<std::string> segments;
  while (true) {
    const auto slash = path.find('/');
    auto segment = core::percent_decode(path.substr(0, slash));
    if (!segment) return std::nullopt;
    segments.push_back(std::move(*segment));
    if (slash == std::string_view::npos) return segments;
    path.remove_prefix(slash + 1);
  }
}

bool host_listed(const boost::urls::url_view& uri, std::span<const std::string> hosts) {
  const std::string host = uri.host();             // IPv6 keeps its brackets here
  const std::string address = uri.host_address();  // and loses them here
  if (address.empty()) return false;
  for (const auto& candidate : hosts) {
    if (iequals(candidate, host) || iequals(candidate, address)) return true;
  }
  return false;
}

bool segments_prefix(const std::vector<std::string>& audience,
                     const std::vector<std::string>& requested) {
  if (audience.size() > requested.size()) return false;
  for (std::size_t i = 0; i < audience.size(); ++i) {
    if (!iequals(audience[i], requested[i])) return false;
  }
  return true;
}

bool within_grace(std::int64_t now, std::int64_t se, std::int64_t grace) {
  // se is never negative, so only a positive grace can overflow the sum.
  if (grace > 0 && se > std::numeric_limits<std::int64_t>::max() - grace) return true;
  return now <= se + grace;
}

bool grants(std::uint8_t rights, Right needed) {
  return (rights & kManage) != 0 || (rights & needed) == needed;
}

struct RuleMatch {
  bool named = false;       // some rule carries the token's skn
  bool verified = false;    // and one of those verifies the signature
  std::uint8_t rights = 0;  // union of the verifying rules' rights
};

RuleMatch match_rules(const SasToken& token, std::span<const SasRule* const> rules) {
  RuleMatch match;
  for (const SasRule* rule : rules) {
    if (rule == nullptr || rule->name != token.key_name) continue;
    match.named = true;
    if (!signature_matches(token, *rule)) continue;
    match.verified = true;
    match.rights |= rule->rights;
  }
  return match;
}

AuthResult check_token(const AuthRequest& request, const SasToken& token) {
  AuthResult result{AuthFailure::kNone, token.expiry};
  const RuleMatch match = match_rules(token, request.rules);
  if (!match.named) {
    result.failure = AuthFailure::kMalformed;
  } else if (!match.verified) {
    result.failure = AuthFailure::kBadSignature;
  } else if (!within_grace(request.now, token.expiry, request.grace_seconds)) {
    result.failure = AuthFailure::kExpired;
  } else if (!audience_covers(token.raw_sr, request.request_path, request.hosts)) {
    result.failure = AuthFailure::kInvalidAudience;
  } else if (!grants(match.rights, request.needed)) {
    result.failure =
        request.needed == kListen ? AuthFailure::kMissingListen : AuthFailure::kMissingSend;
  }
  return result;
}

}  // namespace

std::optional<SasToken> parse_sas_token(std::string_view text) {
  if (text.size() <= kPrefix.size() || !iequals(text.substr(0, kPrefix.size()), kPrefix)) {
    return std::nullopt;
  }
  text.remove_prefix(kPrefix.size());
  const auto start = text.find_first_not_of(' ');
  if (start == 0 || start == std::string_view::npos) return std::nullopt;
  const RawFields raw = split_fields(text.substr(start));
  if (!raw.sr || !raw.sig || !raw.se || !raw.skn || raw.sr->empty()) return std::nullopt;
  auto signature = parse_signature(*raw.sig);
  const auto expiry = parse_expiry(*raw.se);
  auto key_name = core::percent_decode(*raw.skn);
  if (!signature || !expiry || !key_name || key_name->empty()) return std::nullopt;
  return SasToken{std::string(*raw.sr), std::move(*signature), *expiry, std::move(*key_name)};
}

std::string sign_base64(std::string_view raw_sr, std::int64_t se, std::string_view key_text) {
  const auto digest = sign(raw_sr, se, key_text);
  if (!digest) return {};
  return base64_encode(digest->data(), digest->size());
}

bool signature_matches(const SasToken& token, const SasRule& rule) {
  if (token.signature.size() != kSignatureBytes) return false;
  bool matched = false;
  for (const std::string* key : {&rule.primary_key, &rule.secondary_key}) {
    // An empty key would let anyone sign, so it never verifies.
    if (key->empty()) continue;
    const auto expected = sign(token.raw_sr, token.expiry, *key);
    if (expected && CRYPTO_memcmp(expected->data(), token.signature.data(), kSignatureBytes) == 0) {
      matched = true;
    }
  }
  return matched;
}

std::string create_token(std::string_view resource_uri, std::string_view key_name,
                         std::string_view key_text, std::int64_t expiry) {
  const std::string sr = boost::urls::encode(resource_uri, kUriComponentChars);
  const std::string sig =
      boost::urls::encode(sign_base64(sr, expiry, key_text), kUriComponentChars);
  return std::string(kPrefix) + " sr=" + sr + "&sig=" + sig + "&se=" + std::to_string(expiry) +
         "&skn=" + std::string(key_name);
}

bool audience_covers(std::string_view raw_sr, std::string_view request_path,
                     std::span<const std::string> hosts) {
  const auto decoded_sr = core::percent_decode(raw_sr);
  if (!decoded_sr) return false;
  const auto uri = boost::urls::parse_uri(*decoded_sr);
  if (!uri || !host_listed(*uri, hosts)) return false;
  auto audience = decoded_segments(uri->encoded_path());
  const auto requested = decoded_segments(request_path);
  if (!audience || !requested) return false;
  if (!audience->empty() && iequals(audience->front(), "$hc")) audience->erase(audience->begin());
  return segments_prefix(*audience, *requested);
}

int AuthResult::status() const {
  switch (failure) {
    case AuthFailure::kNone:
      return 0;
    case AuthFailure::kNoToken:
    case AuthFailure::kMalformed:
    case AuthFailure::kBadSignature:
    case AuthFailure::kExpired:
      return 401;
    case AuthFailure::kInvalidAudience:
    case AuthFailure::kMissingListen:
    case AuthFailure::kMissingSend:
      return 403;
  }
  return 401;
}

std::string_view AuthResult::reason() const {
  switch (failure) {
    case AuthFailure::kNone:
      return {};
    case AuthFailure::kNoToken:
      return "Unauthorized: no security token was supplied.";
    case AuthFailure::kMalformed:
      return "Unauthorized: the security token is malformed or names an unknown key.";
    case AuthFailure::kBadSignature:
      return "The token has an invalid signature.";
    case AuthFailure::kExpired:
      return "The token has expired.";
    case AuthFailure::kInvalidAudience:
      return "InvalidAudience: the token is not valid for this path.";
    case AuthFailure::kMissingListen:
      return "The token does not grant the Listen right.";
    case AuthFailure::kMissingSend:
      return "The token does not grant the Send right.";
  }
  return "The token has an invalid signature.";
}

AuthResult authorize(const AuthRequest& request) {
  if (!request.token) return {AuthFailure::kNoToken};
  const auto token = parse_sas_token(*request.token);
  if (!token) return {AuthFailure::kMalformed};
  return check_token(request, *token);
}

}  // namespace switchboard::auth
