#include "bridge/settings.hpp"

#include <algorithm>
#include <charconv>
#include <map>
#include <set>
#include <utility>

#include "bridge/webhook.hpp"
#include "core/encoding.hpp"
#include "core/random_id.hpp"

namespace switchboard::bridge {
namespace {

constexpr std::size_t kMinSecret = 32;

std::optional<std::string> hex_decode(std::string_view text) {
  if (text.size() % 2 != 0) return std::nullopt;
  std::string out;
  for (std::size_t i = 0; i < text.size(); i += 2) {
    unsigned value = 0;
    const auto [ptr, ec] = std::from_chars(text.data() + i, text.data() + i + 2, value, 16);
    if (ec != std::errc{} || ptr != text.data() + i + 2) return std::nullopt;
    out.push_back(static_cast<char>(value));
  }
  return out;
}

}  // namespace

auth::Digest secret_digest(std::string_view configured) {
  constexpr std::string_view kDigestPrefix = "sha256:";
  if (configured.starts_with(kDigestPrefix)) {
    const auto bytes = hex_decode(configured.substr(kDigestPrefix.size()));
    if (bytes && bytes->size() == auth::Digest{}.size()) {
      auth::Digest digest{};
      std::copy(bytes->begin(), bytes->end(), digest.begin());
      return digest;
    }
  }
  return auth::sha256(configured);
}

std::optional<auth::SealingKey> parse_token_key(std::string_view configured) {
  const auto colon = configured.find(':');
  if (colon == std::string_view::npos) return std::nullopt;
  unsigned id = 256;
  const auto id_text = configured.substr(0, colon);
  const auto [ptr, ec] = std::from_chars(id_text.data(), id_text.data() + id_text.size(), id);
  if (ec != std::errc{} || ptr != id_text.data() + id_text.size() || id > 255) return std::nullopt;
  const auto text = configured.substr(colon + 1);
  std::optional<std::string> bytes = text.size() == 64 ? hex_decode(text) : std::nullopt;
  if (!bytes) bytes = core::base64_decode(text);
  if (!bytes) bytes = core::base64url_decode(text);
  auth::SealingKey key;
  if (!bytes || bytes->size() != key.key.size()) return std::nullopt;
  key.id = static_cast<std::uint8_t>(id);
  std::copy(bytes->begin(), bytes->end(), key.key.begin());
  return key;
}

std::optional<std::string> check_secrets(const Settings& settings,
                                         const std::vector<std::string>& other_secrets) {
  if (!auth::valid_node_id(settings.node_id))
    return "bridge node_id must be 1-64 characters of A-Z a-z 0-9 . _ -";
  std::set<std::uint8_t> ids;
  for (const auto& key : settings.token_keys) {
    if (!ids.insert(key.id).second)
      return "two bridge token_keys have the id " + std::to_string(key.id);
  }
  for (const auto& key : settings.url_signing_keys) {
    if (key.size() < kMinSecret) return "every bridge url_signing_key needs at least 32 bytes";
  }
  if (!settings.device_key_secret.empty() && settings.device_key_secret.size() < kMinSecret)
    return "the bridge device_key_secret needs at least 32 bytes";
  if (!settings.webhook.url.empty()) {
    if (auto problem = check_webhook(settings.webhook)) return problem;
    if (settings.webhook.secret.size() < kMinSecret)
      return "a bridge webhook needs a secret of at least 32 bytes (webhook.secret)";
  }
  for (const auto& notifier : settings.notifiers) {
    if (notifier != "channel" && notifier != "webhook")
      return "unknown bridge notifier '" + notifier + "' (channel, webhook)";
  }

  // One secret, one purpose (section 5.2): every configured value, by digest.
  std::vector<std::pair<auth::Digest, std::string_view>> uses;
  for (const auto& d : settings.api_keys) uses.emplace_back(d, "a bridge API key");
  for (const auto& [id, d] : settings.device_keys) uses.emplace_back(d, "a device key");
  if (!settings.device_key_secret.empty())
    uses.emplace_back(auth::sha256(settings.device_key_secret), "the device key secret");
  if (!settings.webhook.secret.empty())
    uses.emplace_back(auth::sha256(settings.webhook.secret), "the webhook secret");
  for (const auto& key : settings.url_signing_keys)
    uses.emplace_back(auth::sha256(key), "a URL-signing key");
  for (const auto& key : settings.token_keys) {
    const std::string_view raw(reinterpret_cast<const char*>(key.key.data()), key.key.size());
    uses.emplace_back(auth::sha256(raw), "a token key");
    uses.emplace_back(auth::sha256(core::base64_encode(key.key.data(), key.key.size())),
                      "a token key");
    uses.emplace_back(auth::sha256(core::to_hex(key.key.data(), key.key.size())), "a token key");
  }
  for (const auto& secret : other_secrets) uses.emplace_back(auth::sha256(secret), "a SAS key");
  std::map<auth::Digest, std::string_view> purpose_of;
  for (const auto& [digest, purpose] : uses) {
    const auto [it, added] = purpose_of.emplace(digest, purpose);
    if (!added && it->second != purpose) {
      return "one secret is configured as " + std::string(it->second) + " and as " +
             std::string(purpose) + "; use a different secret for each purpose";
    }
  }
  return std::nullopt;
}

}  // namespace switchboard::bridge
