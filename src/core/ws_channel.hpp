// A server-side WebSocket that delivers whole messages: for control and signalling channels,
// whose messages are small. Relayed data goes through RelayPump instead.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include <boost/asio/steady_timer.hpp>

#include "core/limits.hpp"
#include "core/outbox.hpp"
#include "core/socket.hpp"
#include "core/ws_frame.hpp"

namespace switchboard::core {

class WsChannel : public std::enable_shared_from_this<WsChannel> {
 public:
  using MessageFn = std::function<void(bool text, std::string& payload)>;
  // Called once when the channel stops being usable: the peer's Close (code, reason), our own
  // close, or 1006 when the connection dropped.
  using EndFn = std::function<void(std::uint16_t code, std::string_view reason)>;
  // A piece of a streamed binary message as it arrives; `last` ends the message.
  using FragmentFn = std::function<void(std::span<const std::uint8_t> bytes, bool last)>;

  WsChannel(asio::io_context& context, const Limits& limits, Socket socket, std::string leftover,
            std::size_t max_message);
  ~WsChannel();

  void start(MessageFn on_message, EndFn on_end);
  // Binary messages are then handed over piece by piece, with no size limit, instead of whole;
  // text messages stay whole. Call before start().
  void stream_binary(FragmentFn on_fragment) { on_fragment_ = std::move(on_fragment); }
  // Backpressure from whoever consumes the messages: stop reading the socket, and start again.
  // Safe to call from inside a callback.
  void pause_reading() { consumer_paused_ = true; }
  void resume_reading();
  // Called each time everything sent so far has been taken by the kernel.
  std::function<void()> on_drained;
  void send_text(std::string_view text);
  void send_binary(std::string_view bytes);
  // Sends raw, already framed bytes as one unit (e.g. a message and its body).
  void send_frames(std::string_view frames);
  // Sends a Close and waits up to close_timeout for the reply.
  void close(std::uint16_t code, std::string_view reason);
  // Sends a Close and drops the connection without waiting.
  void abort(std::uint16_t code, std::string_view reason);
  bool open() const { return !closing_ && !gone_; }
  // Bytes not yet taken by the kernel; readable from any thread.
  std::size_t backlog() const { return backlog_.load(std::memory_order_relaxed); }
  // Appended to reasons the channel originates itself (keepalive, oversized message).
  std::string reason_suffix;

 private:
  // Inside a binary message that goes out piece by piece.
  bool streaming() const { return on_fragment_ && in_message_ && !message_text_; }
  void arm_read();
  void arm_write();
  void on_readable();
  bool process(std::uint8_t* buf, std::size_t total);
  void deliver(std::string_view bytes);
  void note_backlog();
  void on_peer_close(std::uint16_t code, std::string_view reason);
  void protocol_error(std::uint16_t code, std::string_view reason);
  void end(std::uint16_t code, std::string_view reason);
  void shut_if_done();
  void drop();
  void schedule_tick();
  void arm_deadline();

  asio::io_context& context_;
  const Limits& limits_;
  Socket socket_;
  Outbox outbox_;
  std::string leftover_;
  std::size_t max_message_;
  std::string message_;  // the message being assembled
  std::string carry_;    // an incomplete frame header or control frame
  ws::FrameHeader frame_;
  std::uint64_t frame_remaining_ = 0;
  std::uint64_t mask_offset_ = 0;
  bool in_message_ = false;
  bool message_text_ = false;
  bool read_armed_ = false;
  bool read_paused_ = false;  // the peer does not read what we send (e.g. Pongs to a Ping flood)
  bool consumer_paused_ = false;
  bool carry_ready_ = false;  // carry_ holds input not yet processed because of a pause
  FragmentFn on_fragment_;
  std::atomic<std::size_t> backlog_{0};
  bool write_armed_ = false;
  bool closing_ = false;         // a Close was sent
  bool close_received_ = false;  // the peer's Close arrived
  bool write_shut_ = false;
  bool gone_ = false;
  bool ended_ = false;
  bool active_ = false;
  unsigned missed_ = 0;
  MessageFn on_message_;
  EndFn on_end_;
  asio::steady_timer tick_;
  std::optional<asio::steady_timer> deadline_;
};

}  // namespace switchboard::core
