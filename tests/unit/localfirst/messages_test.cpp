#include "localfirst/messages.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace switchboard::localfirst {
namespace {

using Ids = std::vector<std::string>;

// "de0002 a4..." => bytes; spaces are for reading only.
std::string from_hex(std::string_view hex) {
  std::string out;
  int high = -1;
  for (char c : hex) {
    if (c == ' ') continue;
    const int nibble = c <= '9' ? c - '0' : c - 'a' + 10;
    if (high < 0) {
      high = nibble;
    } else {
      out.push_back(static_cast<char>(high * 16 + nibble));
      high = -1;
    }
  }
  return out;
}

std::string big_endian(std::uint64_t value, int bytes) {
  std::string out;
  for (int shift = 8 * (bytes - 1); shift >= 0; shift -= 8) {
    out.push_back(static_cast<char>((value >> shift) & 0xff));
  }
  return out;
}

// Hand-built MessagePack headers, independent of the encoder under test.
enum class Width { kFix, k8, k16, k32 };

std::string str(std::string_view text, Width width = Width::kFix) {
  switch (width) {
    case Width::kFix:
      return static_cast<char>(0xa0 | text.size()) + std::string(text);
    case Width::k8:
      return "\xd9" + big_endian(text.size(), 1) + std::string(text);
    case Width::k16:
      return "\xda" + big_endian(text.size(), 2) + std::string(text);
    case Width::k32:
      return "\xdb" + big_endian(text.size(), 4) + std::string(text);
  }
  return {};
}

std::string array_header(std::size_t n, Width width = Width::kFix) {
  switch (width) {
    case Width::kFix:
      return std::string(1, static_cast<char>(0x90 | n));
    case Width::k16:
      return "\xdc" + big_endian(n, 2);
    default:
      return "\xdd" + big_endian(n, 4);
  }
}

std::string map_header(std::size_t n, Width width = Width::kFix) {
  switch (width) {
    case Width::kFix:
      return std::string(1, static_cast<char>(0x80 | n));
    case Width::k16:
      return "\xde" + big_endian(n, 2);
    default:
      return "\xdf" + big_endian(n, 4);
  }
}

std::string join_frame(const Ids& ids) {
  std::string frame = map_header(2) + str("type") + str("Join") + str("documentIds");
  frame += array_header(ids.size());
  for (const std::string& id : ids) frame += str(id);
  return frame;
}

void expect_message(const std::optional<ClientMessage>& message, MessageType type, const Ids& ids) {
  ASSERT_TRUE(message.has_value());
  EXPECT_EQ(message->type, type);
  EXPECT_EQ(message->document_ids, ids);
}

constexpr std::string_view kJoinHex =
    "de0002 a474797065 a44a6f696e ab646f63756d656e74496473 91 "
    "b2616d626974696f75732d6d6f6e676f6f7365";

TEST(DecodeClientMessage, ReferenceFrames) {
  expect_message(decode_client_message(from_hex(kJoinHex)), MessageType::kJoin,
                 {"ambitious-mongoose"});
  expect_message(decode_client_message(from_hex("de0002 a474797065 a54c65617665 "
                                                "ab646f63756d656e74496473 91 "
                                                "b2616d626974696f75732d6d6f6e676f6f7365")),
                 MessageType::kLeave, {"ambitious-mongoose"});
  expect_message(decode_client_message(from_hex("de0001 a474797065 a9486561727462656174")),
                 MessageType::kHeartbeat, {});
  expect_message(decode_client_message(
                     from_hex("de0002 a474797065 a44a6f696e ab646f63756d656e74496473 91 a164")),
                 MessageType::kJoin, {"d"});
}

TEST(DecodeClientMessage, FixmapIntroductionIsNotAClientMessage) {
  expect_message(decode_client_message(from_hex("83 a474797065 ac496e74726f64756374696f6e "
                                                "a6706565724964 a3626f62 "
                                                "ab646f63756d656e74496473 91 a164")),
                 MessageType::kOther, {});
}

TEST(DecodeClientMessage, HeartbeatsAndOtherTypes) {
  const auto typed = [](std::string_view type) { return map_header(1) + str("type") + str(type); };
  expect_message(decode_client_message(typed("\u2764\ufe0f")), MessageType::kHeartbeat, {});
  expect_message(decode_client_message(typed("\u2764")), MessageType::kOther, {});
  expect_message(decode_client_message(typed("Welcome")), MessageType::kOther, {});
  expect_message(decode_client_message(typed("join")), MessageType::kOther, {});
  expect_message(decode_client_message(typed("")), MessageType::kOther, {});
  // documentIds matters only for Join and Leave.
  expect_message(decode_client_message(map_header(2) + str("type") + str("Heartbeat") +
                                       str("documentIds") + "\x07"),
                 MessageType::kHeartbeat, {});
}

TEST(DecodeClientMessage, EveryValidEncodingOfAJoin) {
  const Ids ids = {"ambitious-mongoose", "d"};
  for (Width map : {Width::kFix, Width::k16, Width::k32}) {
    for (Width string : {Width::kFix, Width::k8, Width::k16, Width::k32}) {
      for (Width array : {Width::kFix, Width::k16, Width::k32}) {
        SCOPED_TRACE(testing::Message()
                     << "map " << static_cast<int>(map) << " str " << static_cast<int>(string)
                     << " array " << static_cast<int>(array));
        std::string frame =
            map_header(2, map) + str("documentIds", string) + array_header(ids.size(), array);
        for (const std::string& id : ids) frame += str(id, string);
        frame += str("type", string) + str("Join", string);
        expect_message(decode_client_message(frame), MessageType::kJoin, ids);
      }
    }
  }
}

TEST(DecodeClientMessage, EmptyDocumentIdsIsValid) {
  expect_message(decode_client_message(join_frame({})), MessageType::kJoin, {});
  expect_message(decode_client_message(join_frame({""})), MessageType::kJoin, {""});
}

TEST(DecodeClientMessage, LongValues) {
  const std::string long_id(70000, 'x');
  Ids many;
  for (int i = 0; i < 20; ++i) many.push_back("doc" + std::to_string(i));
  expect_message(
      decode_client_message(map_header(2) + str("type") + str("Join") + str("documentIds") +
                            array_header(1) + str(long_id, Width::k32)),
      MessageType::kJoin, {long_id});
  std::string frame = map_header(2) + str("type") + str("Leave") + str("documentIds") +
                      array_header(many.size(), Width::k16);
  for (const std::string& id : many) frame += str(id);
  expect_message(decode_client_message(frame), MessageType::kLeave, many);
}

TEST(DecodeClientMessage, NotMessagePackOrNotOneValue) {
  EXPECT_FALSE(decode_client_message(from_hex("010203")));
  EXPECT_FALSE(decode_client_message(""));
  EXPECT_FALSE(decode_client_message(R"({"type":"Join","documentIds":["d"]})"));
  EXPECT_FALSE(decode_client_message(from_hex("c1")));
  const std::string join = from_hex(kJoinHex);
  EXPECT_FALSE(decode_client_message(join + '\0'));
  EXPECT_FALSE(decode_client_message(join + join));
  for (std::size_t n = 0; n < join.size(); ++n) {
    EXPECT_FALSE(decode_client_message(join.substr(0, n))) << "truncated to " << n;
  }
}

TEST(DecodeClientMessage, NotAMapWithAStringType) {
  EXPECT_FALSE(decode_client_message(array_header(1) + join_frame({"d"})));
  EXPECT_FALSE(decode_client_message(str("Join")));
  EXPECT_FALSE(decode_client_message(from_hex("c0")));
  EXPECT_FALSE(decode_client_message(map_header(0)));
  EXPECT_FALSE(decode_client_message(map_header(1) + str("documentIds") + array_header(0)));
  EXPECT_FALSE(decode_client_message(map_header(1) + str("type") + "\x05"));
  EXPECT_FALSE(decode_client_message(map_header(1) + str("type") + from_hex("c404 4a6f696e")));
  EXPECT_FALSE(decode_client_message(map_header(1) + str("type") + array_header(1) + str("Join")));
  EXPECT_FALSE(decode_client_message(map_header(1) + str("type") + from_hex("c0")));
}

TEST(DecodeClientMessage, JoinAndLeaveNeedAnArrayOfStrings) {
  const std::string join = map_header(2) + str("type") + str("Join") + str("documentIds");
  EXPECT_FALSE(decode_client_message(map_header(1) + str("type") + str("Join")));
  EXPECT_FALSE(decode_client_message(map_header(1) + str("type") + str("Leave")));
  EXPECT_FALSE(decode_client_message(join + str("d")));
  EXPECT_FALSE(decode_client_message(join + map_header(1) + str("d") + str("d")));
  EXPECT_FALSE(decode_client_message(join + from_hex("c0")));
  EXPECT_FALSE(decode_client_message(join + array_header(2) + str("d") + "\x01"));
  EXPECT_FALSE(decode_client_message(join + array_header(2) + str("d") + from_hex("c0")));
  EXPECT_FALSE(decode_client_message(join + array_header(1) + array_header(1) + str("d")));
  EXPECT_FALSE(decode_client_message(join + array_header(1) + map_header(0)));
  EXPECT_FALSE(decode_client_message(join + array_header(1) + from_hex("c401 64")));
  EXPECT_FALSE(decode_client_message(join + array_header(1) + from_hex("d4 01 64")));
  // An old README's form (local-first-web/relay issue #12).
  EXPECT_FALSE(decode_client_message(map_header(2) + str("type") + str("Join") + str("join") +
                                     array_header(1) + str("d")));
}

TEST(DecodeClientMessage, HugeClaimedLengthsFailFast) {
  const auto start = std::chrono::steady_clock::now();
  EXPECT_FALSE(decode_client_message(from_hex("dd ffffffff")));
  EXPECT_FALSE(decode_client_message(from_hex("df ffffffff")));
  EXPECT_FALSE(decode_client_message(from_hex("db ffffffff")));
  const std::string join = map_header(2) + str("type") + str("Join") + str("documentIds");
  EXPECT_FALSE(decode_client_message(join + from_hex("dd ffffffff")));
  EXPECT_FALSE(decode_client_message(join + from_hex("dd ffffffff") + str("d")));
  EXPECT_FALSE(decode_client_message(join + from_hex("dd ffffffff") + str("d") + str("e")));
  // msgpack-cxx throws on this one; the exception must not escape.
  EXPECT_FALSE(decode_client_message(map_header(1) + str("x") + from_hex("c9 ffffffff 01")));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(1));
}

