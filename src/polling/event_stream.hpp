// A streamed receive call (polling protocol sections 7.5 and 7.6): one response that stays open
// and carries events as they come, as NDJSON lines after a 2 KiB prelude (xhr streaming) or as
// Server-Sent Events, with heartbeats when nothing else was written for a while.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/steady_timer.hpp>

#include "core/handshake.hpp"

namespace switchboard::polling {

class EventStream : public std::enable_shared_from_this<EventStream> {
 public:
  enum class Format { kNdjson, kSse };

  EventStream(std::shared_ptr<core::Handshake> handshake, Format format,
              std::vector<core::Header> headers, core::Duration heartbeat);

  // Writes the response head (and the prelude).
  void start();
  // One event (its JSON) as a line; written at once.
  void write_event(std::string_view json);
  // Ends the response after what has been written so far; no callbacks afterwards.
  void end();
  // Bytes handed to write_event (and heartbeats) not yet taken by the kernel.
  std::size_t pending() const { return out_.size() + in_flight_; }
  // Bytes of event lines written into this response so far.
  std::size_t event_bytes() const { return event_bytes_; }
  bool ended() const { return ended_; }

  std::function<void()> on_progress;  // a write completed
  std::function<void()> on_lost;      // the client is gone (a write failed)

 private:
  void append_line(std::string_view json);
  void append_body(std::string_view bytes);
  void flush();
  void arm_heartbeat();

  std::shared_ptr<core::Handshake> handshake_;
  const Format format_;
  std::vector<core::Header> headers_;
  const core::Duration heartbeat_;
  const bool chunked_;
  core::asio::steady_timer timer_;
  std::string out_;      // not yet handed to the socket
  std::string writing_;  // being written
  std::size_t in_flight_ = 0;
  std::size_t event_bytes_ = 0;
  bool ended_ = false;
  bool lost_ = false;
};

}  // namespace switchboard::polling
