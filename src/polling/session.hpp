// One polysocket (polling protocol sections 6-9): the target WebSocket the relay holds, the events
// buffered for the client, at most one pending receive call, queued sends, and the expiry clock.
// Lives on the thread of its `create` request; other threads reach it by posting there.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/steady_timer.hpp>

#include "core/handshake.hpp"
#include "polling/event_stream.hpp"
#include "polling/settings.hpp"
#include "polling/target_socket.hpp"

namespace switchboard::polling {

// A JSON response with the API's headers (no-store, nosniff, CORS for the request's Origin).
using Reply = std::function<void(const std::shared_ptr<core::Handshake>& handshake, int status,
                                 std::string body, std::string_view content_type)>;

struct OutgoingEvent {
  bool text = true;
  std::string data;  // UTF-8 text, or decoded binary bytes
};

// kS0Poll: the S0 `xhr-poll` of section 10, with S0 event objects.
enum class ReceiveKind { kPoll, kJsonp, kXhr, kSse, kS0Poll };

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(core::asio::io_context& context, const Settings& settings, std::string id,
          std::string relay, Reply reply, std::function<void(const std::string& id)> destroyed);

  core::asio::io_context& context() { return context_; }
  const std::string& id() const { return id_; }

  // Opens the target and answers `create` with its outcome.
  using TargetMaker = std::function<std::shared_ptr<TargetSocket>(TargetSocket::Handlers)>;
  // s0: `create` answers in S0 form (section 10).
  void open(const std::shared_ptr<core::Handshake>& create, const TargetMaker& make,
            bool s0 = false);
  // s0: S0's `POST /polysocket/socket` (201 "Created", failures 400).
  void send(const std::shared_ptr<core::Handshake>& request, std::vector<OutgoingEvent> events,
            bool s0 = false);
  // `stream_headers`: the API headers of a streamed response (xhr, sse).
  void receive(const std::shared_ptr<core::Handshake>& request, ReceiveKind kind,
               core::Duration timeout, std::string callback,
               std::vector<core::Header> stream_headers = {});
  void close(const std::shared_ptr<core::Handshake>& request, std::uint16_t code,
             std::string reason);
  // Server shutdown: `close` 1001 going away to the pending receive call, the target closed.
  void shut_down();

 private:
  enum class State { kConnecting, kOpen, kClosing, kClosed };
  struct Receiver {
    std::shared_ptr<core::Handshake> handshake;
    ReceiveKind kind = ReceiveKind::kPoll;
    std::string callback;
    std::shared_ptr<EventStream> stream;  // xhr and sse
  };
  struct PendingSend {
    std::shared_ptr<core::Handshake> handshake;
    std::vector<OutgoingEvent> events;
    bool s0 = false;
  };

  void on_opened(const std::string& failure);
  void on_message(bool text, const std::string& data);
  void on_closed(std::uint16_t code, const std::string& reason, bool abnormal);
  void queue_event(std::string json);
  void answer_receiver(bool with_events);
  // Streams: moves buffered events into the open stream while it keeps up.
  void feed_stream();
  void end_stream();
  void process_sends();
  void arm_expiry();
  void destroy();

  core::asio::io_context& context_;
  const Settings& settings_;
  const std::string id_;
  const std::string relay_;
  Reply reply_;
  std::function<void(const std::string&)> destroyed_;
  std::shared_ptr<TargetSocket> target_;
  std::shared_ptr<core::Handshake> create_;  // until the target's handshake ends
  bool s0_create_ = false;
  State state_ = State::kConnecting;
  std::deque<std::string> events_;  // JSON of each undelivered event
  std::size_t event_bytes_ = 0;
  bool close_queued_ = false;
  std::optional<Receiver> receiver_;
  core::asio::steady_timer poll_timer_;
  core::asio::steady_timer expiry_;
  std::deque<PendingSend> sends_;
  bool gone_ = false;
};

// {"ok":false,"error":"..."} (section 3.2).
std::string error_json(std::string_view error);
// Events as the API writes them (section 7.1).
std::string message_event(bool text, std::string_view data);
std::string close_event(std::uint16_t code, std::string_view reason);
// The S0 form of an event (section 10); nullopt for those S0 omits (error).
std::optional<std::string> s0_event(std::string_view event_json);
// "{callback}({json});" with U+2028 and U+2029 escaped (section 7.3).
std::string jsonp_body(std::string_view callback, std::string_view json);

}  // namespace switchboard::polling
