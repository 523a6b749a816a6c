#include "core/random_id.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <unordered_set>

namespace switchboard::core {
namespace {

// std::regex trips a GCC 12 -Wmaybe-uninitialized false positive under the sanitizers.
bool is_lower_hex(std::string_view text) {
  return std::all_of(text.begin(), text.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

bool is_nonce(std::string_view text) {
  return text.size() == 32 && is_lower_hex(text);
}

bool is_uuid(std::string_view text) {
  if (text.size() != 36 || text[14] != '4') return false;
  if (std::string_view("89ab").find(text[19]) == std::string_view::npos) return false;
  for (std::size_t dash : {8, 13, 18, 23}) {
    if (text[dash] != '-') return false;
  }
  std::string digits(text);
  std::erase(digits, '-');
  return digits.size() == 32 && is_lower_hex(digits);
}

// Splits "{base}_{nonce}" at the last '_'; the base itself may contain '_'.
std::pair<std::string, std::string> split_id(const std::string& id) {
  const auto at = id.rfind('_');
  if (at == std::string::npos) return {};
  return {id.substr(0, at), id.substr(at + 1)};
}

TEST(RandomHex, LengthAndLowerCase) {
  EXPECT_EQ(random_hex(0), "");
  EXPECT_TRUE(is_nonce(random_hex(16)));
  const std::string long_hex = random_hex(1000);
  EXPECT_EQ(long_hex.size(), 2000u);
  EXPECT_TRUE(is_lower_hex(long_hex));
}

TEST(RandomUuid, Format) {
  for (int i = 0; i < 1000; ++i) {
    const std::string uuid = random_uuid_v4();
    ASSERT_TRUE(is_uuid(uuid)) << uuid;
  }
}

TEST(RandomUuid, VariantNibbleTakesAllFourValues) {
  std::unordered_set<char> seen;
  for (int i = 0; i < 1000; ++i) seen.insert(random_uuid_v4()[19]);
  EXPECT_EQ(seen, (std::unordered_set<char>{'8', '9', 'a', 'b'}));
}

TEST(RendezvousId, KeepsPrintableSenderIdAndAddsNonce) {
  const auto [base, nonce] = split_id(make_rendezvous_id("sender-42_G7"));
  EXPECT_EQ(base, "sender-42_G7");
  EXPECT_TRUE(is_nonce(nonce)) << nonce;
}

TEST(RendezvousId, AcceptsFullPrintableRangeAnd128Characters) {
  const std::string printable = "!~" + std::string(126, 'x');
  ASSERT_EQ(printable.size(), 128u);
  EXPECT_EQ(split_id(make_rendezvous_id(printable)).first, printable);
  EXPECT_EQ(split_id(make_rendezvous_id("a")).first, "a");
}

TEST(RendezvousId, FallsBackToUuidBase) {
  for (const std::string& bad :
       {std::string(), std::string(129, 'x'), std::string("has space"), std::string("tab\tid"),
        std::string("del\x7f"), std::string("caf\xc3\xa9")}) {
    SCOPED_TRACE(bad);
    const auto [base, nonce] = split_id(make_rendezvous_id(bad));
    EXPECT_TRUE(is_uuid(base)) << base;
    EXPECT_TRUE(is_nonce(nonce)) << nonce;
  }
}

TEST(RendezvousId, UniqueOver10000) {
  std::unordered_set<std::string> ids;
  std::unordered_set<std::string> uuids;
  for (int i = 0; i < 10000; ++i) {
    ids.insert(make_rendezvous_id("same-sender"));
    uuids.insert(random_uuid_v4());
  }
  EXPECT_EQ(ids.size(), 10000u);
  EXPECT_EQ(uuids.size(), 10000u);
}

}  // namespace
}  // namespace switchboard::core
