#include "localfirst/directory.hpp"

#include <gtest/gtest.h>

#include <ostream>
#include <string>
#include <tuple>
#include <vector>

namespace switchboard::localfirst {
namespace {

using Ids = std::vector<std::string>;

// An Introduction that gtest can compare and print.
struct Sent {
  SocketId to;
  std::string peer_id;
  Ids document_ids;
  bool operator==(const Sent&) const = default;
};

void PrintTo(const Sent& sent, std::ostream* out) {
  *out << "{to " << sent.to << ", " << sent.peer_id << ", [";
  for (const std::string& id : sent.document_ids) *out << id << ' ';
  *out << "]}";
}

std::vector<Sent> sent(const std::vector<Introduction>& introductions) {
  std::vector<Sent> out;
  out.reserve(introductions.size());
  for (const Introduction& i : introductions) out.push_back({i.to, i.peer_id, i.document_ids});
  return out;
}

std::vector<Sent> join(Directory& directory, const std::string& peer, SocketId socket,
                       const Ids& ids) {
  return sent(directory.join(peer, socket, ids));
}

using Sets = std::vector<std::pair<std::string, Ids>>;

TEST(Directory, WorkedExampleOfSection45) {
  Directory directory;
  directory.connect("P", 1);
  directory.connect("Q", 2);
  EXPECT_TRUE(join(directory, "P", 1, {"x", "y"}).empty());
  EXPECT_EQ(join(directory, "Q", 2, {"y", "x", "z"}),
            (std::vector<Sent>{{2, "P", {"y", "x"}}, {1, "Q", {"y", "x"}}}));
  const std::vector<Sent> whole = {{1, "Q", {"x", "y", "z"}}, {2, "P", {"x", "y", "z"}}};
  EXPECT_EQ(join(directory, "P", 1, {"z"}), whole);
  EXPECT_EQ(join(directory, "P", 1, {"z"}), whole);
  EXPECT_EQ(join(directory, "P", 1, {}), whole);
  EXPECT_EQ(directory.snapshot().document_ids,
            (Sets{{"P", {"x", "y", "z"}}, {"Q", {"y", "x", "z"}}}));
}

TEST(Directory, JoinWithoutOverlapSendsNothing) {
  Directory directory;
  directory.connect("P", 1);
  directory.connect("Q", 2);
  EXPECT_TRUE(join(directory, "P", 1, {"a"}).empty());
  EXPECT_TRUE(join(directory, "Q", 2, {"b", "c"}).empty());
  EXPECT_TRUE(join(directory, "Q", 2, {}).empty());
}

TEST(Directory, JoinDeduplicatesFirstOccurrenceWins) {
  Directory directory;
  directory.connect("P", 1);
  join(directory, "P", 1, {"a", "b", "a"});
  join(directory, "P", 1, {"c", "b", "c", "d"});
  EXPECT_EQ(directory.snapshot().document_ids, (Sets{{"P", {"a", "b", "c", "d"}}}));
}

TEST(Directory, IntroductionsFollowRegistrationOrder) {
  Directory directory;
  directory.connect("A", 1);
  directory.connect("B", 2);
  directory.connect("C", 3);
  directory.connect("D", 4);
  join(directory, "D", 4, {"d"});
  join(directory, "C", 3, {"d"});
  join(directory, "B", 2, {"e", "d"});
  const std::vector<Sent> expected = {{1, "B", {"d", "e"}}, {2, "A", {"d", "e"}}, {1, "C", {"d"}},
                                      {3, "A", {"d"}},      {1, "D", {"d"}},      {4, "A", {"d"}}};
  EXPECT_EQ(join(directory, "A", 1, {"d", "e"}), expected);
  // Registering again moves B to the end.
  directory.disconnect("B", 2);
  directory.connect("B", 5);
  join(directory, "B", 5, {"d"});
  const std::vector<Sent> reordered = {{1, "C", {"d"}}, {3, "A", {"d"}}, {1, "D", {"d"}},
                                       {4, "A", {"d"}}, {1, "B", {"d"}}, {5, "A", {"d"}}};
  EXPECT_EQ(join(directory, "A", 1, {}), reordered);
}

TEST(Directory, LeaveRemovesIdsAndKeepsOrder) {
  Directory directory;
  directory.connect("P", 1);
  directory.connect("Q", 2);
  join(directory, "P", 1, {"x", "y", "z", "w"});
  directory.leave("P", Ids{"y", "w", "never-joined"});
  EXPECT_EQ(directory.snapshot().document_ids, (Sets{{"P", {"x", "z"}}}));
  EXPECT_TRUE(join(directory, "Q", 2, {"y", "w"}).empty());
  EXPECT_EQ(join(directory, "Q", 2, {"z"}), (std::vector<Sent>{{2, "P", {"z"}}, {1, "Q", {"z"}}}));
}

TEST(Directory, LeaveWithoutJoinCreatesNoSet) {
  Directory directory;
  directory.connect("P", 1);
  directory.leave("P", Ids{"x"});
  directory.leave("P", Ids{});
  directory.leave("nobody", Ids{"x"});
  const Directory::Snapshot snapshot = directory.snapshot();
  EXPECT_EQ(snapshot.peers, Ids{"P"});
  EXPECT_TRUE(snapshot.document_ids.empty());
  EXPECT_EQ(directory.peer_count(), 1U);
  EXPECT_EQ(directory.document_count(), 0U);
}

TEST(Directory, Rule1NewSocketBecomesCurrent) {
  Directory directory;
  directory.connect("P", 1);
  directory.connect("Q", 2);
  join(directory, "P", 1, {"d"});
  directory.connect("P", 3);
  EXPECT_EQ(directory.snapshot().peers, (Ids{"P", "Q"}));
  EXPECT_EQ(directory.snapshot().document_ids, (Sets{{"P", {"d"}}}));
  EXPECT_EQ(join(directory, "Q", 2, {"d"}), (std::vector<Sent>{{2, "P", {"d"}}, {3, "Q", {"d"}}}));
}

TEST(Directory, Rule2OldSocketUpdatesTheSharedSet) {
  Directory directory;
  directory.connect("P", 1);
  directory.connect("P", 2);
  directory.connect("Q", 3);
  join(directory, "Q", 3, {"a", "b"});
  EXPECT_EQ(join(directory, "P", 1, {"a"}), (std::vector<Sent>{{2, "Q", {"a"}}, {3, "P", {"a"}}}));
  join(directory, "P", 2, {"b", "c"});
  directory.leave("P", Ids{"a"});
  EXPECT_EQ(directory.snapshot().document_ids, (Sets{{"P", {"b", "c"}}, {"Q", {"a", "b"}}}));
}

TEST(Directory, Rule3ClosingAnOldSocketChangesNothing) {
  Directory directory;
  directory.connect("P", 1);
  directory.connect("P", 2);
  directory.connect("Q", 3);
  join(directory, "P", 1, {"d"});
  directory.disconnect("P", 1);
  directory.disconnect("P", 99);
  directory.disconnect("nobody", 1);
  EXPECT_EQ(directory.snapshot().peers, (Ids{"P", "Q"}));
  EXPECT_EQ(directory.snapshot().document_ids, (Sets{{"P", {"d"}}}));
  EXPECT_EQ(join(directory, "Q", 3, {"d"}), (std::vector<Sent>{{3, "P", {"d"}}, {2, "Q", {"d"}}}));
}

TEST(Directory, Rule3ClosingTheCurrentSocketRemovesPeerAndSet) {
  Directory directory;
  directory.connect("P", 1);
  directory.connect("P", 2);
  directory.connect("Q", 3);
  join(directory, "P", 2, {"d"});
  directory.disconnect("P", 2);
  EXPECT_EQ(directory.snapshot().peers, Ids{"Q"});
  EXPECT_TRUE(directory.snapshot().document_ids.empty());
  EXPECT_EQ(directory.document_count(), 0U);
  EXPECT_TRUE(join(directory, "Q", 3, {"d"}).empty());
  // Leave from the still-open old socket must not bring the peer back.
  directory.leave("P", Ids{"d"});
  EXPECT_EQ(directory.snapshot().peers, Ids{"Q"});
}

TEST(Directory, Rule4JoinOnAnOldSocketMakesItCurrentWithAFreshSet) {
  Directory directory;
  directory.connect("P", 1);
  directory.connect("P", 2);
  directory.connect("Q", 3);
  join(directory, "P", 2, {"a"});
  join(directory, "Q", 3, {"a", "b"});
  directory.disconnect("P", 2);
  EXPECT_EQ(join(directory, "P", 1, {"b"}), (std::vector<Sent>{{1, "Q", {"b"}}, {3, "P", {"b"}}}));
  EXPECT_EQ(directory.snapshot().peers, (Ids{"Q", "P"}));
  EXPECT_EQ(directory.snapshot().document_ids, (Sets{{"Q", {"a", "b"}}, {"P", {"b"}}}));
  directory.disconnect("P", 1);
  EXPECT_EQ(directory.peer_count(), 1U);
}

TEST(Directory, SnapshotAsInSection9) {
  Directory directory;
  EXPECT_TRUE(directory.snapshot().peers.empty());
  directory.connect("alice", 1);
  directory.connect("bob", 2);
  directory.connect("carol", 3);
  EXPECT_EQ(directory.snapshot().peers, (Ids{"alice", "bob", "carol"}));
  EXPECT_TRUE(directory.snapshot().document_ids.empty());
  join(directory, "alice", 1, {"ambitious-mongoose"});
  join(directory, "bob", 2, {"x"});
  directory.leave("bob", Ids{"x"});
  EXPECT_EQ(directory.snapshot().document_ids,
            (Sets{{"alice", {"ambitious-mongoose"}}, {"bob", {}}}));
  EXPECT_EQ(directory.peer_count(), 3U);
}

TEST(Directory, IndexStaysExact) {
  Directory directory;
  directory.connect("P", 1);
  directory.connect("Q", 2);
  join(directory, "P", 1, {"a", "b", "c"});
  join(directory, "Q", 2, {"b", "c", "d"});
  EXPECT_EQ(directory.document_count(), 4U);
  directory.leave("P", Ids{"a", "b"});
  EXPECT_EQ(directory.document_count(), 3U);
  directory.leave("Q", Ids{"b"});
  EXPECT_EQ(directory.document_count(), 2U);
  directory.disconnect("Q", 2);
  EXPECT_EQ(directory.document_count(), 1U);
  directory.leave("P", Ids{"c"});
  EXPECT_EQ(directory.document_count(), 0U);
  join(directory, "P", 1, {"c"});
  EXPECT_EQ(directory.document_count(), 1U);
  directory.disconnect("P", 1);
  EXPECT_EQ(directory.document_count(), 0U);
  EXPECT_EQ(directory.peer_count(), 0U);
}

TEST(Directory, JoinExaminesOnlyPeersSharingItsDocuments) {
  Directory directory;
  SocketId socket = 0;
  for (int i = 0; i < 10000; ++i) {
    const std::string peer = "peer" + std::to_string(i);
    directory.connect(peer, ++socket);
    join(directory, peer, socket, {"own" + std::to_string(i)});
  }
  directory.connect("A", ++socket);
  directory.connect("B", ++socket);
  join(directory, "A", socket - 1, {"shared", "ownA"});
  EXPECT_EQ(directory.peer_count(), 10002U);

  const std::uint64_t before = directory.peers_examined();
  EXPECT_EQ(join(directory, "B", socket, {"ownB", "shared"}),
            (std::vector<Sent>{{socket, "A", {"shared"}}, {socket - 1, "B", {"shared"}}}));
  EXPECT_EQ(directory.peers_examined() - before, 1U);
  EXPECT_TRUE(join(directory, "peer7", 8, {}).empty());
  EXPECT_EQ(directory.peers_examined() - before, 1U);
}

TEST(Directory, APeerSharingSeveralDocumentsIsExaminedOnce) {
  Directory directory;
  directory.connect("P", 1);
  directory.connect("Q", 2);
  join(directory, "Q", 2, {"c", "b", "a"});
  const std::uint64_t before = directory.peers_examined();
  EXPECT_EQ(join(directory, "P", 1, {"a", "b", "c"}),
            (std::vector<Sent>{{1, "Q", {"a", "b", "c"}}, {2, "P", {"a", "b", "c"}}}));
  EXPECT_EQ(directory.peers_examined() - before, 1U);
}

}  // namespace
}  // namespace switchboard::localfirst
