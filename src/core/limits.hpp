// Limits and timeouts of the connection layer; each is a named config field
// (docs/configuration.md).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>

namespace switchboard::core {

using Duration = std::chrono::milliseconds;
using namespace std::chrono_literals;

struct Limits {
  std::size_t max_header_bytes = std::size_t{16} * 1024;
  Duration handshake_timeout = 10s;
  std::size_t max_pending_handshakes = 4096;
  std::size_t max_pending_handshakes_per_source = 64;
  unsigned failed_handshakes_before_delay = 5;
  Duration failed_handshake_window = 10s;
  Duration failed_handshake_max_delay = 30s;
  std::size_t relay_buffer_high_water = std::size_t{1024} * 1024;
  std::uint64_t relay_max_message = 0;  // 0 = unlimited
  std::size_t control_max_message = std::size_t{1024} * 1024;
  std::size_t control_buffer_high_water =
      std::size_t{1024} * 1024;  // unread bytes toward a control channel
  Duration ping_interval = 30s;
  unsigned ping_misses = 3;
  Duration close_timeout = 10s;
  Duration keepalive_timeout = 60s;  // idle time between requests on a kept-alive connection
};

}  // namespace switchboard::core
