// localfirst settings (protocol section 8; docs/configuration.md, [localfirst]).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "core/limits.hpp"

namespace switchboard::localfirst {

using core::Duration;
using namespace std::chrono_literals;

struct Settings {
  bool enabled = true;
  std::string path_prefix;                         // "" = mounted at the root; else e.g. "/relay"
  std::vector<std::string> allowed_origins;        // empty = any Origin (as upstream)
  std::size_t max_message = std::size_t{1} << 20;  // introduction messages
  std::size_t max_documents_per_peer = 10000;
  std::uint64_t max_pipe_message = std::uint64_t{100} << 20;  // 0 = unlimited
  std::size_t held_buffer = std::size_t{1} << 20;             // kept per held socket
  std::size_t partner_high_water = std::size_t{4} << 20;      // per direction of a pair
  std::size_t max_held_per_peer = 256;
  std::size_t max_held = 65536;
  Duration tombstone_linger = 10s;
  std::size_t max_param_length = 1024;
  Duration close_timeout = 5s;
};

}  // namespace switchboard::localfirst
