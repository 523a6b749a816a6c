#include "core/encoding.hpp"

#include <gtest/gtest.h>

namespace switchboard::core {
namespace {

std::string url(std::string_view bytes) {
  return base64url_encode(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size());
}

TEST(Base64url, EncodesWithoutPaddingInTheUrlAlphabet) {
  EXPECT_EQ(url(""), "");
  EXPECT_EQ(url("f"), "Zg");
  EXPECT_EQ(url("fo"), "Zm8");
  EXPECT_EQ(url("foo"), "Zm9v");
  EXPECT_EQ(url("\xfb\xff"), "-_8");
}

TEST(Base64url, DecodesStrictly) {
  EXPECT_EQ(base64url_decode("Zm8"), "fo");
  EXPECT_EQ(base64url_decode("-_8"), "\xfb\xff");
  EXPECT_FALSE(base64url_decode("Zm8="));
  EXPECT_FALSE(base64url_decode("+/8"));
  EXPECT_FALSE(base64url_decode("Zm9"));  // non-zero unused bits: "Zm8" is the only spelling
  EXPECT_FALSE(base64url_decode("Z"));
  EXPECT_FALSE(base64url_decode("Zm 8"));
}

TEST(FormParam, NamesAreCaseInsensitiveAndValuesFormDecoded) {
  EXPECT_EQ(form_param("deviceId=a%20b+c&x=1", "deviceid"), "a b c");
  EXPECT_EQ(form_param("x=1&DEVICEID=first&deviceId=second", "deviceId"), "first");
  EXPECT_EQ(form_param("requestData=&x=1", "requestData"), "");
  EXPECT_EQ(form_param("requestData", "requestData"), "");
  EXPECT_FALSE(form_param("x=1", "requestData"));
  EXPECT_EQ(form_param("v=%zz", "v"), "%zz");
}

TEST(PercentEncode, KeepsOnlyUnreservedCharacters) {
  EXPECT_EQ(percent_encode("a-b_c.d~e f/g+h=i&j"), "a-b_c.d~e%20f%2Fg%2Bh%3Di%26j");
}

}  // namespace
}  // namespace switchboard::core
