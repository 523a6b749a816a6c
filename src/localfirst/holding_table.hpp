// Pipe sockets waiting for their reciprocal (protocol sections 5.1, 5.5, 5.6): held sockets and
// tombstones by pipe key, with the per-peer and global bounds. Not locked: the owner holds a mutex.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <tuple>
#include <unordered_map>
#include <vector>

namespace switchboard::localfirst {

struct PipeKey {
  std::string local;
  std::string remote;
  std::string document;

  PipeKey reciprocal() const { return {remote, local, document}; }
  bool operator<(const PipeKey& other) const {
    return std::tie(local, remote, document) < std::tie(other.local, other.remote, other.document);
  }
};

template <typename Pipe>
class HoldingTable {
 public:
  struct Displaced {
    std::shared_ptr<Pipe> pipe;
    std::string_view reason;  // the close it gets
  };

  HoldingTable(std::size_t max_per_peer, std::size_t max_total)
      : max_per_peer_(max_per_peer), max_total_(max_total) {}

  // Removes and returns what waits under `key` (held socket or tombstone), if anything.
  std::shared_ptr<Pipe> take(const PipeKey& key) {
    const auto it = entries_.find(key);
    if (it == entries_.end()) return nullptr;
    auto pipe = it->second.pipe;
    erase(it);
    return pipe;
  }

  // Holds `pipe` under `key`. Returns the pipes it displaces: one with the same key (section
  // 5.6) and, to stay within the bounds, the oldest of the same local peer or, globally, the
  // oldest of all (section 5.5).
  std::vector<Displaced> hold(const PipeKey& key, std::shared_ptr<Pipe> pipe) {
    std::vector<Displaced> displaced;
    if (auto replaced = take(key)) displaced.push_back({replaced, kReplaced});
    const auto mine = by_peer_.find(key.local);
    if (max_per_peer_ > 0 && mine != by_peer_.end() && mine->second.size() >= max_per_peer_) {
      const PipeKey oldest = by_age_.at(*mine->second.begin());
      displaced.push_back({take(oldest), kTooMany});
    }
    if (max_total_ > 0 && entries_.size() >= max_total_) {
      const PipeKey oldest = by_age_.begin()->second;
      displaced.push_back({take(oldest), kTooMany});
    }
    const std::uint64_t seq = next_seq_++;
    by_peer_[key.local].insert(seq);
    by_age_.emplace(seq, key);
    entries_.emplace(key, Entry{std::move(pipe), seq, false});
    return displaced;
  }

  // The held socket under `key` closed; true if `pipe` is still the one held there.
  bool mark_tombstone(const PipeKey& key, const Pipe* pipe) {
    const auto it = entries_.find(key);
    if (it == entries_.end() || it->second.pipe.get() != pipe) return false;
    if (!it->second.tombstone) {
      it->second.tombstone = true;
      ++tombstones_;
    }
    return true;
  }

  // Removes the entry under `key` if it is `pipe`.
  bool remove(const PipeKey& key, const Pipe* pipe) {
    const auto it = entries_.find(key);
    if (it == entries_.end() || it->second.pipe.get() != pipe) return false;
    erase(it);
    return true;
  }

  std::vector<std::shared_ptr<Pipe>> take_all() {
    std::vector<std::shared_ptr<Pipe>> all;
    all.reserve(entries_.size());
    for (auto& [key, entry] : entries_) all.push_back(std::move(entry.pipe));
    entries_.clear();
    by_age_.clear();
    by_peer_.clear();
    tombstones_ = 0;
    return all;
  }

  std::size_t held() const { return entries_.size() - tombstones_; }
  std::size_t tombstones() const { return tombstones_; }

  static constexpr std::string_view kReplaced = "replaced by a newer connection";
  static constexpr std::string_view kTooMany = "too many held connections";

 private:
  struct Entry {
    std::shared_ptr<Pipe> pipe;
    std::uint64_t seq = 0;
    bool tombstone = false;
  };
  using Entries = std::map<PipeKey, Entry>;

  void erase(typename Entries::iterator it) {
    const auto peer = by_peer_.find(it->first.local);
    peer->second.erase(it->second.seq);
    if (peer->second.empty()) by_peer_.erase(peer);
    by_age_.erase(it->second.seq);
    if (it->second.tombstone) --tombstones_;
    entries_.erase(it);
  }

  std::size_t max_per_peer_;
  std::size_t max_total_;
  Entries entries_;
  std::map<std::uint64_t, PipeKey> by_age_;                           // oldest first
  std::unordered_map<std::string, std::set<std::uint64_t>> by_peer_;  // local peer -> seqs
  std::size_t tombstones_ = 0;
  std::uint64_t next_seq_ = 0;
};

}  // namespace switchboard::localfirst
