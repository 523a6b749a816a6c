#include "core/ws_frame.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <vector>

namespace switchboard::core::ws {
namespace {

std::vector<std::uint8_t> bytes(std::initializer_list<int> list) {
  std::vector<std::uint8_t> out;
  for (int b : list) out.push_back(static_cast<std::uint8_t>(b));
  return out;
}

TEST(WsFrame, ParsesMaskedShortFrame) {
  const auto raw = bytes({0x81, 0x85, 1, 2, 3, 4});
  FrameHeader h;
  ASSERT_EQ(parse_header(raw, h).status, HeaderStatus::kComplete);
  EXPECT_TRUE(h.fin);
  EXPECT_EQ(h.opcode, kText);
  EXPECT_TRUE(h.masked);
  EXPECT_EQ(h.payload_length, 5u);
  EXPECT_EQ(h.header_size, 6);
  EXPECT_EQ(h.mask[3], 4);
}

TEST(WsFrame, ParsesExtendedLengths) {
  FrameHeader h;
  ASSERT_EQ(parse_header(bytes({0x02, 126, 0x01, 0x00}), h).status, HeaderStatus::kComplete);
  EXPECT_EQ(h.payload_length, 256u);
  EXPECT_FALSE(h.fin);
  ASSERT_EQ(parse_header(bytes({0x82, 127, 0, 0, 0, 1, 0, 0, 0, 0}), h).status,
            HeaderStatus::kComplete);
  EXPECT_EQ(h.payload_length, 1ull << 32);
}

TEST(WsFrame, ReportsIncompleteHeaders) {
  FrameHeader h;
  EXPECT_EQ(parse_header(bytes({0x81}), h).status, HeaderStatus::kIncomplete);
  EXPECT_EQ(parse_header(bytes({0x81, 0xFE, 0x01}), h).status, HeaderStatus::kIncomplete);
  EXPECT_EQ(parse_header(bytes({0x81, 0x85, 1, 2, 3}), h).status, HeaderStatus::kIncomplete);
}

TEST(WsFrame, RejectsProtocolViolations) {
  FrameHeader h;
  EXPECT_EQ(parse_header(bytes({0xC1, 0x80, 0, 0, 0, 0}), h).status,
            HeaderStatus::kInvalid);  // RSV1
  EXPECT_EQ(parse_header(bytes({0x83, 0x80, 0, 0, 0, 0}), h).status,
            HeaderStatus::kInvalid);  // opcode 3
  EXPECT_EQ(parse_header(bytes({0x09, 0x80, 0, 0, 0, 0}), h).status,
            HeaderStatus::kInvalid);  // fragmented ping
  EXPECT_EQ(parse_header(bytes({0x89, 0xFE, 0, 126, 0, 0, 0, 0}), h).status,
            HeaderStatus::kInvalid);
  EXPECT_EQ(parse_header(bytes({0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}), h).status,
            HeaderStatus::kInvalid);  // 64-bit length with the top bit set
}

TEST(WsFrame, EncodesMinimalHeaders) {
  std::uint8_t out[kMaxHeaderSize];
  EXPECT_EQ(encode_header(out, true, kBinary, 125), 2u);
  EXPECT_EQ(out[0], 0x82);
  EXPECT_EQ(out[1], 125);
  EXPECT_EQ(encode_header(out, false, kContinuation, 126), 4u);
  EXPECT_EQ(out[0], 0x00);
  EXPECT_EQ(out[1], 126);
  EXPECT_EQ(encode_header(out, true, kText, 65536), 10u);
  EXPECT_EQ(out[7], 1);
}

TEST(WsFrame, UnmaskHandlesOffsetsAndInPlaceCompaction) {
  const std::uint8_t mask[4] = {0x11, 0x22, 0x33, 0x44};
  std::vector<std::uint8_t> plain(37);
  for (std::size_t i = 0; i < plain.size(); ++i) plain[i] = static_cast<std::uint8_t>(i * 7);
  std::vector<std::uint8_t> masked(plain.size());
  for (std::size_t i = 0; i < plain.size(); ++i) masked[i] = plain[i] ^ mask[i % 4];
  // Two pieces with a mask offset that is not a multiple of 4.
  std::vector<std::uint8_t> out(plain.size());
  unmask_copy(out.data(), masked.data(), 13, mask, 0);
  unmask_copy(out.data() + 13, masked.data() + 13, plain.size() - 13, mask, 13);
  EXPECT_EQ(out, plain);
  // dst four bytes before src, as the relay does when it drops the mask key.
  std::vector<std::uint8_t> buf(4 + masked.size());
  std::memcpy(buf.data() + 4, masked.data(), masked.size());
  unmask_copy(buf.data(), buf.data() + 4, masked.size(), mask, 0);
  EXPECT_TRUE(std::equal(plain.begin(), plain.end(), buf.begin()));
}

// The vector path (32-byte blocks), the word path and the byte tail must agree with the
// definition at every length, mask offset and compaction distance.
TEST(WsFrame, UnmaskMatchesTheDefinitionAtEveryLengthAndOffset) {
  const std::uint8_t mask[4] = {0xA1, 0x5B, 0x0C, 0xF7};
  for (std::size_t n = 0; n <= 100; ++n) {
    for (std::uint64_t offset = 0; offset < 4; ++offset) {
      for (std::size_t gap : {0, 1, 4, 14}) {
        std::vector<std::uint8_t> src(n);
        for (std::size_t i = 0; i < n; ++i) src[i] = static_cast<std::uint8_t>(i * 31 + 5);
        std::vector<std::uint8_t> expected(n);
        for (std::size_t i = 0; i < n; ++i) expected[i] = src[i] ^ mask[(offset + i) % 4];
        std::vector<std::uint8_t> buf(gap + n);
        std::copy(src.begin(), src.end(), buf.begin() + static_cast<std::ptrdiff_t>(gap));
        unmask_copy(buf.data(), buf.data() + gap, n, mask, offset);
        ASSERT_TRUE(std::equal(expected.begin(), expected.end(), buf.begin()))
            << "n=" << n << " offset=" << offset << " gap=" << gap;
      }
    }
  }
}

TEST(WsFrame, Utf8ValidationAcrossPieces) {
  const std::string euro = "\xE2\x82\xAC";
  Utf8Validator v;
  EXPECT_TRUE(v.feed(reinterpret_cast<const std::uint8_t*>(euro.data()), 1));
  EXPECT_FALSE(v.complete());
  EXPECT_TRUE(v.feed(reinterpret_cast<const std::uint8_t*>(euro.data()) + 1, 2));
  EXPECT_TRUE(v.complete());
  EXPECT_TRUE(valid_utf8("plain ascii text that is longer than eight bytes"));
  EXPECT_TRUE(valid_utf8("\xF0\x9F\x98\x80"));
  EXPECT_FALSE(valid_utf8("\xC0\xAF"));          // overlong
  EXPECT_FALSE(valid_utf8("\xED\xA0\x80"));      // surrogate
  EXPECT_FALSE(valid_utf8("\xF4\x90\x80\x80"));  // above U+10FFFF
  EXPECT_FALSE(valid_utf8("\xE2\x82"));          // truncated
  EXPECT_FALSE(valid_utf8("abc\xFF"));
}

TEST(WsFrame, ClosePayloadChecks) {
  EXPECT_EQ(check_close_payload({}), CloseCheck::kValid);
  EXPECT_EQ(check_close_payload(bytes({0x03})), CloseCheck::kProtocolError);
  EXPECT_EQ(check_close_payload(bytes({0x03, 0xE8, 'o', 'k'})), CloseCheck::kValid);  // 1000
  EXPECT_EQ(check_close_payload(bytes({0x03, 0xED})), CloseCheck::kProtocolError);    // 1005
  EXPECT_EQ(check_close_payload(bytes({0x0F, 0xA0})), CloseCheck::kValid);            // 4000
  EXPECT_EQ(check_close_payload(bytes({0x03, 0xE8, 0xFF})), CloseCheck::kInvalidUtf8);
}

TEST(WsFrame, CloseFrameReasonIsCutToFit) {
  const std::string frame = make_close_frame(1008, std::string(300, 'x'));
  ASSERT_EQ(frame.size(), 2u + 125u);
  EXPECT_EQ(static_cast<std::uint8_t>(frame[0]), 0x88);
  EXPECT_EQ(static_cast<std::uint8_t>(frame[1]), 125);
  EXPECT_EQ(static_cast<std::uint8_t>(frame[2]), 0x03);
  EXPECT_EQ(static_cast<std::uint8_t>(frame[3]), 0xF0);
  // A multi-byte character is never split.
  const std::string cut = make_close_frame(1000, std::string(122, 'a') + "\xE2\x82\xAC");
  EXPECT_EQ(cut.size(), 2u + 2u + 122u);
}

}  // namespace
}  // namespace switchboard::core::ws
