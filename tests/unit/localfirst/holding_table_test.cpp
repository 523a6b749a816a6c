// Held pipe sockets and tombstones (localfirst sections 5.1, 5.5, 5.6) without sockets.
#include "localfirst/holding_table.hpp"

#include <gtest/gtest.h>

namespace switchboard::localfirst {
namespace {

struct FakePipe {
  int id;
};
using Table = HoldingTable<FakePipe>;

std::shared_ptr<FakePipe> pipe(int id) {
  return std::make_shared<FakePipe>(FakePipe{id});
}

TEST(HoldingTable, ReciprocalIsTakenOnce) {
  Table table(256, 65536);
  const PipeKey key{"alice", "bob", "doc"};
  EXPECT_TRUE(table.hold(key, pipe(1)).empty());
  EXPECT_EQ(table.held(), 1u);
  EXPECT_EQ(table.take(key.reciprocal()), nullptr) << "bob's own key is not alice's";
  const auto taken = table.take(PipeKey{"bob", "alice", "doc"}.reciprocal());
  ASSERT_NE(taken, nullptr);
  EXPECT_EQ(taken->id, 1);
  EXPECT_EQ(table.take(key), nullptr);
  EXPECT_EQ(table.held(), 0u);
}

TEST(HoldingTable, SameKeyReplacesTheOlderSocket) {
  Table table(256, 65536);
  const PipeKey key{"a", "b", "d"};
  table.hold(key, pipe(1));
  const auto displaced = table.hold(key, pipe(2));
  ASSERT_EQ(displaced.size(), 1u);
  EXPECT_EQ(displaced[0].pipe->id, 1);
  EXPECT_EQ(displaced[0].reason, "replaced by a newer connection");
  EXPECT_EQ(table.held(), 1u);
  EXPECT_EQ(table.take(key)->id, 2);
}

TEST(HoldingTable, PerPeerBoundClosesTheOldestOfThatPeer) {
  Table table(3, 65536);
  table.hold({"y", "x", "d0"}, pipe(100));
  for (int i = 0; i < 3; ++i)
    EXPECT_TRUE(table.hold({"x", "p", std::to_string(i)}, pipe(i)).empty());
  const auto displaced = table.hold({"x", "p", "3"}, pipe(3));
  ASSERT_EQ(displaced.size(), 1u);
  EXPECT_EQ(displaced[0].pipe->id, 0) << "the oldest held socket of peer x";
  EXPECT_EQ(displaced[0].reason, "too many held connections");
  EXPECT_EQ(table.held(), 4u);
  EXPECT_EQ(table.take({"y", "x", "d0"})->id, 100) << "another peer is not touched";
}

TEST(HoldingTable, GlobalBoundClosesTheOldestOfAll) {
  Table table(256, 2);
  table.hold({"a", "b", "d"}, pipe(1));
  table.hold({"c", "b", "d"}, pipe(2));
  const auto displaced = table.hold({"e", "b", "d"}, pipe(3));
  ASSERT_EQ(displaced.size(), 1u);
  EXPECT_EQ(displaced[0].pipe->id, 1);
  EXPECT_EQ(table.held(), 2u);
}

TEST(HoldingTable, TombstonesAreMarkedOnlyForTheirOwnEntry) {
  Table table(256, 65536);
  const PipeKey key{"a", "b", "d"};
  auto first = pipe(1);
  table.hold(key, first);
  EXPECT_TRUE(table.mark_tombstone(key, first.get()));
  EXPECT_EQ(table.held(), 0u);
  EXPECT_EQ(table.tombstones(), 1u);
  auto second = pipe(2);
  table.hold(key, second);  // replaces the tombstone
  EXPECT_EQ(table.tombstones(), 0u);
  EXPECT_FALSE(table.mark_tombstone(key, first.get())) << "a replaced pipe no longer owns the key";
  EXPECT_FALSE(table.remove(key, first.get()));
  EXPECT_TRUE(table.remove(key, second.get()));
  EXPECT_EQ(table.held(), 0u);
}

TEST(HoldingTable, TakeAllEmptiesEverything) {
  Table table(256, 65536);
  table.hold({"a", "b", "d"}, pipe(1));
  table.hold({"b", "c", "d"}, pipe(2));
  table.mark_tombstone({"b", "c", "d"}, nullptr);
  EXPECT_EQ(table.take_all().size(), 2u);
  EXPECT_EQ(table.held(), 0u);
  EXPECT_TRUE(table.hold({"a", "b", "d"}, pipe(3)).empty());
}

}  // namespace
}  // namespace switchboard::localfirst
