#include "core/text.hpp"

#include <gtest/gtest.h>

namespace switchboard::core {
namespace {

TEST(SplitCommaList, SplitsAndTrims) {
  EXPECT_EQ(split_comma_list("id1, id2 ,id3"), (std::vector<std::string>{"id1", "id2", "id3"}));
  EXPECT_EQ(split_comma_list(" ,\t, a\t,,b "), (std::vector<std::string>{"a", "b"}));
  EXPECT_TRUE(split_comma_list("").empty());
  EXPECT_TRUE(split_comma_list(" , ").empty());
  EXPECT_EQ(split_comma_list("one"), (std::vector<std::string>{"one"}));
}

TEST(Text, CaseInsensitiveComparisons) {
  EXPECT_TRUE(iequals("Sec-WebSocket-Key", "sec-websocket-key"));
  EXPECT_FALSE(iequals("abc", "abcd"));
  EXPECT_TRUE(istarts_with("/$HC/hc1", "/$hc/"));
  EXPECT_EQ(ascii_lowered("MiXeD-9"), "mixed-9");
  EXPECT_EQ(trim(" \tx y\t "), "x y");
}

}  // namespace
}  // namespace switchboard::core
