#include "localfirst/directory.hpp"

#include <algorithm>

namespace switchboard::localfirst {

void Directory::connect(const std::string& peer, SocketId socket) {
  find_or_register(peer, socket).second.current = socket;
}

std::vector<Introduction> Directory::join(const std::string& peer, SocketId socket,
                                          std::span<const std::string> ids) {
  PeerEntry& self = find_or_register(peer, socket);
  Peer& record = self.second;
  record.has_set = true;
  for (const std::string& id : ids) {
    if (holders_[id].insert(&self).second) record.document_ids.push_back(id);
  }

  // Walking the holders of this peer's ids in set order gives each other peer its intersection
  // in this peer's order, and touches only peers that share something.
  struct Match {
    const PeerEntry* other;
    std::vector<std::string> common;
  };
  std::vector<Match> matches;
  std::unordered_map<const PeerEntry*, std::size_t> match_of;
  for (const std::string& id : record.document_ids) {
    for (const PeerEntry* other : holders_.find(id)->second) {
      if (other == &self) continue;
      const auto [it, inserted] = match_of.try_emplace(other, matches.size());
      if (inserted) matches.push_back({other, {}});
      matches[it->second].common.push_back(id);
    }
  }
  peers_examined_ += matches.size();
  std::ranges::sort(matches, {}, [](const Match& m) { return m.other->second.registration; });

  std::vector<Introduction> introductions;
  introductions.reserve(2 * matches.size());
  for (Match& match : matches) {
    introductions.push_back({record.current, match.other->first, match.common});
    introductions.push_back({match.other->second.current, self.first, std::move(match.common)});
  }
  return introductions;
}

void Directory::leave(const std::string& peer, std::span<const std::string> ids) {
  const auto it = peers_.find(peer);
  if (it == peers_.end() || !it->second.has_set) return;
  bool removed = false;
  for (const std::string& id : ids) removed |= unindex(*it, id);
  if (!removed) return;
  std::erase_if(it->second.document_ids,
                [this, &it](const std::string& id) { return !holds(*it, id); });
}

void Directory::disconnect(const std::string& peer, SocketId socket) {
  const auto it = peers_.find(peer);
  if (it == peers_.end() || it->second.current != socket) return;
  for (const std::string& id : it->second.document_ids) unindex(*it, id);
  peers_.erase(it);
}

Directory::Snapshot Directory::snapshot() const {
  std::vector<const PeerEntry*> ordered;
  ordered.reserve(peers_.size());
  for (const PeerEntry& entry : peers_) ordered.push_back(&entry);
  std::ranges::sort(ordered, {}, [](const PeerEntry* e) { return e->second.registration; });

  Snapshot snapshot;
  for (const PeerEntry* entry : ordered) {
    snapshot.peers.push_back(entry->first);
    if (entry->second.has_set) {
      snapshot.document_ids.emplace_back(entry->first, entry->second.document_ids);
    }
  }
  return snapshot;
}

Directory::PeerEntry& Directory::find_or_register(const std::string& peer, SocketId socket) {
  const auto [it, inserted] = peers_.try_emplace(peer);
  if (inserted) {
    it->second.current = socket;
    it->second.registration = next_registration_++;
  }
  return *it;
}

bool Directory::holds(const PeerEntry& entry, const std::string& document_id) const {
  const auto it = holders_.find(document_id);
  return it != holders_.end() && it->second.contains(&entry);
}

bool Directory::unindex(const PeerEntry& entry, const std::string& document_id) {
  const auto it = holders_.find(document_id);
  if (it == holders_.end() || it->second.erase(&entry) == 0) return false;
  if (it->second.empty()) holders_.erase(it);
  return true;
}

}  // namespace switchboard::localfirst
