#include "auth/bridge_token.hpp"

#include <gtest/gtest.h>

#include <string>

#include "core/encoding.hpp"

namespace switchboard::auth {
namespace {

// Section 5.4.
constexpr std::string_view kVectorToken =
    "AQCgoaKjpKWmp6ipqqvmGH22MxGqv2J0peBDL6ap-DXzq15qrJOaYEniGoYU7TIBgX95cQH_tN67eHK1ow";

SealingKey vector_key() {
  SealingKey key;
  for (unsigned i = 0; i < 32; ++i) key.key[i] = static_cast<unsigned char>(i);
  return key;
}

BridgeTokenFields vector_fields() {
  BridgeTokenFields fields;
  fields.expiry_ms = 1767225600000;
  for (unsigned i = 0; i < 16; ++i) fields.bridge_id[i] = static_cast<unsigned char>(i * 0x11);
  fields.owner = "node-a";
  return fields;
}

Nonce vector_nonce() {
  Nonce nonce{};
  for (unsigned i = 0; i < 12; ++i) nonce[i] = static_cast<unsigned char>(0xa0 + i);
  return nonce;
}

TEST(BridgeToken, SealsTheTestVector) {
  EXPECT_EQ(seal_bridge_token(vector_key(), vector_fields(), vector_nonce()), kVectorToken);
}

TEST(BridgeToken, OpensTheTestVector) {
  const auto fields = open_bridge_token({vector_key()}, kVectorToken);
  ASSERT_TRUE(fields);
  EXPECT_EQ(fields->expiry_ms, 1767225600000);
  EXPECT_EQ(fields->bridge_id, vector_fields().bridge_id);
  EXPECT_EQ(fields->owner, "node-a");
}

TEST(BridgeToken, EveryBitFlipOfRawIsRejected) {
  const std::string raw = *core::base64url_decode(kVectorToken);
  ASSERT_EQ(raw.size(), 61u);
  for (std::size_t byte = 0; byte < raw.size(); ++byte) {
    for (int bit = 0; bit < 8; ++bit) {
      std::string flipped = raw;
      flipped[byte] = static_cast<char>(flipped[byte] ^ (1 << bit));
      const auto token = core::base64url_encode(
          reinterpret_cast<const unsigned char*>(flipped.data()), flipped.size());
      EXPECT_FALSE(open_bridge_token({vector_key()}, token)) << "byte " << byte << " bit " << bit;
    }
  }
}

TEST(BridgeToken, EveryCharacterChangeOfTheTokenIsRejected) {
  for (std::size_t i = 0; i < kVectorToken.size(); ++i) {
    std::string token(kVectorToken);
    token[i] = token[i] == 'A' ? 'B' : 'A';
    EXPECT_FALSE(open_bridge_token({vector_key()}, token)) << "position " << i;
  }
}

TEST(BridgeToken, TruncatedExtendedAndMalformedTokensAreRejected) {
  const std::vector<SealingKey> keys{vector_key()};
  for (std::size_t n = 0; n < kVectorToken.size(); ++n) {
    EXPECT_FALSE(open_bridge_token(keys, kVectorToken.substr(0, n))) << n;
  }
  EXPECT_FALSE(open_bridge_token(keys, std::string(kVectorToken) + "A"));
  EXPECT_FALSE(open_bridge_token(keys, std::string(kVectorToken) + "AA"));
  EXPECT_FALSE(open_bridge_token(keys, std::string(kVectorToken) + "="));
  std::string standard(kVectorToken);
  for (char& c : standard) c = c == '-' ? '+' : c == '_' ? '/' : c;
  EXPECT_FALSE(open_bridge_token(keys, standard));
  EXPECT_FALSE(open_bridge_token(keys, std::string(200, 'A')));
}

TEST(BridgeToken, UnknownKeyIdOrWrongKeyIsRejected) {
  SealingKey other = vector_key();
  other.id = 7;
  EXPECT_FALSE(open_bridge_token({other}, kVectorToken));
  SealingKey wrong = vector_key();
  wrong.key[31] ^= 1;
  EXPECT_FALSE(open_bridge_token({wrong}, kVectorToken));
}

TEST(BridgeToken, AnyConfiguredKeyOpensAndTheSealingKeyIdIsCarried) {
  SealingKey current;
  current.id = 200;
  current.key.fill(0x42);
  BridgeTokenFields fields = vector_fields();
  fields.owner = std::string(64, 'n');
  const auto token = seal_bridge_token(current, fields);
  EXPECT_EQ(token.size(), 159u);  // the longest owner id gives the longest token
  const auto opened = open_bridge_token({vector_key(), current}, token);
  ASSERT_TRUE(opened);
  EXPECT_EQ(opened->owner, fields.owner);
  EXPECT_NE(seal_bridge_token(current, fields), token);  // a fresh nonce every time
}

TEST(BridgeToken, NodeIds) {
  EXPECT_TRUE(valid_node_id("node-a.B_9"));
  EXPECT_FALSE(valid_node_id(""));
  EXPECT_FALSE(valid_node_id(std::string(65, 'a')));
  EXPECT_FALSE(valid_node_id("ws://10.1.2.3/"));
  EXPECT_FALSE(valid_node_id("a b"));
}

// Section 6.
constexpr std::string_view kUrlKey = "@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_";
constexpr std::string_view kExpiration = "2026-01-01T00:00:00.0000000Z";

TEST(SignedUrl, MatchesTheTestVectors) {
  EXPECT_EQ(sign_connect_url(kUrlKey, "dev1", "port=22", kExpiration),
            "CzlBX6VNwsfUPQrSXT_AsMMryraV_fngJbMmTzLY4n0");
  EXPECT_EQ(sign_connect_url(kUrlKey, "dev1", std::nullopt, kExpiration),
            "ZL-iklHWyC6Qa_TrPWXoo5xrffm_vL7PWiopvkhUWb0");
}

TEST(SignedUrl, VerifiesWithAnyKeyAndRejectsTampering) {
  const std::vector<std::string> keys{std::string(40, 'x'), std::string(kUrlKey)};
  const std::string sig = "CzlBX6VNwsfUPQrSXT_AsMMryraV_fngJbMmTzLY4n0";
  EXPECT_TRUE(verify_connect_url(keys, "dev1", "port=22", kExpiration, sig));
  EXPECT_FALSE(verify_connect_url(keys, "dev2", "port=22", kExpiration, sig));
  EXPECT_FALSE(verify_connect_url(keys, "dev1", "port=23", kExpiration, sig));
  EXPECT_FALSE(verify_connect_url(keys, "dev1", std::nullopt, kExpiration, sig));
  EXPECT_FALSE(verify_connect_url(keys, "dev1", "", kExpiration, sig));
  EXPECT_FALSE(verify_connect_url(keys, "dev1", "port=22", "2026-01-01T00:00:00.0000001Z", sig));
  EXPECT_FALSE(verify_connect_url(keys, "dev1", "port=22", kExpiration, sig.substr(1)));
  EXPECT_FALSE(verify_connect_url(keys, "dev1", "port=22", kExpiration, ""));
  EXPECT_FALSE(verify_connect_url({std::string(40, 'x')}, "dev1", "port=22", kExpiration, sig));
  // Length prefixes keep field boundaries: moving bytes between fields changes the MAC.
  EXPECT_NE(sign_connect_url(kUrlKey, "dev1p", "ort=22", kExpiration),
            sign_connect_url(kUrlKey, "dev1", "port=22", kExpiration));
}

// Expected values computed with the openssl command line (openssl dgst -sha256 -hmac).
TEST(DeviceKey, IsBase64urlOfTheHmacOfTheId) {
  const std::string secret = "device-key-secret-of-at-least-32-bytes";
  EXPECT_EQ(derive_device_key(secret, "dev1"), "TMJAs9bjl5gtWRbcCn3m4Pdt6p-1ARg-EYrZpyzObzk");
  EXPECT_NE(derive_device_key(secret, "dev2"), derive_device_key(secret, "dev1"));
}

TEST(Webhook, SignatureIsLowerHexHmacOfTimestampDotBody) {
  EXPECT_EQ(webhook_signature("webhook-secret-of-at-least-32-bytes!!", "1767225600",
                              R"({"bridge":{"acceptUrl":"ws://x/bridge/accept?bridgeToken=T",)"
                              R"("requestData":null}})"),
            "v1=ab33dfaa5bfeabc6b4b3d8e269b65851dd1fbd7b286394e533cdf59176dd7373");
}

}  // namespace
}  // namespace switchboard::auth
