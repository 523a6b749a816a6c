// SHA-256 digests and MACs for secrets that are compared, never decrypted (OpenSSL).
#pragma once

#include <array>
#include <string_view>

namespace switchboard::auth {

using Digest = std::array<unsigned char, 32>;

Digest sha256(std::string_view data);
Digest hmac_sha256(std::string_view key, std::string_view message);
// Constant time (CRYPTO_memcmp).
bool digests_equal(const Digest& a, const Digest& b);
// Whether `secret` matches one of `digests`; every digest is compared, with no early exit.
template <typename Digests>
bool matches_any(const Digests& digests, std::string_view secret) {
  const Digest candidate = sha256(secret);
  bool found = false;
  for (const Digest& d : digests) found = digests_equal(d, candidate) || found;
  return found;
}

}  // namespace switchboard::auth