TEST(DecodeClientMessage, UnknownAndNonStringKeysAreIgnored) {
  std::string frame = map_header(7, Width::k16);
  frame += str("extra") + map_header(2) + str("type") + str("Leave") + str("documentIds") +
           array_header(1) + "\x01";
  frame += str("type") + str("Join");
  frame += str("nested") + array_header(2) + array_header(1) + map_header(1) + str("type") +
           "\x02" + from_hex("cb 3ff0000000000000");
  frame += "\x05" + str("Leave");
  frame += array_header(1) + str("type") + str("Leave");
  frame += str("documentIds") + array_header(1) + str("d");
  frame += map_header(1) + str("documentIds") + array_header(0) + "\x07";
  expect_message(decode_client_message(frame), MessageType::kJoin, {"d"});
}

TEST(DecodeClientMessage, DeepNestingIsSkipped) {
  std::string frame = map_header(2) + str("type") + str("Heartbeat") + str("x");
  frame += std::string(100000, '\x91') + "\xc0";
  expect_message(decode_client_message(frame), MessageType::kHeartbeat, {});
}

TEST(DecodeClientMessage, RepeatedKeyLastWins) {
  const std::string ids = str("documentIds") + array_header(1) + str("d");
  expect_message(decode_client_message(map_header(3) + str("type") + str("Leave") + ids +
                                       str("type") + str("Join")),
                 MessageType::kJoin, {"d"});
  expect_message(decode_client_message(map_header(3) + str("type") + str("Join") + ids +
                                       str("documentIds") + array_header(2) + str("e") + str("f")),
                 MessageType::kJoin, {"e", "f"});
  expect_message(
      decode_client_message(map_header(3) + str("type") + "\x01" + ids + str("type") + str("Join")),
      MessageType::kJoin, {"d"});
  EXPECT_FALSE(decode_client_message(map_header(3) + str("type") + str("Join") + ids +
                                     str("documentIds") + str("e")));
  EXPECT_FALSE(decode_client_message(map_header(3) + str("type") + str("Join") + ids + str("type") +
                                     "\x01"));
  expect_message(decode_client_message(map_header(3) + str("type") + str("Join") +
                                       str("documentIds") + array_header(1) + "\x01" + ids),
                 MessageType::kJoin, {"d"});
}

