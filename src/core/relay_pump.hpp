// Joins two upgraded WebSocket legs and forwards frames between them, one frame out per frame in:
// opcode, boundaries, payload and order preserved, no whole-message buffering. Each direction
// keeps at most `relay_buffer_high_water` bytes for a slow receiver; above it the source leg is not
// read (backpressure). Close frames are forwarded verbatim and the other direction keeps flowing
// until its own Close (half-close, Hybrid Connections section 4.6). Both legs live on one thread.
// A pump may also start with one leg and wait for its partner (held mode, localfirst section 5):
// what the first leg sends is kept for the partner, its Pings answered and its Close answered.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <boost/asio/steady_timer.hpp>

#include "core/limits.hpp"
#include "core/outbox.hpp"
#include "core/socket.hpp"
#include "core/ws_frame.hpp"

namespace switchboard::core {

struct CloseNotice {
  std::uint16_t code = 1001;
  std::string reason;
};

// Where the protocols differ in how a pair behaves.
struct PumpOptions {
  // What a leg hears when its partner drops, fails or goes silent. Unset: 1001 on a drop and the
  // failure's own code otherwise (Hybrid Connections).
  std::optional<CloseNotice> partner_lost;
  // true: after a forwarded Close the other direction flows until its own Close (Hybrid
  // Connections section 4.6); false: the closing handshake must end within close_timeout.
  bool half_close = true;
  // Held mode: bytes kept for the absent partner before the first leg stops being read.
  std::size_t hold_high_water = std::size_t{1024} * 1024;
  // Byte-stream mode (bridge section 9.2): the payload of every data frame is stream bytes and
  // goes out as one complete binary message; a zero-length data frame is EOF (D4); a Close from
  // either leg closes both with 1000 "ok" (D5).
  bool byte_stream = false;
  // What both legs hear on server shutdown; unset: what close_all_on_this_thread is given.
  std::optional<CloseNotice> shutdown;
};

// A leg that will never be relayed (its partner is gone): one Close frame, best effort, then the
// socket is closed.
void turn_away(Socket& socket, std::uint16_t code, std::string_view reason);

class RelayPump : public std::enable_shared_from_this<RelayPump> {
 public:
  // `leftover_*`: bytes already read from a leg together with its handshake.
  RelayPump(asio::io_context& context, const Limits& limits, Socket a, std::string leftover_a,
            Socket b, std::string leftover_b, PumpOptions options = {});
  // Held mode: leg b arrives later through pair_with().
  RelayPump(asio::io_context& context, const Limits& limits, Socket a, std::string leftover_a,
            PumpOptions options);
  ~RelayPump();
  RelayPump(const RelayPump&) = delete;
  RelayPump& operator=(const RelayPump&) = delete;

  void start();
  // Closes both legs with `code` (server shutdown, entity removed); waits for their replies.
  void close_both(std::uint16_t code, std::string_view reason);
  bool finished() const { return finished_; }
  bool awaiting_partner() const { return awaiting_; }
  // Held mode, after start(): leg b arrives; what was kept goes to it first. A pump that cannot
  // take a partner any more (it finished) closes b with `partner_lost`.
  void pair_with(Socket b, std::string leftover_b);
  // Held mode: forgets what was kept and closes leg a (if still there) with `code`; the pump then
  // finishes once leg a is closed.
  void close_held(std::uint16_t code, std::string_view reason);
  // Held mode: leg a is gone before a partner arrived; what was kept, ending with leg a's Close,
  // waits for pair_with() or close_held().
  std::function<void()> on_held_closed;
  // Held mode: leg a sent its Close before a partner arrived (byte-stream mode only; the Close is
  // answered, nothing is kept for a partner).
  std::function<void()> on_held_close;
  // Bytes waiting for leg `i` (0 = a, 1 = b): what backpressure bounds.
  std::size_t pending_toward(int i) const { return legs_[i].outbox.pending(); }

  // Called once when both legs are closed.
  std::function<void()> on_finished;

  // Every pump on the calling thread (for shutdown and status).
  static void close_all_on_this_thread(std::uint16_t code, std::string_view reason);
  static std::size_t active_pairs() { return active_pairs_.load(std::memory_order_relaxed); }

 private:
  struct Leg {
    explicit Leg(Socket s) : socket(std::move(s)) {}
    Socket socket;
    Outbox outbox;         // bytes toward this leg the kernel has not taken yet
    std::string leftover;  // bytes read with the handshake, processed before the socket
    std::string deferred;  // our latest Pong toward this leg, held mid-frame or while backlogged
    // Inbound frame state (frames this leg sends us).
    std::array<std::uint8_t, ws::kMaxControlFrame>
        carry{};  // an incomplete header or control frame
    std::uint8_t carry_len = 0;
    std::uint8_t mask[4] = {0, 0, 0, 0};
    std::uint64_t frame_remaining = 0;  // payload bytes of the current data frame still to come
    std::uint64_t mask_offset = 0;
    std::uint64_t message_bytes = 0;
    ws::Utf8Validator utf8;
    bool frame_fin = false;
    bool frame_forwarded = false;  // whether the current frame goes to the other leg or is dropped
    bool in_message = false;
    bool message_text = false;
    bool eof = false;  // byte-stream mode: this leg sent its zero-length EOF frame
    // Outbound and lifecycle.
    bool mid_frame = false;  // a frame toward this leg has been started but not completed
    bool read_armed = false;
    bool write_armed = false;
    bool read_paused = false;     // not read because the other leg is above the high-water mark
    bool close_received = false;  // this leg sent us a Close
    bool close_sent = false;      // a Close went toward this leg
    bool write_shut = false;
    bool gone = false;    // socket closed
    bool active = false;  // a frame arrived since the last keepalive tick
    std::uint8_t missed = 0;
  };

  void arm(int i, Socket::wait_type type);
  void on_readable(int i);
  void on_writable(int i);
  // Transforms frames read from leg i in place into frames for the other leg; false if the pair
  // failed.
  bool process(int i, std::uint8_t* buf, std::size_t total);
  void deliver(int i, const std::uint8_t* data, std::size_t n);
  void deliver(int i, const std::string& bytes) {
    deliver(i, reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
  }
  void send_control(int i, std::string frame);
  void initiate_close(int i, std::uint16_t code, std::string_view reason);
  void fail(std::uint16_t code, std::string_view reason);
  void fail_source(int i, std::uint16_t code, std::string_view reason);
  void fail_leg(int i, std::uint16_t code, std::string_view reason);
  void close_partner_of(int i, std::uint16_t code, std::string_view reason);
  bool absent(int i) const { return awaiting_ && i == 1; }
  std::size_t high_water(int i) const;
  bool backlogged(int i, std::size_t limit) const;
  // Bytes not yet written toward either leg, kept bytes of an absent leg included.
  std::size_t unsent() const { return legs_[0].outbox.pending() + legs_[1].outbox.pending(); }
  void drop(int i);
  void on_leg_gone(int i);
  void maybe_resume(int i);
  void check_progress();
  void arm_close_deadline();
  void schedule_tick();
  void on_tick();

  asio::io_context& context_;
  const Limits& limits_;
  PumpOptions options_;
  std::array<Leg, 2> legs_;
  asio::steady_timer tick_;
  std::optional<asio::steady_timer> close_deadline_;
  bool started_ = false;
  bool finished_ = false;
  bool awaiting_ = false;  // held mode: leg b has not arrived
  bool counted_ = false;   // counted in active_pairs_ (both legs present)
  bool held_close_reported_ = false;
  static std::atomic<std::size_t> active_pairs_;
};

}  // namespace switchboard::core
