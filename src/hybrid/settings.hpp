// Hybrid Connections settings (protocol section 6.4; docs/configuration.md, [hybrid]).
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "auth/sas.hpp"
#include "core/limits.hpp"

namespace switchboard::hybrid {

using core::Duration;
using namespace std::chrono_literals;

struct EntityConfig {
  std::string path;
  bool requires_client_authorization = true;
  bool accept_websocket = true;
  bool accept_http = true;
  std::size_t max_listeners = 25;
  std::vector<auth::SasRule> rules;  // valid for this entity only
};

struct Settings {
  std::vector<std::string> hosts;  // namespace hosts accepted in token audiences
  bool strict_entities = false;
  Duration token_grace = 300s;
  Duration accept_timeout = 30s;
  // HTTP relaying (section 5.6): the response head, then each body frame, must come this soon.
  Duration response_timeout = 60s;
  Duration body_idle_timeout = 60s;
  // A chunked request body that ends within this time and 64 KiB goes inline (section 5.3).
  Duration inline_read_window = 1s;
  // How long an E4 for a request that failed or timed out is still accepted and drained.
  Duration tombstone_ttl = 5min;
  // Relayed HTTP requests in flight at once; beyond it senders get 503.
  std::size_t max_pending_requests = 10000;
  std::size_t max_listeners = 25;
  std::vector<auth::SasRule> rules;  // namespace-wide
  std::vector<EntityConfig> entities;
  std::string public_url;  // scheme://authority for rendezvous addresses; empty = from the listener
};

// Outbound control messages are at most this big (the .NET listener's receive buffer).
constexpr std::size_t kMaxControlMessage = 65536;
// Section 5.3: bodies up to this size, in request messages up to kMaxInlineRequest, go inline.
constexpr std::size_t kMaxInlineBody = 65536;
constexpr std::size_t kMaxInlineRequest = 32768;

}  // namespace switchboard::hybrid