TEST(EncodeIntroduction, ReferenceFrames) {
  const Ids ids = {"ambitious-mongoose"};
  EXPECT_EQ(encode_introduction("alice", ids),
            from_hex("de0003 a474797065 ac496e74726f64756374696f6e a6706565724964 a5616c696365 "
                     "ab646f63756d656e74496473 91 b2616d626974696f75732d6d6f6e676f6f7365"));
  EXPECT_EQ(encode_introduction("bob", ids),
            from_hex("de0003 a474797065 ac496e74726f64756374696f6e a6706565724964 a3626f62 "
                     "ab646f63756d656e74496473 91 b2616d626974696f75732d6d6f6e676f6f7365"));
}

TEST(EncodeIntroduction, LongerForms) {
  const std::string head = from_hex("de0003 a474797065 ac496e74726f64756374696f6e a6706565724964");
  const std::string ids_key = from_hex("ab646f63756d656e74496473");
  const std::string p32(32, 'p');
  const std::string p300(300, 'q');
  const std::string d70000(70000, 'r');
  EXPECT_EQ(encode_introduction(p32, {}), head + from_hex("d920") + p32 + ids_key + "\x90");
  EXPECT_EQ(encode_introduction(p300, {}), head + from_hex("da012c") + p300 + ids_key + "\x90");
  EXPECT_EQ(encode_introduction("a", std::vector<std::string>{d70000}),
            head + from_hex("a161") + ids_key + "\x91" + from_hex("db00011170") + d70000);

  Ids sixteen;
  std::string body;
  for (int i = 0; i < 16; ++i) {
    sixteen.push_back(std::string(1, static_cast<char>('a' + i)));
    body += from_hex("a1") + sixteen.back();
  }
  EXPECT_EQ(encode_introduction("a", sixteen),
            head + from_hex("a161") + ids_key + from_hex("dc0010") + body);
  EXPECT_EQ(encode_introduction("a", std::vector<std::string>(15, "x")).substr(head.size() + 14, 1),
            "\x9f");
  EXPECT_EQ(
      encode_introduction("a", std::vector<std::string>(70000, "")).substr(head.size() + 14, 5),
      from_hex("dd00011170"));
}

TEST(EncodeIntroduction, DecodesAsOtherType) {
  expect_message(decode_client_message(encode_introduction("bob", std::vector<std::string>{"d"})),
                 MessageType::kOther, {});
}

}  // namespace
}  // namespace switchboard::localfirst
