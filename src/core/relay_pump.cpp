#include "core/relay_pump.hpp"

#include <algorithm>
#include <cstring>
#include <unordered_set>
#include <vector>

#include <sys/socket.h>

#include <spdlog/spdlog.h>

namespace switchboard::core {
namespace {

constexpr std::size_t kReadSize = std::size_t{256} * 1024;
constexpr int kReadsPerWake = 8;  // then yield to the thread's other connections

// One read buffer per thread, shared by every pump on it: idle pairs hold no buffer at all.
std::uint8_t* thread_buffer() {
  static thread_local std::vector<std::uint8_t> buffer(kReadSize + ws::kMaxControlFrame);
  return buffer.data();
}

thread_local std::unordered_set<RelayPump*> pumps_on_thread;

// Whether a complete text frame, still masked, keeps its message valid UTF-8. Checked before the
// frame's header goes out, so that a partner never receives invalid text and can still be sent a
// Close (a frame already started cannot be interrupted).
bool text_frame_valid(const ws::Utf8Validator& state, const std::uint8_t* masked, std::size_t n,
                      const std::uint8_t mask[4], bool fin) {
  ws::Utf8Validator probe = state;
  std::uint8_t chunk[4096];
  for (std::size_t done = 0; done < n;) {
    const std::size_t k = std::min(sizeof chunk, n - done);
    ws::unmask_copy(chunk, masked + done, k, mask, done);
    if (!probe.feed(chunk, k)) return false;
    done += k;
  }
  return !fin || probe.complete();
}

}  // namespace

void turn_away(Socket& socket, std::uint16_t code, std::string_view reason) {
  const auto frame = ws::make_close_frame(code, reason);
  boost::system::error_code ignored;
  socket.non_blocking(true, ignored);
  socket.write_some(asio::buffer(frame), ignored);
  socket.close(ignored);
}

std::atomic<std::size_t> RelayPump::active_pairs_{0};

RelayPump::RelayPump(asio::io_context& context, const Limits& limits, Socket a,
                     std::string leftover_a, Socket b, std::string leftover_b, PumpOptions options)
    : context_(context),
      limits_(limits),
      options_(std::move(options)),
      legs_{Leg(std::move(a)), Leg(std::move(b))},
      tick_(context) {
  legs_[0].leftover = std::move(leftover_a);
  legs_[1].leftover = std::move(leftover_b);
  for (auto& leg : legs_) {
    boost::system::error_code ignored;
    leg.socket.non_blocking(true, ignored);
  }
}

RelayPump::RelayPump(asio::io_context& context, const Limits& limits, Socket a,
                     std::string leftover_a, PumpOptions options)
    : RelayPump(context, limits, std::move(a), std::move(leftover_a), Socket(context), {},
                std::move(options)) {
  awaiting_ = true;
}

RelayPump::~RelayPump() {
  pumps_on_thread.erase(this);
  if (counted_ && !finished_) active_pairs_.fetch_sub(1, std::memory_order_relaxed);
}

void RelayPump::start() {
  pumps_on_thread.insert(this);
  started_ = true;
  if (!awaiting_) {
    counted_ = true;
    active_pairs_.fetch_add(1, std::memory_order_relaxed);
  }
  schedule_tick();
  for (int i = 0; i < 2; ++i) {
    if (absent(i)) continue;
    legs_[i].read_armed = true;
    asio::post(context_, [self = shared_from_this(), i] { self->on_readable(i); });
  }
}

void RelayPump::pair_with(Socket b, std::string leftover_b) {
  if (!awaiting_ || finished_) {
    const CloseNotice notice = options_.partner_lost.value_or(
        CloseNotice{1001, "The other side of the relay disconnected."});
    turn_away(b, notice.code, notice.reason);
    return;
  }
  awaiting_ = false;
  counted_ = true;
  active_pairs_.fetch_add(1, std::memory_order_relaxed);
  Leg& leg = legs_[1];
  leg.socket = std::move(b);
  leg.leftover = std::move(leftover_b);
  boost::system::error_code ignored;
  leg.socket.non_blocking(true, ignored);
  // A deadline that passed while leg a was alone dropped only leg a; b gets a fresh one. One still
  // running (leg a is closing) now covers both legs.
  if (close_deadline_ && legs_[0].gone) {
    close_deadline_->cancel();
    close_deadline_.reset();
  }
  leg.read_armed = true;
  asio::post(context_, [self = shared_from_this()] { self->on_readable(1); });
  on_writable(1);  // what was kept goes first; resumes leg a once it has drained
}

void RelayPump::close_held(std::uint16_t code, std::string_view reason) {
  if (!awaiting_) return;
  awaiting_ = false;
  drop(1);  // what was kept is forgotten
  initiate_close(0, code, reason);
  check_progress();
}

void RelayPump::close_all_on_this_thread(std::uint16_t code, std::string_view reason) {
  std::vector<std::shared_ptr<RelayPump>> pumps;
  pumps.reserve(pumps_on_thread.size());
  for (auto* pump : pumps_on_thread) pumps.push_back(pump->shared_from_this());
  for (auto& pump : pumps) {
    const auto& own = pump->options_.shutdown;
    pump->close_both(own ? own->code : code, own ? std::string_view(own->reason) : reason);
  }
}

// Waits until leg i is readable or writable, at most one wait of each kind at a time.
void RelayPump::arm(int i, Socket::wait_type type) {
  if (absent(i)) return;
  Leg& leg = legs_[i];
  const bool reading = type == Socket::wait_read;
  bool& armed = reading ? leg.read_armed : leg.write_armed;
  if (armed || leg.gone) return;
  armed = true;
  leg.socket.async_wait(type,
                        [self = shared_from_this(), i, reading](boost::system::error_code ec) {
                          Leg& l = self->legs_[i];
                          (reading ? l.read_armed : l.write_armed) = false;
                          if (ec) {
                            if (ec != asio::error::operation_aborted) self->on_leg_gone(i);
                            return;
                          }
                          if (reading) {
                            self->on_readable(i);
                          } else {
                            self->on_writable(i);
                          }
                        });
}

void RelayPump::on_readable(int i) {
  Leg& src = legs_[i];
  src.read_armed = false;
  bool drained = false;
  for (int round = 0; round < kReadsPerWake; ++round) {
    if (src.gone || finished_) return;
    if (backlogged(i, high_water(i))) {
      src.read_paused = true;  // resumed by on_writable once the backlog drains
      return;
    }
    // A short read emptied the socket: wait for more instead of reading again to hear EAGAIN.
    // Safe with edge-triggered readiness because the wait is armed before this thread's reactor
    // can see the next arrival.
    if (drained) {
      arm(i, Socket::wait_read);
      return;
    }
    std::uint8_t* buf = thread_buffer();
    const std::size_t carried = src.carry_len;
    std::size_t n = 0;
    const bool from_socket = src.leftover.empty();
    switch (read_available(src.socket, src.leftover, buf + carried, kReadSize, n)) {
      case ReadOutcome::kWouldBlock:
        arm(i, Socket::wait_read);
        return;
      case ReadOutcome::kClosed:
        on_leg_gone(i);
        return;
      case ReadOutcome::kData:
        break;
    }
    drained = from_socket && n < kReadSize;
    std::memcpy(buf, src.carry.data(), carried);
    src.carry_len = 0;
    src.active = true;
    if (!process(i, buf, carried + n)) return;
  }
  src.read_armed = true;
  asio::post(context_, [self = shared_from_this(), i] { self->on_readable(i); });
}

bool RelayPump::process(int i, std::uint8_t* buf, std::size_t total) {
  Leg& src = legs_[i];
  Leg& dst = legs_[1 - i];
  const int d = 1 - i;
  std::size_t in = 0;         // next input byte
  std::size_t out_begin = 0;  // output not yet delivered: [out_begin, out), always out <= in
  std::size_t out = 0;
  auto flush = [&] {
    if (out > out_begin) deliver(d, buf + out_begin, out - out_begin);
    out_begin = out = in;
  };
  // A protocol error by leg i: what was transformed so far goes first, then the leg is failed.
  auto protocol_error = [&](std::string_view reason) {
    flush();
    fail_leg(i, 1002, reason);
    return false;
  };
  auto end_frame = [&] {
    if (src.frame_forwarded) {
      dst.mid_frame = false;
      if (!dst.deferred.empty()) {
        flush();
        std::string deferred = std::move(dst.deferred);
        dst.deferred.clear();
        deliver(d, deferred);
      }
    }
    if (src.frame_fin) {
      src.in_message = false;
      if (src.frame_forwarded && src.message_text && !src.utf8.complete()) {
        flush();
        fail_source(i, 1007, "Invalid UTF-8 in a text message.");
      }
    }
  };

  while (in < total) {
    if (src.frame_remaining > 0) {
      const std::size_t k =
          static_cast<std::size_t>(std::min<std::uint64_t>(src.frame_remaining, total - in));
      bool bad_text = false;
      if (src.frame_forwarded) {
        ws::unmask_copy(buf + out, buf + in, k, src.mask, src.mask_offset);
        bad_text = src.message_text && !src.utf8.feed(buf + out, k);
        out += k;
      }
      in += k;
      src.frame_remaining -= k;
      src.mask_offset += k;
      if (bad_text) {
        // The frame's header is already out: complete the frame if we can, so a Close can follow.
        if (src.frame_remaining == 0) dst.mid_frame = false;
        flush();
        src.frame_forwarded = false;
        fail_source(i, 1007, "Invalid UTF-8 in a text message.");
        continue;  // frames stay aligned: the leg's Close reply is still read
      }
      if (src.frame_remaining == 0) end_frame();
      continue;
    }
    ws::FrameHeader header;
    const auto parsed = ws::parse_header({buf + in, total - in}, header);
    if (parsed.status == ws::HeaderStatus::kIncomplete) break;
    if (parsed.status == ws::HeaderStatus::kInvalid || !header.masked) {
      return protocol_error(header.masked ? parsed.error : "Client frames must be masked.");
    }
    if (ws::is_control(header.opcode)) {
      const std::size_t size = header.header_size + header.payload_length;
      if (total - in < size) break;
      std::uint8_t payload[ws::kMaxControlPayload];
      const auto len = static_cast<std::size_t>(header.payload_length);
      ws::unmask_copy(payload, buf + in + header.header_size, len, header.mask, 0);
      in += size;
      if (header.opcode == ws::kPing && !src.close_received) {
        flush();  // if the Pong fails and closes the pair, data before it must already be out
        send_control(i, ws::make_control_frame(ws::kPong, {payload, len}));
      } else if (header.opcode == ws::kClose && !src.close_received) {
        const auto check = ws::check_close_payload({payload, len});
        if (check != ws::CloseCheck::kValid) {
          return protocol_error("Invalid Close frame.");
        }
        src.close_received = true;
        if (options_.byte_stream) {
          // D5: the other leg is closed after what this one sent, and this Close is answered.
          flush();
          if (!dst.close_sent && !dst.gone && !absent(d)) {
            dst.close_sent = true;
            deliver(d, ws::make_close_frame(1000, "ok"));
            arm_close_deadline();
          }
          initiate_close(i, 1000, "ok");
          if (absent(d) && on_held_close) on_held_close();
          continue;
        }
        if (!dst.close_sent && !dst.gone) {
          // Forwarded verbatim, in order after the data that preceded it.
          out += ws::encode_header(buf + out, true, ws::kClose, len);
          std::memcpy(buf + out, payload, len);
          out += len;
          // With half-close, no deadline: the other direction may flow as long as it likes.
          dst.close_sent = true;
          if (!options_.half_close && !absent(d)) arm_close_deadline();
        }
        if (absent(d) && !src.close_sent) {
          // Nobody to answer yet: the server completes the leg's closing handshake, echoing its
          // code.
          flush();
          src.close_sent = true;
          deliver(i, ws::make_control_frame(ws::kClose, {payload, std::min<std::size_t>(len, 2)}));
          arm_close_deadline();
        }
      }
      continue;
    }
    // A data frame.
    if (header.opcode == ws::kContinuation) {
      if (!src.in_message) {
        return protocol_error("Continuation frame without a message.");
      }
    } else {
      if (src.in_message) {
        return protocol_error("New message before the previous one ended.");
      }
      src.in_message = true;
      // D1: in a byte stream, text payloads are stream bytes like any other.
      src.message_text = header.opcode == ws::kText && !options_.byte_stream;
      src.message_bytes = 0;
      src.utf8.reset();
    }
    src.message_bytes += header.payload_length;
    if (limits_.relay_max_message != 0 && src.message_bytes > limits_.relay_max_message &&
        !options_.byte_stream) {
      flush();
      // The frame is then dropped: nothing crosses any more.
      fail_source(i, 1009, "Message too big.");
    }
    src.frame_fin = header.fin;
    src.frame_remaining = header.payload_length;
    src.mask_offset = 0;
    std::memcpy(src.mask, header.mask, 4);
    // Nothing from a leg after its Close, nor toward a leg that has been sent one.
    // In a byte stream, nothing after the leg's EOF (D4).
    src.frame_forwarded =
        !src.close_received && !dst.close_sent && !dst.gone && !(options_.byte_stream && src.eof);
    const bool eof = options_.byte_stream && header.payload_length == 0 && src.frame_forwarded;
    const std::size_t frame_size = header.header_size + header.payload_length;
    if (src.frame_forwarded && src.message_text && total - in >= frame_size &&
        !text_frame_valid(src.utf8, buf + in + header.header_size,
                          static_cast<std::size_t>(header.payload_length), header.mask,
                          header.fin)) {
      in += frame_size;
      src.frame_forwarded = false;
      src.frame_remaining = 0;
      if (header.fin) src.in_message = false;
      flush();
      fail_source(i, 1007, "Invalid UTF-8 in a text message.");
      continue;
    }
    if (src.frame_forwarded) {
      // D3: each piece of a byte stream is a complete binary message, whatever the sender's
      // fragmentation.
      out += options_.byte_stream
                 ? ws::encode_header(buf + out, true, ws::kBinary, header.payload_length)
                 : ws::encode_header(buf + out, header.fin, header.opcode, header.payload_length);
      dst.mid_frame = header.payload_length > 0;
    }
    in += header.header_size;
    if (header.payload_length == 0) end_frame();
    if (eof) {
      src.eof = true;
      if (dst.eof) {  // D4: both directions ended
        flush();
        initiate_close(0, 1000, "ok");
        initiate_close(1, 1000, "ok");
      }
    }
  }
  // Keep an incomplete header or control frame for the next read.
  src.carry_len = static_cast<std::uint8_t>(total - in);
  std::memcpy(src.carry.data(), buf + in, total - in);
  flush();
  check_progress();
  return !finished_;
}

void RelayPump::deliver(int i, const std::uint8_t* data, std::size_t n) {
  Leg& leg = legs_[i];
  if (leg.gone || n == 0) return;
  if (absent(i)) {
    leg.outbox.keep(data, n);
    return;
  }
  switch (leg.outbox.write(leg.socket, data, n)) {
    case Outbox::Result::kDone:
      break;
    case Outbox::Result::kPending:
      arm(i, Socket::wait_write);
      break;
    case Outbox::Result::kFailed:
      on_leg_gone(i);
      break;
  }
}

void RelayPump::on_writable(int i) {
  Leg& leg = legs_[i];
  if (leg.gone || absent(i)) return;
  switch (leg.outbox.flush(leg.socket)) {
    case Outbox::Result::kPending:
      arm(i, Socket::wait_write);
      break;
    case Outbox::Result::kFailed:
      on_leg_gone(i);
      return;
    case Outbox::Result::kDone:
      break;
  }
  if (!leg.mid_frame && !leg.deferred.empty() &&
      leg.outbox.pending() < limits_.relay_buffer_high_water) {
    std::string pong = std::move(leg.deferred);
    leg.deferred.clear();
    deliver(i, pong);
  }
  maybe_resume(1 - i);
  maybe_resume(i);
  check_progress();
}

// Bytes that may wait toward the other leg before leg i is not read any more.
std::size_t RelayPump::high_water(int i) const {
  return absent(1 - i) ? options_.hold_high_water : limits_.relay_buffer_high_water;
}

// Whether reading leg i must wait: its data toward the other leg is above the high-water mark.
// A backlog toward leg i itself never stops its reading: a tunnel end that waits for its own
// writes would then wait for us while we wait for it. Pongs toward it are bounded instead
// (send_control keeps only the latest while it is backlogged).
bool RelayPump::backlogged(int i, std::size_t limit) const {
  return legs_[1 - i].outbox.pending() >= limit;
}

// Reads leg i again once both backlogs have drained below half the high-water mark.
void RelayPump::maybe_resume(int i) {
  Leg& src = legs_[i];
  if (!src.read_paused || src.gone) return;
  if (backlogged(i, high_water(i) / 2)) return;
  src.read_paused = false;
  src.read_armed = true;
  asio::post(context_, [self = shared_from_this(), i] { self->on_readable(i); });
}

void RelayPump::send_control(int i, std::string frame) {
  Leg& leg = legs_[i];
  if (leg.gone || leg.close_sent) return;
  if (leg.mid_frame || leg.outbox.pending() >= limits_.relay_buffer_high_water) {
    leg.deferred = std::move(frame);  // only Pongs wait here; answering the latest Ping is enough
    return;
  }
  deliver(i, frame);
}

void RelayPump::initiate_close(int i, std::uint16_t code, std::string_view reason) {
  Leg& leg = legs_[i];
  if (leg.gone || leg.close_sent) return;
  if (leg.mid_frame) {
    drop(i);  // a Close cannot interrupt a frame already started toward this leg
    return;
  }
  leg.close_sent = true;
  leg.deferred.clear();
  deliver(i, ws::make_close_frame(code, reason));
  arm_close_deadline();
}

void RelayPump::close_both(std::uint16_t code, std::string_view reason) {
  if (awaiting_) {
    close_held(code, reason);
    return;
  }
  initiate_close(0, code, reason);
  initiate_close(1, code, reason);
  check_progress();
}

void RelayPump::fail(std::uint16_t code, std::string_view reason) {
  spdlog::debug("relay closing both legs: {} {}", code, reason);
  close_both(code, reason);
}

// Leg i sent something the relay refuses (invalid UTF-8, a message too big) but its stream can
// still be parsed: it is closed normally, and so is its partner.
void RelayPump::fail_source(int i, std::uint16_t code, std::string_view reason) {
  if (!options_.partner_lost) {
    fail(code, reason);
    return;
  }
  spdlog::debug("relay leg closed: {} {}", code, reason);
  initiate_close(i, code, reason);
  close_partner_of(i, code, reason);
  check_progress();
}

// Leg i's partner learns that leg i is lost or failed with `code`.
void RelayPump::close_partner_of(int i, std::uint16_t code, std::string_view reason) {
  if (options_.partner_lost) {
    initiate_close(1 - i, options_.partner_lost->code, options_.partner_lost->reason);
  } else {
    initiate_close(1 - i, code, reason);
  }
}

// Leg i cannot go on (a protocol error: its stream can no longer be parsed, RFC 6455 section
// 7.1.7; or keepalive silence): it gets a Close if one fits and is dropped at once; the other leg
// is closed normally with the same code.
void RelayPump::fail_leg(int i, std::uint16_t code, std::string_view reason) {
  spdlog::debug("relay leg failed: {} {}", code, reason);
  Leg& leg = legs_[i];
  if (!leg.gone && !leg.close_sent && !leg.mid_frame)
    deliver(i, ws::make_close_frame(code, reason));
  leg.close_sent = true;
  drop(i);
  close_partner_of(i, code, reason);
  check_progress();
}

void RelayPump::drop(int i) {
  Leg& leg = legs_[i];
  if (leg.gone) return;
  if (absent(i)) awaiting_ = false;  // no partner can be taken any more
  leg.gone = true;
  leg.outbox.clear();
  boost::system::error_code ignored;
  leg.socket.close(ignored);
}

void RelayPump::on_leg_gone(int i) {
  if (legs_[i].gone) return;
  // If this leg dies mid-frame toward the other, the other cannot get a Close: drop it too.
  const bool other_mid_frame = legs_[i].frame_remaining > 0 && legs_[i].frame_forwarded;
  drop(i);
  if (other_mid_frame) {
    drop(1 - i);
  } else {
    close_partner_of(i, 1001, "The other side of the relay disconnected.");
  }
  check_progress();
}

// Shuts a leg's sending side once its closing handshake is done and flushed; finishes the pair
// once both sockets are closed.
void RelayPump::check_progress() {
  for (int i = 0; i < 2; ++i) {
    Leg& leg = legs_[i];
    if (leg.gone || leg.write_shut || absent(i)) continue;
    if (leg.close_sent && leg.close_received && leg.outbox.empty()) {
      boost::system::error_code ignored;
      leg.socket.shutdown(Socket::shutdown_send, ignored);
      leg.write_shut = true;
      arm(i, Socket::wait_read);  // the client's EOF completes the leg
      arm_close_deadline();
    }
  }
  if (awaiting_ && legs_[0].gone) {
    // What was kept now waits, without a deadline, for a partner or for close_held().
    if (!held_close_reported_ && on_held_closed) {
      held_close_reported_ = true;
      on_held_closed();
    }
    return;
  }
  // With one leg gone nothing more can cross: the other has close_timeout to finish.
  if (!finished_ && (legs_[0].gone != legs_[1].gone)) arm_close_deadline();
  if (finished_ || !legs_[0].gone || !legs_[1].gone) return;
  finished_ = true;
  tick_.cancel();
  if (close_deadline_) close_deadline_->cancel();
  if (counted_) active_pairs_.fetch_sub(1, std::memory_order_relaxed);
  pumps_on_thread.erase(this);
  if (on_finished) {
    auto callback = std::move(on_finished);
    on_finished = nullptr;
    callback();
  }
}

void RelayPump::arm_close_deadline() {
  if (close_deadline_ || finished_) return;  // a failed write may have finished the pair already
  close_deadline_.emplace(context_, limits_.close_timeout);
  close_deadline_->async_wait(
      [self = shared_from_this(), unsent = unsent()](boost::system::error_code ec) {
        if (ec) return;
        // A Close queued behind data a slow receiver is still taking is not late: wait again.
        const std::size_t now = self->unsent();
        if (now > 0 && now < unsent) {
          self->close_deadline_.reset();
          self->arm_close_deadline();
          return;
        }
        for (int i = 0; i < 2; ++i) {
          if (!self->absent(i)) self->drop(i);  // what is kept for an absent partner stays
        }
        self->check_progress();
      });
}

void RelayPump::schedule_tick() {
  tick_.expires_after(limits_.ping_interval);
  tick_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
    if (!ec) self->on_tick();
  });
}

void RelayPump::on_tick() {
  if (finished_) return;
  for (int i = 0; i < 2; ++i) {
    Leg& leg = legs_[i];
    // A leg that sent its Close has nothing more to say; its silence is not a failure.
    if (leg.gone || leg.close_received || absent(i)) continue;
    // A leg we are not reading (backpressure) cannot show activity; it is not silent.
    if (leg.active || leg.read_paused) {
      leg.active = false;
      leg.missed = 0;
    } else if (++leg.missed >= limits_.ping_misses) {
      spdlog::info("relay leg silent for {} ping intervals, closing the pair", leg.missed);
      fail_leg(i, 1011, "Keepalive timeout.");
      if (!finished_) schedule_tick();
      return;
    }
    // No Ping after our Close: silence is still counted above.
    if (!leg.mid_frame && !leg.close_sent) deliver(i, ws::make_control_frame(ws::kPing, {}));
  }
  schedule_tick();
}

}  // namespace switchboard::core
