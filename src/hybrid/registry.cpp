#include "hybrid/registry.hpp"

#include <algorithm>
#include <random>

#include "core/encoding.hpp"

#include "core/request_head.hpp"
#include "hybrid/listener.hpp"

namespace switchboard::hybrid {
namespace {

std::string decode_segment(std::string_view raw) {
  return core::ascii_lowered(core::percent_decode(raw).value_or(std::string(raw)));
}

bool listed(const std::vector<std::string>& ids, const std::string& id) {
  return std::any_of(ids.begin(), ids.end(),
                     [&](const std::string& x) { return core::iequals(x, id); });
}

}  // namespace

std::string entity_key(std::string_view raw_path) {
  std::string key;
  std::size_t start = 0;
  while (true) {
    const auto slash = raw_path.find('/', start);
    key += decode_segment(raw_path.substr(start, slash - start));
    if (slash == std::string_view::npos) break;
    key += '/';
    start = slash + 1;
  }
  return key;
}

Registry::Registry(const Settings& settings, std::size_t listener_high_water)
    : settings_(settings), listener_high_water_(listener_high_water) {
  for (const auto& entity : settings_.entities) {
    const std::string key = entity_key(entity.path);
    auto& slot = entities_[key];
    slot.path = entity.path;
    slot.config = &entity;
    note_depth(key);
  }
}

void Registry::note_depth(const std::string& key) {
  const std::size_t depth = static_cast<std::size_t>(std::count(key.begin(), key.end(), '/')) + 1;
  std::size_t seen = max_depth_.load();
  while (depth > seen && !max_depth_.compare_exchange_weak(seen, depth)) {
  }
}

std::optional<ResolvedEntity> Registry::resolve(std::string_view raw_request_path) const {
  // Candidate prefixes end at a '/' or at the end, no deeper than the deepest entity; decoded
  // once, outside the lock. The longest existing one wins.
  struct Candidate {
    std::size_t raw_end;
    std::string key;
  };
  std::vector<Candidate> candidates;
  const std::size_t depth = max_depth_.load();
  std::string key;
  std::size_t start = 0;
  while (candidates.size() < depth) {
    const auto slash = raw_request_path.find('/', start);
    if (!candidates.empty()) key += '/';
    key += decode_segment(raw_request_path.substr(start, slash - start));
    candidates.push_back({slash == std::string_view::npos ? raw_request_path.size() : slash, key});
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  std::lock_guard lock(mutex_);
  for (auto it = candidates.rbegin(); it != candidates.rend(); ++it) {
    const auto found = entities_.find(it->key);
    if (found == entities_.end()) continue;
    if (found->second.config == nullptr && found->second.listeners.empty()) continue;
    return ResolvedEntity{it->key, found->second.path, found->second.config, it->raw_end};
  }
  return std::nullopt;
}

const EntityConfig* Registry::configured(const std::string& key) const {
  std::lock_guard lock(mutex_);
  const auto found = entities_.find(key);
  return found == entities_.end() ? nullptr : found->second.config;
}

Registry::AddResult Registry::add_listener(const std::string& key, std::string_view path,
                                           std::size_t max_listeners,
                                           std::shared_ptr<Listener> listener) {
  std::lock_guard lock(mutex_);
  auto& entity = entities_[key];
  if (entity.path.empty()) entity.path = std::string(path);
  if (entity.listeners.size() >= max_listeners) {
    if (entity.config == nullptr && entity.listeners.empty()) entities_.erase(key);
    return AddResult::kFull;
  }
  entity.listeners.push_back(std::move(listener));
  note_depth(key);
  return AddResult::kAdded;
}

Registry::Orphans Registry::remove_listener(const std::string& key, const Listener* listener) {
  Orphans orphans;
  std::lock_guard lock(mutex_);
  const auto found = entities_.find(key);
  if (found != entities_.end()) {
    auto& listeners = found->second.listeners;
    std::erase_if(listeners, [&](const auto& l) { return l.get() == listener; });
    if (listeners.empty() && found->second.config == nullptr) entities_.erase(found);
  }
  for (auto it = pending_.begin(); it != pending_.end();) {
    if (it->second.listener.get() == listener) {
      orphans.accepts.emplace_back(it->first, std::move(it->second));
      it = pending_.erase(it);
    } else {
      ++it;
    }
  }
  for (auto& [id, request] : requests_) {
    if (request.listener != listener || request.responded || request.rendezvous) continue;
    request.responded = true;  // it can no longer be answered
    orphans.requests.push_back(request);
  }
  return orphans;
}

Registry::PickResult Registry::pick_listener(const std::string& key,
                                             const ListenerFilter& filter) const {
  thread_local std::mt19937_64 random{std::random_device{}()};
  std::vector<std::shared_ptr<Listener>> eligible;
  std::lock_guard lock(mutex_);
  const auto found = entities_.find(key);
  if (found == entities_.end() || found->second.listeners.empty())
    return {Pick::kNoListeners, nullptr};
  bool any_open = false;
  bool any_backlogged = false;
  for (const auto& listener : found->second.listeners) {
    if (!listener->open()) continue;
    any_open = true;
    if (!filter.allowed.empty() && !listed(filter.allowed, listener->id())) continue;
    if (listed(filter.disallowed, listener->id())) continue;
    if (listener->backlogged(listener_high_water_)) {
      any_backlogged = true;
      continue;
    }
    eligible.push_back(listener);
  }
  if (!any_open) return {Pick::kNoListeners, nullptr};
  if (eligible.empty())
    return {any_backlogged ? Pick::kAllBacklogged : Pick::kNoneEligible, nullptr};
  std::uniform_int_distribution<std::size_t> index(0, eligible.size() - 1);
  return {Pick::kPicked, eligible[index(random)]};
}

bool Registry::add_pending(const std::string& id, PendingAccept pending) {
  std::lock_guard lock(mutex_);
  if (!pending.listener->open()) return false;
  pending_[id] = std::move(pending);
  return true;
}

std::optional<PendingAccept> Registry::claim(const std::string& id) {
  std::lock_guard lock(mutex_);
  const auto found = pending_.find(id);
  if (found == pending_.end()) return std::nullopt;
  PendingAccept pending = std::move(found->second);
  pending_.erase(found);
  return pending;
}

bool Registry::add_request(const std::string& id, PendingRequest pending) {
  std::lock_guard lock(mutex_);
  if (!pending.listener->open()) return false;
  requests_[id] = std::move(pending);
  return true;
}

std::optional<PendingRequest> Registry::claim_response(const std::string& id,
                                                       const Listener* listener) {
  std::lock_guard lock(mutex_);
  const auto found = requests_.find(id);
  if (found == requests_.end() || found->second.responded) return std::nullopt;
  if (listener != nullptr && found->second.listener != listener) return std::nullopt;
  found->second.responded = true;
  return found->second;
}

Registry::RendezvousClaim Registry::claim_request_rendezvous(const std::string& id) {
  std::lock_guard lock(mutex_);
  const auto found = requests_.find(id);
  if (found != requests_.end()) {
    if (found->second.rendezvous) return {};
    found->second.rendezvous = true;
    return {RendezvousFor::kLive, found->second};
  }
  const auto tomb = tombstones_.find(id);
  if (tomb != tombstones_.end() && tomb->second > std::chrono::steady_clock::now()) {
    tombstones_.erase(tomb);  // one late rendezvous per request
    return {RendezvousFor::kFinished, {}};
  }
  return {};
}

void Registry::finish_request(const std::string& id, bool tombstone) {
  const auto now = std::chrono::steady_clock::now();
  std::lock_guard lock(mutex_);
  const auto found = requests_.find(id);
  if (found == requests_.end()) return;
  const bool rendezvous_seen = found->second.rendezvous;
  requests_.erase(found);
  while (!tombstone_order_.empty() &&
         (tombstone_order_.front().first <= now ||
          tombstone_order_.size() >= std::max<std::size_t>(settings_.max_pending_requests, 1))) {
    const auto it = tombstones_.find(tombstone_order_.front().second);
    if (it != tombstones_.end() && it->second == tombstone_order_.front().first)
      tombstones_.erase(it);
    tombstone_order_.pop_front();
  }
  if (!tombstone || rendezvous_seen) return;
  const auto until = now + settings_.tombstone_ttl;
  tombstones_[id] = until;
  tombstone_order_.emplace_back(until, id);
}

std::size_t Registry::pending_requests() const {
  std::lock_guard lock(mutex_);
  return requests_.size();
}

std::vector<EntityStatus> Registry::entities() const {
  std::vector<EntityStatus> out;
  std::lock_guard lock(mutex_);
  for (const auto& [key, entity] : entities_) {
    out.push_back({entity.path, entity.listeners.size(), entity.config != nullptr});
  }
  return out;
}

std::vector<std::shared_ptr<Listener>> Registry::all_listeners() const {
  std::vector<std::shared_ptr<Listener>> out;
  std::lock_guard lock(mutex_);
  for (const auto& [key, entity] : entities_) {
    out.insert(out.end(), entity.listeners.begin(), entity.listeners.end());
  }
  return out;
}

std::size_t Registry::pending_accepts() const {
  std::lock_guard lock(mutex_);
  return pending_.size();
}

}  // namespace switchboard::hybrid
