#include "core/random_id.hpp"

#include <openssl/rand.h>

#include <algorithm>
#include <climits>
#include <cstdlib>
#include <vector>

namespace switchboard::core {
namespace {

constexpr std::size_t kMaxSenderIdLength = 128;
constexpr std::size_t kNonceBytes = 16;

}  // namespace

std::vector<unsigned char> random_bytes(std::size_t count) {
  std::vector<unsigned char> out(count);
  std::size_t done = 0;
  while (done < count) {
    const int chunk = static_cast<int>(std::min<std::size_t>(count - done, INT_MAX));
    // A guessable id would be a forgeable rendezvous address, so there is no fallback.
    if (RAND_bytes(out.data() + done, chunk) != 1) std::abort();
    done += static_cast<std::size_t>(chunk);
  }
  return out;
}

std::string to_hex(const unsigned char* data, std::size_t size) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(size * 2);
  for (std::size_t i = 0; i < size; ++i) {
    out.push_back(kDigits[data[i] >> 4]);
    out.push_back(kDigits[data[i] & 0x0F]);
  }
  return out;
}

namespace {

bool usable_sender_id(std::string_view id) {
  if (id.empty() || id.size() > kMaxSenderIdLength) return false;
  return std::all_of(id.begin(), id.end(), [](char c) { return c >= 0x21 && c <= 0x7E; });
}

}  // namespace

std::string random_hex(std::size_t bytes) {
  const auto data = random_bytes(bytes);
  return to_hex(data.data(), data.size());
}

std::string random_uuid_v4() {
  auto data = random_bytes(16);
  data[6] = static_cast<unsigned char>((data[6] & 0x0F) | 0x40);  // version 4
  data[8] = static_cast<unsigned char>((data[8] & 0x3F) | 0x80);  // RFC 4122 variant
  const std::string hex = to_hex(data.data(), data.size());
  return hex.substr(0, 8) + '-' + hex.substr(8, 4) + '-' + hex.substr(12, 4) + '-' +
         hex.substr(16, 4) + '-' + hex.substr(20, 12);
}

std::string make_rendezvous_id(std::string_view sender_id) {
  std::string base = usable_sender_id(sender_id) ? std::string(sender_id) : random_uuid_v4();
  return base + '_' + random_hex(kNonceBytes);
}

}  // namespace switchboard::core
