// Entities, their listeners and the senders waiting for a listener to accept. Control-plane state
// under one mutex: relayed data never touches it.
#pragma once

#include <atomic>
#include <chrono>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "hybrid/settings.hpp"

namespace switchboard::hybrid {

class Listener;
class HeldSender;
class HttpExchange;

// Case-insensitive key of a path: percent-decoded segments, ASCII lower-case, joined by '/'.
std::string entity_key(std::string_view raw_path);

struct ResolvedEntity {
  std::string key;
  std::string path;                      // as configured, or as the first listener spelled it
  const EntityConfig* config = nullptr;  // null for a dynamic entity
  std::size_t raw_length = 0;            // bytes of the raw request path naming the entity
};

struct ListenerFilter {
  std::vector<std::string> allowed;  // empty = any
  std::vector<std::string> disallowed;
};

struct PendingAccept {
  std::weak_ptr<HeldSender> sender;
  std::shared_ptr<Listener> listener;
};

// A relayed HTTP request waiting for its response (protocol section 5).
struct PendingRequest {
  std::weak_ptr<HttpExchange> exchange;
  boost::asio::io_context* context = nullptr;  // the exchange's thread
  const Listener* listener = nullptr;          // the one it was dispatched to
  bool responded = false;                      // a response head was taken; later ones are ignored
  bool rendezvous = false;                     // an E4 rendezvous was opened for it
};

struct EntityStatus {
  std::string path;
  std::size_t listeners = 0;
  bool configured = false;
};

class Registry {
 public:
  Registry(const Settings& settings, std::size_t listener_high_water);

  // The longest configured or live entity equal to the request path or a '/'-boundary prefix.
  std::optional<ResolvedEntity> resolve(std::string_view raw_request_path) const;
  const EntityConfig* configured(const std::string& key) const;

  enum class AddResult { kAdded, kFull };
  AddResult add_listener(const std::string& key, std::string_view path, std::size_t max_listeners,
                         std::shared_ptr<Listener> listener);
  // Removes the listener and hands back what it still owed an answer: accepts (to re-dispatch)
  // and HTTP requests with neither a response nor a rendezvous (to fail with 502).
  struct Orphans {
    std::vector<std::pair<std::string, PendingAccept>> accepts;
    std::vector<PendingRequest> requests;
  };
  Orphans remove_listener(const std::string& key, const Listener* listener);

  enum class Pick { kPicked, kNoListeners, kNoneEligible, kAllBacklogged };
  struct PickResult {
    Pick outcome = Pick::kNoListeners;
    std::shared_ptr<Listener> listener;
  };
  // Uniformly random among open listeners passing the filter (protocol section 6.2, 5.7),
  // skipping listeners that do not read their control channel.
  PickResult pick_listener(const std::string& key, const ListenerFilter& filter) const;

  // False if the listener closed meanwhile (then pick again): checked under the same lock that
  // removal takes, so an accept is never left with a listener that has already gone.
  bool add_pending(const std::string& id, PendingAccept pending);
  // Takes the pending accept out: each address works once.
  std::optional<PendingAccept> claim(const std::string& id);

  // HTTP requests (section 5). add_request fails like add_pending when the listener has gone.
  bool add_request(const std::string& id, PendingRequest pending);
  // The first response for `id` from `listener` wins; nullopt for unknown ids and later ones.
  std::optional<PendingRequest> claim_response(const std::string& id, const Listener* listener);
  // What an E4 upgrade for `id` finds: a live request (once), a request that ended without a
  // response (tombstone, section 5.4), or nothing.
  enum class RendezvousFor { kUnknown, kLive, kFinished };
  struct RendezvousClaim {
    RendezvousFor kind = RendezvousFor::kUnknown;
    PendingRequest pending;
  };
  RendezvousClaim claim_request_rendezvous(const std::string& id);
  // The exchange is over. `tombstone`: it ended without a response, so a late rendezvous for it
  // is still accepted and drained for tombstone_ttl.
  void finish_request(const std::string& id, bool tombstone);
  std::size_t pending_requests() const;

  std::vector<EntityStatus> entities() const;
  std::vector<std::shared_ptr<Listener>> all_listeners() const;
  std::size_t pending_accepts() const;

 private:
  struct Entity {
    std::string path;
    const EntityConfig* config = nullptr;
    std::vector<std::shared_ptr<Listener>> listeners;
  };

  void note_depth(const std::string& key);

  const Settings& settings_;
  const std::size_t listener_high_water_;
  std::atomic<std::size_t> max_depth_{1};  // most segments of any entity: bounds resolve()
  mutable std::mutex mutex_;
  std::unordered_map<std::string, Entity> entities_;
  std::unordered_map<std::string, PendingAccept> pending_;
  std::unordered_map<std::string, PendingRequest> requests_;
  // Ids of requests that ended without a response, oldest first; at most max_pending_requests.
  std::unordered_map<std::string, std::chrono::steady_clock::time_point> tombstones_;
  std::deque<std::pair<std::chrono::steady_clock::time_point, std::string>> tombstone_order_;
};

}  // namespace switchboard::hybrid
