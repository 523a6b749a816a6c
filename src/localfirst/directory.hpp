// Who is on the localfirst introduction service, which documents each peer wants, and which
// Introductions a Join produces (protocol sections 4.5, 4.6, 4.9 and 9). Pure state: the caller
// owns the sockets, sends the Introductions and holds the lock.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

namespace switchboard::localfirst {

using SocketId = std::uint64_t;  // an introduction socket, unique for the process lifetime

struct Introduction {
  SocketId to;          // the current socket of the peer being told
  std::string peer_id;  // the peer it is introduced to
  std::vector<std::string> document_ids;
};

class Directory {
 public:
  // A socket for `peer` finished its upgrade: it becomes the peer's current socket (rule 1). The
  // old current socket stays open (the caller does not close it) and stays usable for Join/Leave.
  void connect(const std::string& peer, SocketId socket);
  // A valid Join from `socket` (an open socket of `peer`). If the peer has no current socket,
  // `socket` becomes current first (rule 4). Then section 4.5: the ids are appended to the peer's
  // set (deduplicated, first occurrence wins), and for each other peer B sharing at least one id,
  // in B's registration order, the whole intersection (in this peer's set order) goes to this peer
  // about B, then to B about this peer. Returns the Introductions in send order.
  std::vector<Introduction> join(const std::string& peer, SocketId socket,
                                 std::span<const std::string> ids);
  // Section 4.6: removes the ids from the peer's set, the rest keeps its order. Without a set this
  // is a no-op and creates none. Nothing is sent.
  void leave(const std::string& peer, std::span<const std::string> ids);
  // Rule 3: only the close of the peer's current socket removes the registration and the set.
  void disconnect(const std::string& peer, SocketId socket);

  struct Snapshot {
    // Registered peers (those with a current socket), each once, in registration order.
    std::vector<std::string> peers;
    // Peers with a set (a valid Join while registered), in registration order; ids in set order.
    std::vector<std::pair<std::string, std::vector<std::string>>> document_ids;
  };
  Snapshot snapshot() const;
  std::size_t peer_count() const { return peers_.size(); }
  // Size of the peer's set (0 without one).
  std::size_t set_size(const std::string& peer) const {
    const auto it = peers_.find(peer);
    return it == peers_.end() ? 0 : it->second.document_ids.size();
  }
  // Distinct documentIds held by at least one peer.
  std::size_t document_count() const { return holders_.size(); }
  // Peers looked at by join() so far (each candidate B counted once per join): lets a test check
  // that a Join costs time proportional to the peers sharing its documents, not to all peers.
  std::uint64_t peers_examined() const { return peers_examined_; }

 private:
  // A record exists exactly while the peer is registered.
  struct Peer {
    SocketId current = 0;
    std::uint64_t registration = 0;         // orders peers for Introductions and the snapshot
    bool has_set = false;                   // a valid Join arrived since registration (section 9)
    std::vector<std::string> document_ids;  // set order; membership is checked in holders_
  };
  // Node-based map: the entries stay put, so holders_ can point at them.
  using PeerMap = std::unordered_map<std::string, Peer>;
  using PeerEntry = PeerMap::value_type;

  // The peer's record; a new registration (with `socket` as current) if it has none.
  PeerEntry& find_or_register(const std::string& peer, SocketId socket);
  bool holds(const PeerEntry& entry, const std::string& document_id) const;
  // Drops `entry` from the holders of `document_id`, and the index entry once nobody holds it.
  // False when `entry` did not hold it.
  bool unindex(const PeerEntry& entry, const std::string& document_id);

  PeerMap peers_;
  // documentId -> the peers whose set contains it; never holds an empty set.
  std::unordered_map<std::string, std::unordered_set<const PeerEntry*>> holders_;
  std::uint64_t next_registration_ = 0;
  std::uint64_t peers_examined_ = 0;
};

}  // namespace switchboard::localfirst
