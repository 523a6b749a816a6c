#include "auth/bridge_token.hpp"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <memory>

#include <openssl/evp.h>

#include "core/encoding.hpp"
#include "core/random_id.hpp"

namespace switchboard::auth {
namespace {

constexpr std::uint8_t kVersion = 0x01;
constexpr std::size_t kHeader = 2;  // version, key id: the AAD
constexpr std::size_t kNonceSize = 12;
constexpr std::size_t kTagSize = 16;
constexpr std::size_t kFixedPlain = 8 + 16 + 1;  // expiry, bridge id, L
constexpr std::size_t kMaxNodeId = 64;
constexpr std::size_t kMinRaw = kHeader + kNonceSize + kFixedPlain + 1 + kTagSize;
constexpr std::size_t kMaxRaw = kHeader + kNonceSize + kFixedPlain + kMaxNodeId + kTagSize;

using CipherContext = std::unique_ptr<EVP_CIPHER_CTX, decltype(&EVP_CIPHER_CTX_free)>;

CipherContext new_context() {
  CipherContext ctx(EVP_CIPHER_CTX_new(), &EVP_CIPHER_CTX_free);
  if (!ctx) std::abort();
  return ctx;
}

void put_length(std::string& out, std::string_view value) {
  const auto n = static_cast<std::uint32_t>(value.size());
  for (int shift = 24; shift >= 0; shift -= 8)
    out.push_back(static_cast<char>((n >> shift) & 0xFF));
  out.append(value);
}

std::string url_message(std::string_view device_id, const std::optional<std::string>& request_data,
                        std::string_view expiration_utc) {
  std::string msg("switchboard-bridge-url-v1");
  msg.push_back('\0');
  put_length(msg, device_id);
  if (request_data) {
    msg.push_back('\x01');
    put_length(msg, *request_data);
  } else {
    msg.push_back('\0');
  }
  put_length(msg, expiration_utc);
  return msg;
}

std::string digest_base64url(const Digest& digest) {
  return core::base64url_encode(digest.data(), digest.size());
}

}  // namespace

bool valid_node_id(std::string_view id) {
  return !id.empty() && id.size() <= kMaxNodeId && std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
  });
}

std::string seal_bridge_token(const SealingKey& key, const BridgeTokenFields& fields,
                              const Nonce& nonce) {
  std::string plain;
  for (int shift = 56; shift >= 0; shift -= 8)
    plain.push_back(
        static_cast<char>((static_cast<std::uint64_t>(fields.expiry_ms) >> shift) & 0xFF));
  plain.append(reinterpret_cast<const char*>(fields.bridge_id.data()), fields.bridge_id.size());
  plain.push_back(static_cast<char>(fields.owner.size()));
  plain.append(fields.owner);

  std::string raw(kHeader + kNonceSize + plain.size() + kTagSize, '\0');
  auto* out = reinterpret_cast<unsigned char*>(raw.data());
  out[0] = kVersion;
  out[1] = key.id;
  std::memcpy(out + kHeader, nonce.data(), kNonceSize);
  auto ctx = new_context();
  int len = 0;
  if (EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, key.key.data(), out + kHeader) !=
          1 ||
      EVP_EncryptUpdate(ctx.get(), nullptr, &len, out, kHeader) != 1 ||
      EVP_EncryptUpdate(ctx.get(), out + kHeader + kNonceSize, &len,
                        reinterpret_cast<const unsigned char*>(plain.data()),
                        static_cast<int>(plain.size())) != 1 ||
      EVP_EncryptFinal_ex(ctx.get(), out + kHeader + kNonceSize + len, &len) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, kTagSize, out + raw.size() - kTagSize) !=
          1) {
    std::abort();  // AES-GCM with valid sizes cannot fail short of a broken library
  }
  return core::base64url_encode(out, raw.size());
}

std::string seal_bridge_token(const SealingKey& key, const BridgeTokenFields& fields) {
  Nonce nonce{};
  const auto bytes = core::random_bytes(nonce.size());
  std::copy(bytes.begin(), bytes.end(), nonce.begin());
  return seal_bridge_token(key, fields, nonce);
}

