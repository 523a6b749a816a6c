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
  std::size_t max_listeners = 25;
  std::vector<auth::SasRule> rules;  // namespace-wide
  std::vector<EntityConfig> entities;
  std::string public_url;  // scheme://authority for rendezvous addresses; empty = from the listener
};

// Outbound control messages are at most this big (the .NET listener's receive buffer).
constexpr std::size_t kMaxControlMessage = 65536;

}  // namespace switchboard::hybrid
