// HTTP fallback settings (polling protocol section 12; docs/configuration.md, [polling]).
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "core/limits.hpp"

namespace switchboard::polling {

using core::Duration;
using namespace std::chrono_literals;

struct Settings {
  bool enabled = true;
  bool s0_compat = false;                    // the S0 aliases of section 10
  std::string public_url;                    // its host[:port] is a `self` host and the relay host
  std::vector<std::string> allowed_origins;  // empty = any Origin (Access-Control-Allow-Origin: *)
  std::vector<std::string> allow;            // external target patterns (section 5.1)
  std::vector<std::string> allow_private;    // the same, private addresses allowed too
  std::string ca_file;                       // CAs for wss targets instead of the system's
  Duration connect_timeout = 10s;
  Duration poll_timeout = 25s;      // long-poll default
  Duration poll_timeout_cap = 30s;  // larger timeouts are capped to this
  Duration expiry = 30s;            // without a pending receive call
  Duration close_wait = 5s;
  Duration heartbeat = 20s;                              // streams: a heartbeat after this silence
  std::size_t stream_cap = std::size_t{128} * 1024;      // xhr stream: event bytes per response
  std::size_t buffer = std::size_t{1} << 20;             // undelivered target messages per socket
  std::size_t max_message = std::size_t{1} << 20;        // largest target message
  std::size_t target_high_water = std::size_t{1} << 20;  // queued toward the target: holds the 201
  std::size_t max_body = std::size_t{1} << 20;
  std::size_t max_events = 1000;                // per send
  std::size_t batch = std::size_t{256} * 1024;  // JSON bytes per long-poll answer
  std::size_t max_sockets_per_client = 64;
  std::size_t max_sockets = 10000;
};

}  // namespace switchboard::polling
