#include "auth/digest.hpp"

#include <cstdlib>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

namespace switchboard::auth {
namespace {

// An empty string_view may hold a null pointer; give OpenSSL a real one either way.
const unsigned char* bytes_of(std::string_view text) {
  return reinterpret_cast<const unsigned char*>(text.empty() ? "" : text.data());
}

}  // namespace

Digest sha256(std::string_view data) {
  Digest digest{};
  unsigned int length = 0;
  if (EVP_Digest(bytes_of(data), data.size(), digest.data(), &length, EVP_sha256(), nullptr) != 1)
    std::abort();  // a digest that silently failed would let any secret match
  return digest;
}

Digest hmac_sha256(std::string_view key, std::string_view message) {
  Digest digest{};
  unsigned int length = 0;
  if (HMAC(EVP_sha256(), bytes_of(key), static_cast<int>(key.size()), bytes_of(message),
           message.size(), digest.data(), &length) == nullptr ||
      length != digest.size()) {
    std::abort();
  }
  return digest;
}

bool digests_equal(const Digest& a, const Digest& b) {
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace switchboard::auth