std::optional<BridgeTokenFields> open_bridge_token(const std::vector<SealingKey>& keys,
                                                   std::string_view token) {
  // Every failure below returns the same nullopt; callers answer one identical 400.
  if (token.size() > (kMaxRaw * 4 + 2) / 3) return std::nullopt;
  const auto raw = core::base64url_decode(token);
  if (!raw || raw->size() < kMinRaw || raw->size() > kMaxRaw) return std::nullopt;
  const auto* in = reinterpret_cast<const unsigned char*>(raw->data());
  if (in[0] != kVersion) return std::nullopt;
  const auto key =
      std::find_if(keys.begin(), keys.end(), [&](const SealingKey& k) { return k.id == in[1]; });
  if (key == keys.end()) return std::nullopt;

  const std::size_t cipher_size = raw->size() - kHeader - kNonceSize - kTagSize;
  std::string plain(cipher_size, '\0');
  auto* plain_bytes = reinterpret_cast<unsigned char*>(plain.data());
  auto ctx = new_context();
  int len = 0;
  unsigned char tag[kTagSize];
  std::memcpy(tag, in + raw->size() - kTagSize, kTagSize);
  if (EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, key->key.data(), in + kHeader) !=
          1 ||
      EVP_DecryptUpdate(ctx.get(), nullptr, &len, in, kHeader) != 1 ||
      EVP_DecryptUpdate(ctx.get(), plain_bytes, &len, in + kHeader + kNonceSize,
                        static_cast<int>(cipher_size)) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, kTagSize, tag) != 1 ||
      EVP_DecryptFinal_ex(ctx.get(), plain_bytes + len, &len) != 1) {
    return std::nullopt;  // the tag check is OpenSSL's, in constant time
  }
  const std::size_t owner_size = plain_bytes[kFixedPlain - 1];
  if (owner_size == 0 || owner_size != plain.size() - kFixedPlain) return std::nullopt;
  BridgeTokenFields fields;
  std::uint64_t expiry = 0;
  for (std::size_t i = 0; i < 8; ++i) expiry = (expiry << 8) | plain_bytes[i];
  fields.expiry_ms = static_cast<std::int64_t>(expiry);
  std::memcpy(fields.bridge_id.data(), plain_bytes + 8, fields.bridge_id.size());
  fields.owner = plain.substr(kFixedPlain);
  if (!valid_node_id(fields.owner)) return std::nullopt;
  return fields;
}

std::string sign_connect_url(std::string_view key, std::string_view device_id,
                             const std::optional<std::string>& request_data,
                             std::string_view expiration_utc) {
  return digest_base64url(hmac_sha256(key, url_message(device_id, request_data, expiration_utc)));
}

bool verify_connect_url(const std::vector<std::string>& keys, std::string_view device_id,
                        const std::optional<std::string>& request_data,
                        std::string_view expiration_utc, std::string_view signature) {
  const auto given = core::base64url_decode(signature);
  Digest presented{};
  const bool well_formed = given && given->size() == presented.size();
  if (well_formed) std::memcpy(presented.data(), given->data(), presented.size());
  const std::string msg = url_message(device_id, request_data, expiration_utc);
  bool matched = false;
  for (const auto& key : keys) matched = digests_equal(hmac_sha256(key, msg), presented) || matched;
  return well_formed && matched;
}

std::string derive_device_key(std::string_view secret, std::string_view device_id) {
  std::string msg("switchboard-device-key-v1");
  msg.push_back('\0');
  msg.append(device_id);
  return digest_base64url(hmac_sha256(secret, msg));
}

std::string webhook_signature(std::string_view secret, std::string_view timestamp,
                              std::string_view body) {
  std::string msg(timestamp);
  msg.push_back('.');
  msg.append(body);
  const Digest mac = hmac_sha256(secret, msg);
  return "v1=" + core::to_hex(mac.data(), mac.size());
}

}  // namespace switchboard::auth
