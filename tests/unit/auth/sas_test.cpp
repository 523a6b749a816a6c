#include "auth/sas.hpp"

#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <array>
#include <string>
#include <vector>

namespace switchboard::auth {
namespace {

constexpr std::int64_t kSe = 1700000000;
constexpr std::string_view kKeyName = "RootManageSharedAccessKey";
constexpr std::string_view kHost = "contoso.servicebus.windows.net";
constexpr std::string_view kV1RawSr = "http%3A%2F%2Fcontoso.servicebus.windows.net%2Fhc1";
constexpr std::string_view kV1Token =
    "SharedAccessSignature sr=http%3A%2F%2Fcontoso.servicebus.windows.net%2Fhc1&sig="
    "6ud3sRj2CEXAFre2Va3p8b0eGxyQ7MwR%2FSBSgagWO%2Bg%3D&se=1700000000&skn="
    "RootManageSharedAccessKey";
constexpr std::string_view kV2Key = "bnhQ1uGXlGZzsUXpiMSaXpuo3w8E5n+E0b6i6mKQMPk=";

// One row of the section 2.9 vector table, copied verbatim from the document.
struct Vector {
  std::string_view name;
  std::string_view raw_sr;
  std::string_view key;
  std::string_view token_sig;   // as it appears in the token
  std::string_view base64_sig;  // the same, percent-decoded
};

constexpr std::array<Vector, 6> kVectors{{
    {"V1", "http%3A%2F%2Fcontoso.servicebus.windows.net%2Fhc1", "testkey",
     "6ud3sRj2CEXAFre2Va3p8b0eGxyQ7MwR%2FSBSgagWO%2Bg%3D",
     "6ud3sRj2CEXAFre2Va3p8b0eGxyQ7MwR/SBSgagWO+g="},
    {"V2", "http%3A%2F%2Fcontoso.servicebus.windows.net%2Fhc1", kV2Key,
     "JqtWEbGvIgIw9k5G2MbmV5SLCwzYP11c%2BdGV8RXeeto%3D",
     "JqtWEbGvIgIw9k5G2MbmV5SLCwzYP11c+dGV8RXeeto="},
    {"V3", "http%3A%2F%2Fcontoso.servicebus.windows.net%2F", "testkey",
     "x9%2BjMKRMNJrhGQ9FU%2BiuUo%2FVYTXxrVbMsgv1vSBt0jY%3D",
     "x9+jMKRMNJrhGQ9FU+iuUo/VYTXxrVbMsgv1vSBt0jY="},
    {"V4", "http%3A%2F%2Fcontoso.servicebus.windows.net%3A443%2Fhc1", "testkey",
     "c59LVV%2FgIIXSyfBVcpkX6gfTlEdav14VIyc2q6UlxlE%3D",
     "c59LVV/gIIXSyfBVcpkX6gfTlEdav14VIyc2q6UlxlE="},
    {"V5", "http%3a%2f%2fcontoso.servicebus.windows.net%2fhc1", "testkey",
     "Bgb%2BwoIDRO6Yy%2F2LpT1JnrIakCotlJuYfQ0epeYpMp8%3D",
     "Bgb+woIDRO6Yy/2LpT1JnrIakCotlJuYfQ0epeYpMp8="},
    {"V6", "http%3A%2F%2Fcontoso.servicebus.windows.net%2Fhc1%2F", "testkey",
     "lOXIY%2Bg4iP7TlV8d9hgKNsdhQ%2B%2BMOFu55GPfyW36Yfo%3D",
     "lOXIY+g4iP7TlV8d9hgKNsdhQ++MOFu55GPfyW36Yfo="},
}};

std::string token_text(std::string_view raw_sr, std::string_view sig,
                       std::string_view se = "1700000000", std::string_view skn = kKeyName) {
  return "SharedAccessSignature sr=" + std::string(raw_sr) + "&sig=" + std::string(sig) +
         "&se=" + std::string(se) + "&skn=" + std::string(skn);
}

std::string token_text(const Vector& v) {
  return token_text(v.raw_sr, v.token_sig);
}

SasRule rule(std::string_view key, std::uint8_t rights = kManage,
             std::string_view name = kKeyName) {
  return SasRule{std::string(name), std::string(key), "", rights};
}

std::vector<std::string> contoso_hosts() {
  return {std::string(kHost)};
}

// encodeURIComponent of a decoded sr, as createRelayToken emits it.
std::string raw_sr_of(std::string_view decoded_sr) {
  const auto token = parse_sas_token(create_token(decoded_sr, kKeyName, "testkey", kSe));
  return token ? token->raw_sr : std::string{};
}

bool covers(std::string_view raw_sr, std::string_view path,
            const std::vector<std::string>& hosts = contoso_hosts()) {
  return audience_covers(raw_sr, path, hosts);
}

std::string base64_decoded(std::string_view text) {
  std::string out(text.size() / 4 * 3, '\0');
  const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(text.data()),
                                static_cast<int>(text.size()));
  out.resize(static_cast<std::size_t>(n) - (text.ends_with("==")  ? 2
                                            : text.ends_with("=") ? 1
                                                                  : 0));
  return out;
}

// ---- Section 2.2 signatures and the 2.9 vectors ----

TEST(SasSignature, V1WorkedExample) {
  EXPECT_EQ(sign_base64(kV1RawSr, kSe, "testkey"), "6ud3sRj2CEXAFre2Va3p8b0eGxyQ7MwR/SBSgagWO+g=");
}

TEST(SasSignature, V1TokenRoundTripsThroughCreateToken) {
  EXPECT_EQ(create_token("http://contoso.servicebus.windows.net/hc1", kKeyName, "testkey", kSe),
            kV1Token);
}

TEST(SasSignature, EveryVectorSignsAndVerifies) {
  for (const auto& v : kVectors) {
    SCOPED_TRACE(v.name);
    EXPECT_EQ(sign_base64(v.raw_sr, kSe, v.key), v.base64_sig);
    const auto token = parse_sas_token(token_text(v));
    ASSERT_TRUE(token);
    EXPECT_EQ(token->raw_sr, v.raw_sr);
    EXPECT_EQ(token->signature.size(), 32u);
    EXPECT_EQ(token->expiry, kSe);
    EXPECT_EQ(token->key_name, kKeyName);
    EXPECT_TRUE(signature_matches(*token, rule(v.key)));
    EXPECT_FALSE(signature_matches(*token, rule("wrongkey")));
  }
}

TEST(SasSignature, V2KeyTextIsNotBase64Decoded) {
  const auto& v2 = kVectors[1];
  const std::string decoded_key = base64_decoded(kV2Key);
  ASSERT_EQ(decoded_key.size(), 32u);
  EXPECT_EQ(sign_base64(v2.raw_sr, kSe, decoded_key),
            "XESDdruooHo0d7c2NPQU/fmUmQVi54wOQvfl6bGm95M=");
  const auto token = parse_sas_token(token_text(v2));
  ASSERT_TRUE(token);
  EXPECT_TRUE(signature_matches(*token, rule(kV2Key)));
  EXPECT_FALSE(signature_matches(*token, rule(decoded_key)));
}

TEST(SasSignature, V5RawSrIsHashedNotReencoded) {
  EXPECT_NE(kVectors[4].base64_sig, kVectors[0].base64_sig);
  const auto v5 = parse_sas_token(token_text(kVectors[4]));
  ASSERT_TRUE(v5);
  SasToken reencoded = *v5;
  reencoded.raw_sr = kV1RawSr;
  EXPECT_FALSE(signature_matches(reencoded, rule("testkey")));
}

TEST(SasSignature, EveryVectorPassesAudienceForHc1) {
  for (const auto& v : kVectors) {
    SCOPED_TRACE(v.name);
    EXPECT_TRUE(covers(v.raw_sr, "hc1"));
  }
}

TEST(SasSignature, EveryVectorAuthorizesEndToEnd) {
  const auto hosts = contoso_hosts();
  for (const auto& v : kVectors) {
    SCOPED_TRACE(v.name);
    const SasRule r = rule(v.key);
    const std::array<const SasRule*, 1> rules{&r};
    const std::string text = token_text(v);
    const AuthResult result = authorize({text, rules, "hc1", hosts, kListen, kSe, 300});
    EXPECT_EQ(result.failure, AuthFailure::kNone);
    EXPECT_EQ(result.status(), 0);
    EXPECT_EQ(result.expiry, kSe);
  }
}

TEST(SasSignature, SecondaryKeyVerifies) {
  const auto token = parse_sas_token(kV1Token);
  ASSERT_TRUE(token);
  EXPECT_TRUE(signature_matches(*token, SasRule{std::string(kKeyName), "other", "testkey", kSend}));
  EXPECT_FALSE(signature_matches(*token, SasRule{std::string(kKeyName), "other", "nope", kSend}));
}

TEST(SasSignature, EmptyKeysNeverVerify) {
  const std::string sig = sign_base64(kV1RawSr, kSe, "");
  ASSERT_EQ(sig.size(), 44u);
  const auto token = parse_sas_token(token_text(kV1RawSr, sig));
  ASSERT_TRUE(token);
  EXPECT_FALSE(signature_matches(*token, SasRule{std::string(kKeyName), "", "", kManage}));
}

TEST(SasSignature, CreateTokenUsesEncodeUriComponentCharacters) {
  const auto token =
      parse_sas_token(create_token("http://h/a!*'()~-_.b c$&+,;=?#@", "my key", "k", 5));
  ASSERT_TRUE(token);
  EXPECT_EQ(token->raw_sr, "http%3A%2F%2Fh%2Fa!*'()~-_.b%20c%24%26%2B%2C%3B%3D%3F%23%40");
  EXPECT_EQ(token->key_name, "my key");
  EXPECT_EQ(token->expiry, 5);
}

// ---- Section 2.3 tolerant parsing ----

TEST(SasParse, PrefixIsCaseInsensitive) {
  const std::string body =
      std::string(kV1Token.substr(std::string_view("SharedAccessSignature").size()));
  EXPECT_TRUE(parse_sas_token("sharedaccesssignature" + body));
  EXPECT_TRUE(parse_sas_token("SHAREDACCESSSIGNATURE" + body));
}

TEST(SasParse, PrefixNeedsOneOrMoreSpaces) {
  const std::string fields =
      std::string(kV1Token.substr(std::string_view("SharedAccessSignature ").size()));
  EXPECT_TRUE(parse_sas_token("SharedAccessSignature     " + fields));
  EXPECT_FALSE(parse_sas_token("SharedAccessSignature" + fields));
  EXPECT_FALSE(parse_sas_token("SharedAccessSignature "));
  EXPECT_FALSE(parse_sas_token("SharedAccessSignatur " + fields));
}

TEST(SasParse, AnyFieldOrder) {
  const auto token = parse_sas_token(
      "SharedAccessSignature skn=RootManageSharedAccessKey&se=1700000000&"
      "sig=6ud3sRj2CEXAFre2Va3p8b0eGxyQ7MwR%2FSBSgagWO%2Bg%3D&"
      "sr=http%3A%2F%2Fcontoso.servicebus.windows.net%2Fhc1");
  ASSERT_TRUE(token);
  EXPECT_EQ(token->raw_sr, kV1RawSr);
  EXPECT_TRUE(signature_matches(*token, rule("testkey")));
}

TEST(SasParse, UnknownFieldsIgnored) {
  const auto token = parse_sas_token(std::string(kV1Token) + "&foo=bar&flag&=x");
  ASSERT_TRUE(token);
  EXPECT_TRUE(signature_matches(*token, rule("testkey")));
}

TEST(SasParse, MissingFieldIsRejected) {
  const std::string sr = "sr=" + std::string(kV1RawSr);
  const std::string sig = "sig=6ud3sRj2CEXAFre2Va3p8b0eGxyQ7MwR%2FSBSgagWO%2Bg%3D";
  const std::string se = "se=1700000000";
  const std::string skn = "skn=RootManageSharedAccessKey";
  EXPECT_FALSE(parse_sas_token("SharedAccessSignature " + sig + "&" + se + "&" + skn));
  EXPECT_FALSE(parse_sas_token("SharedAccessSignature " + sr + "&" + se + "&" + skn));
  EXPECT_FALSE(parse_sas_token("SharedAccessSignature " + sr + "&" + sig + "&" + skn));
  EXPECT_FALSE(parse_sas_token("SharedAccessSignature " + sr + "&" + sig + "&" + se));
}

TEST(SasParse, SignatureWithLiteralPlusAndSlash) {
  const auto token =
      parse_sas_token(token_text(kV1RawSr, "6ud3sRj2CEXAFre2Va3p8b0eGxyQ7MwR/SBSgagWO+g="));
  ASSERT_TRUE(token);
  EXPECT_TRUE(signature_matches(*token, rule("testkey")));
}

TEST(SasParse, SignatureWithLowerCaseHex) {
  const auto token =
      parse_sas_token(token_text(kV1RawSr, "6ud3sRj2CEXAFre2Va3p8b0eGxyQ7MwR%2fSBSgagWO%2bg%3d"));
  ASSERT_TRUE(token);
  EXPECT_TRUE(signature_matches(*token, rule("testkey")));
}

TEST(SasParse, SignatureMustBe32Bytes) {
  EXPECT_FALSE(parse_sas_token(token_text(kV1RawSr, "AAAA")));
  // 31 and 33 bytes.
  EXPECT_FALSE(
      parse_sas_token(token_text(kV1RawSr, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA%3D%3D")));
  EXPECT_FALSE(
      parse_sas_token(token_text(kV1RawSr, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")));
  EXPECT_FALSE(parse_sas_token(token_text(kV1RawSr, "")));
}

TEST(SasParse, SignatureMustBeBase64) {
  EXPECT_FALSE(
      parse_sas_token(token_text(kV1RawSr, "6ud3sRj2CEXAFre2Va3p8b0eGxyQ7MwR*SBSgagWO+g=")));
  EXPECT_FALSE(
      parse_sas_token(token_text(kV1RawSr, "6ud3sRj2CEXAFre2Va3p8b0eGxyQ7MwR/SBSgagWO+g")));
  EXPECT_FALSE(
      parse_sas_token(token_text(kV1RawSr, "6ud3sRj2CEXAFre2Va3p8b0eGxyQ7MwR/SBSgagWO+g%3")));
  EXPECT_FALSE(
      parse_sas_token(token_text(kV1RawSr, " ud3sRj2CEXAFre2Va3p8b0eGxyQ7MwR/SBSgagWO+g=")));
}

TEST(SasParse, KeyNameIsPercentDecoded) {
  const auto token = parse_sas_token(
      token_text(kV1RawSr, kVectors[0].token_sig, "1700000000", "Root%4DanageShared%41ccessKey"));
  ASSERT_TRUE(token);
  EXPECT_EQ(token->key_name, "RootManageSharedAccessKey");
  const auto spaced =
      parse_sas_token(token_text(kV1RawSr, kVectors[0].token_sig, "1", "my%20key+x"));
  ASSERT_TRUE(spaced);
  EXPECT_EQ(spaced->key_name, "my key+x");
}

TEST(SasParse, ExpiryIsPercentDecodedDecimal) {
  const auto encoded =
      parse_sas_token(token_text(kV1RawSr, kVectors[0].token_sig, "%3170000000%30"));
  ASSERT_TRUE(encoded);
  EXPECT_EQ(encoded->expiry, kSe);
  for (std::string_view bad : {"", "-1", "+1", "17e8", "0x10", "1 ", "99999999999999999999"}) {
    SCOPED_TRACE(bad);
    EXPECT_FALSE(parse_sas_token(token_text(kV1RawSr, kVectors[0].token_sig, bad)));
  }
}

TEST(SasParse, RawSrKeptExactly) {
  const auto token = parse_sas_token(token_text(kVectors[4]));
  ASSERT_TRUE(token);
  EXPECT_EQ(token->raw_sr, "http%3a%2f%2fcontoso.servicebus.windows.net%2fhc1");
}

TEST(SasParse, NonSasTokensRejected) {
  EXPECT_FALSE(parse_sas_token(""));
  EXPECT_FALSE(parse_sas_token("Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln"));
  EXPECT_FALSE(parse_sas_token("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln"));
  EXPECT_FALSE(parse_sas_token("SharedAccessSignature"));
}

// ---- Section 2.4 audience ----

TEST(SasAudience, CreateRelayTokenSrTable) {
  struct Row {
    std::string_view decoded_sr;
    std::string_view host;
    std::vector<std::string_view> covered;
  };
  const std::vector<Row> rows{
      {"http://contoso.servicebus.windows.net/hc1", kHost, {"hc1", "hc1/x"}},
      {"http://contoso.servicebus.windows.net/", kHost, {"hc1", "other/path"}},
      {"http://contoso.servicebus.windows.net:443/hc1", kHost, {"hc1"}},
      {"http://contoso.servicebus.windows.net/hc1/sub/path",
       kHost,
       {"hc1/sub/path", "hc1/sub/path/x"}},
      {"http://127.0.0.1:9080/hc1", "127.0.0.1", {"hc1"}},
      {"http://127.0.0.1:9080/hc1/suffix", "127.0.0.1", {"hc1/suffix"}},
  };
  for (const auto& row : rows) {
    SCOPED_TRACE(row.decoded_sr);
    const std::string raw = raw_sr_of(row.decoded_sr);
    ASSERT_FALSE(raw.empty());
    const std::vector<std::string> hosts{std::string(row.host)};
    for (auto path : row.covered) EXPECT_TRUE(covers(raw, path, hosts)) << path;
    EXPECT_FALSE(covers(raw, "hc1", {"elsewhere.example.com"}));
  }
  EXPECT_EQ(raw_sr_of("http://contoso.servicebus.windows.net/hc1"), kV1RawSr);
}

TEST(SasAudience, LongerSrDoesNotCoverShorterPath) {
  const std::string raw = raw_sr_of("http://contoso.servicebus.windows.net/hc1/sub/path");
  EXPECT_FALSE(covers(raw, "hc1"));
  EXPECT_FALSE(covers(raw, "hc1/sub"));
  EXPECT_FALSE(covers(raw, "hc1/sub/pathx"));
}

TEST(SasAudience, PortIgnored) {
  EXPECT_TRUE(covers(raw_sr_of("http://contoso.servicebus.windows.net:9443/hc1"), "hc1"));
  EXPECT_TRUE(covers(kVectors[3].raw_sr, "hc1"));
}

TEST(SasAudience, SchemeQueryAndFragmentIgnored) {
  for (std::string_view sr :
       {"sb://contoso.servicebus.windows.net/hc1", "wss://contoso.servicebus.windows.net/hc1",
        "ws://contoso.servicebus.windows.net/hc1",
        "https://contoso.servicebus.windows.net/hc1?x=1#frag"}) {
    SCOPED_TRACE(sr);
    EXPECT_TRUE(covers(raw_sr_of(sr), "hc1"));
  }
}

TEST(SasAudience, HostCaseInsensitive) {
  EXPECT_TRUE(covers(raw_sr_of("http://CONTOSO.ServiceBus.Windows.NET/hc1"), "hc1"));
  EXPECT_TRUE(covers(kV1RawSr, "hc1", {"Contoso.SERVICEBUS.windows.net"}));
}

TEST(SasAudience, HostMustBeListed) {
  EXPECT_FALSE(covers(kV1RawSr, "hc1", {"fabrikam.servicebus.windows.net"}));
  EXPECT_FALSE(covers(kV1RawSr, "hc1", {}));
  EXPECT_TRUE(covers(kV1RawSr, "hc1", {"fabrikam.servicebus.windows.net", std::string(kHost)}));
}

TEST(SasAudience, Ipv6Host) {
  const std::string raw = raw_sr_of("http://[::1]:9080/hc1");
  EXPECT_TRUE(covers(raw, "hc1", {"::1"}));
  EXPECT_TRUE(covers(raw, "hc1", {"[::1]"}));
  EXPECT_FALSE(covers(raw, "hc1", {"127.0.0.1"}));
}

TEST(SasAudience, SegmentBoundary) {
  EXPECT_FALSE(covers(kV1RawSr, "hc10"));
  EXPECT_FALSE(covers(kV1RawSr, "hc"));
  EXPECT_TRUE(covers(kV1RawSr, "hc1/"));
  EXPECT_TRUE(covers(kV1RawSr, "hc1/orders/42"));
}

TEST(SasAudience, PathCaseInsensitive) {
  EXPECT_TRUE(covers(raw_sr_of("http://contoso.servicebus.windows.net/HC1"), "hc1"));
  EXPECT_TRUE(covers(kV1RawSr, "Hc1/Orders"));
}

TEST(SasAudience, NamespaceWide) {
  EXPECT_TRUE(covers(kVectors[2].raw_sr, "anything/at/all"));
  EXPECT_TRUE(covers(raw_sr_of("http://contoso.servicebus.windows.net"), "hc1"));
  EXPECT_TRUE(covers(raw_sr_of("http://contoso.servicebus.windows.net///"), "hc1"));
}

TEST(SasAudience, LeadingHcSegmentDropped) {
  EXPECT_TRUE(covers(raw_sr_of("wss://contoso.servicebus.windows.net/$hc/hc1"), "hc1"));
  EXPECT_TRUE(covers(raw_sr_of("wss://contoso.servicebus.windows.net/$HC/hc1/"), "hc1/x"));
  EXPECT_TRUE(covers(raw_sr_of("wss://contoso.servicebus.windows.net/$hc/"), "hc1"));
  EXPECT_FALSE(covers(raw_sr_of("wss://contoso.servicebus.windows.net/hc1/$hc"), "hc1"));
  EXPECT_FALSE(covers(raw_sr_of("wss://contoso.servicebus.windows.net/$hc/hc2"), "hc1"));
}

TEST(SasAudience, SegmentsComparedPercentDecoded) {
  const std::string raw = raw_sr_of("http://contoso.servicebus.windows.net/my%20hc/a%2Fb");
  EXPECT_TRUE(covers(raw, "my%20hc/a%2fb"));
  EXPECT_TRUE(covers(raw, "my%20hc/a%2Fb/tail"));
  EXPECT_FALSE(covers(raw, "my%20hc/a/b"));
  EXPECT_TRUE(covers(raw_sr_of("http://contoso.servicebus.windows.net/hc1"), "h%631"));
}

TEST(SasAudience, MultiSegmentEntity) {
  const std::string raw = raw_sr_of(
      "https://contoso.servicebus.windows.net/microsoft.hybridcompute/machines/ab12/cd34/v2");
  EXPECT_TRUE(covers(raw, "microsoft.hybridcompute/machines/ab12/cd34/v2"));
  EXPECT_FALSE(covers(raw, "microsoft.hybridcompute/machines/ab12/cd34/v3"));
}

TEST(SasAudience, UnparsableSrRejected) {
  EXPECT_FALSE(covers("hc1", "hc1"));
  EXPECT_FALSE(covers("contoso.servicebus.windows.net%2Fhc1", "hc1"));
  EXPECT_FALSE(covers("http%3A%2F%2Fcontoso.servicebus.windows.net%2Fhc1%ZZ", "hc1"));
  EXPECT_FALSE(covers("http%3A%2F%2F%2Fhc1", "hc1", {""}));
  EXPECT_FALSE(covers(kV1RawSr, "hc1%ZZ"));
}

// ---- authorize() ----

class SasAuthorize : public ::testing::Test {
 protected:
  AuthResult run(std::optional<std::string_view> token, Right needed = kListen,
                 std::int64_t now = kSe, std::string_view path = "hc1", std::int64_t grace = 300) {
    return authorize({token, rules_, path, hosts_, needed, now, grace});
  }
  static void expect(const AuthResult& result, AuthFailure failure, int status,
                     std::string_view reason) {
    EXPECT_EQ(result.failure, failure);
    EXPECT_EQ(result.status(), status);
    EXPECT_EQ(result.reason(), reason);
  }

  SasRule manage_ = rule("testkey", kManage);
  std::vector<const SasRule*> rules_{&manage_};
  std::vector<std::string> hosts_ = contoso_hosts();
};

TEST_F(SasAuthorize, Succeeds) {
  const AuthResult result = run(kV1Token);
  expect(result, AuthFailure::kNone, 0, "");
  EXPECT_EQ(result.expiry, kSe);
}

TEST_F(SasAuthorize, NoToken) {
  expect(run(std::nullopt), AuthFailure::kNoToken, 401,
         "Unauthorized: no security token was supplied.");
}

TEST_F(SasAuthorize, Malformed) {
  constexpr std::string_view kPhrase =
      "Unauthorized: the security token is malformed or names an unknown key.";
  expect(run("Bearer abc"), AuthFailure::kMalformed, 401, kPhrase);
  expect(run(""), AuthFailure::kMalformed, 401, kPhrase);
  expect(run(token_text(kV1RawSr, "AAAA")), AuthFailure::kMalformed, 401, kPhrase);
}

TEST_F(SasAuthorize, UnknownKeyNameIsMalformed) {
  const std::string token = token_text(kV1RawSr, kVectors[0].token_sig, "1700000000", "OtherKey");
  expect(run(token), AuthFailure::kMalformed, 401,
         "Unauthorized: the security token is malformed or names an unknown key.");
  rules_.clear();
  expect(run(kV1Token), AuthFailure::kMalformed, 401,
         "Unauthorized: the security token is malformed or names an unknown key.");
}

TEST_F(SasAuthorize, BadSignature) {
  manage_.primary_key = "otherkey";
  expect(run(kV1Token), AuthFailure::kBadSignature, 401, "The token has an invalid signature.");
}

TEST_F(SasAuthorize, Expired) {
  expect(run(kV1Token, kListen, kSe + 301), AuthFailure::kExpired, 401, "The token has expired.");
}

TEST_F(SasAuthorize, ExpiryBoundary) {
  EXPECT_EQ(run(kV1Token, kListen, kSe + 300).failure, AuthFailure::kNone);
  EXPECT_EQ(run(kV1Token, kListen, kSe + 301).failure, AuthFailure::kExpired);
  EXPECT_EQ(run(kV1Token, kListen, kSe, "hc1", 0).failure, AuthFailure::kNone);
  EXPECT_EQ(run(kV1Token, kListen, kSe + 1, "hc1", 0).failure, AuthFailure::kExpired);
}

TEST_F(SasAuthorize, ExpiryNearInt64MaxDoesNotOverflow) {
  const std::string se = "9223372036854775807";
  const std::string sig = sign_base64(kV1RawSr, INT64_MAX, "testkey");
  const std::string token = token_text(kV1RawSr, sig, se);
  EXPECT_EQ(run(token, kListen, INT64_MAX).failure, AuthFailure::kNone);
}

TEST_F(SasAuthorize, InvalidAudience) {
  expect(run(kV1Token, kListen, kSe, "hc10"), AuthFailure::kInvalidAudience, 403,
         "InvalidAudience: the token is not valid for this path.");
  hosts_ = {"fabrikam.servicebus.windows.net"};
  expect(run(kV1Token), AuthFailure::kInvalidAudience, 403,
         "InvalidAudience: the token is not valid for this path.");
}

TEST_F(SasAuthorize, MissingRights) {
  manage_.rights = kSend;
  expect(run(kV1Token, kListen), AuthFailure::kMissingListen, 403,
         "The token does not grant the Listen right.");
  EXPECT_EQ(run(kV1Token, kSend).failure, AuthFailure::kNone);
  manage_.rights = kListen;
  expect(run(kV1Token, kSend), AuthFailure::kMissingSend, 403,
         "The token does not grant the Send right.");
  EXPECT_EQ(run(kV1Token, kListen).failure, AuthFailure::kNone);
  manage_.rights = 0;
  EXPECT_EQ(run(kV1Token, kListen).failure, AuthFailure::kMissingListen);
}

TEST_F(SasAuthorize, ManageImpliesListenAndSend) {
  EXPECT_EQ(run(kV1Token, kListen).failure, AuthFailure::kNone);
  EXPECT_EQ(run(kV1Token, kSend).failure, AuthFailure::kNone);
}

TEST_F(SasAuthorize, SecondaryKey) {
  manage_.primary_key = "rotated";
  manage_.secondary_key = "testkey";
  EXPECT_EQ(run(kV1Token).failure, AuthFailure::kNone);
}

TEST_F(SasAuthorize, OrderSignatureBeforeExpiryBeforeAudienceBeforeRights) {
  manage_.rights = kSend;
  hosts_ = {"fabrikam.servicebus.windows.net"};
  EXPECT_EQ(run(kV1Token, kListen, kSe + 1000).failure, AuthFailure::kExpired);
  EXPECT_EQ(run(kV1Token, kListen, kSe).failure, AuthFailure::kInvalidAudience);
  manage_.primary_key = "otherkey";
  EXPECT_EQ(run(kV1Token, kListen, kSe + 1000).failure, AuthFailure::kBadSignature);
  EXPECT_EQ(run("garbage", kListen, kSe + 1000).failure, AuthFailure::kMalformed);
  EXPECT_EQ(run(std::nullopt, kListen, kSe + 1000).failure, AuthFailure::kNoToken);
}

TEST_F(SasAuthorize, SharedNameUsesAnyVerifyingRule) {
  SasRule wrong_key = rule("otherkey", kManage);
  SasRule send_only = rule("testkey", kSend);
  rules_ = {nullptr, &wrong_key, &send_only};
  EXPECT_EQ(run(kV1Token, kSend).failure, AuthFailure::kNone);
  // The Manage rule does not verify, so its rights do not count.
  EXPECT_EQ(run(kV1Token, kListen).failure, AuthFailure::kMissingListen);
}

TEST_F(SasAuthorize, EntityScopedRuleWithOtherNameIgnored) {
  SasRule other = rule("testkey", kManage, "EntityKey");
  rules_ = {&other};
  EXPECT_EQ(run(kV1Token).failure, AuthFailure::kMalformed);
}

}  // namespace
}  // namespace switchboard::auth
