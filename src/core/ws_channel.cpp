#include "core/ws_channel.hpp"

#include <algorithm>
#include <cstring>
#include <vector>

#include <spdlog/spdlog.h>

namespace switchboard::core {
namespace {

constexpr std::size_t kReadSize = std::size_t{64} * 1024;

std::uint8_t* thread_buffer() {
  static thread_local std::vector<std::uint8_t> buffer(kReadSize + ws::kMaxControlFrame);
  return buffer.data();
}

}  // namespace

WsChannel::WsChannel(asio::io_context& context, const Limits& limits, Socket socket,
                     std::string leftover, std::size_t max_message)
    : context_(context),
      limits_(limits),
      socket_(std::move(socket)),
      leftover_(std::move(leftover)),
      max_message_(max_message),
      tick_(context) {
  boost::system::error_code ignored;
  socket_.non_blocking(true, ignored);
}

WsChannel::~WsChannel() = default;

void WsChannel::start(MessageFn on_message, EndFn on_end) {
  on_message_ = std::move(on_message);
  on_end_ = std::move(on_end);
  schedule_tick();
  read_armed_ = true;
  asio::post(context_, [self = shared_from_this()] { self->on_readable(); });
}

void WsChannel::send_text(std::string_view text) {
  send_frames(ws::make_data_frame(ws::kText, text));
}

void WsChannel::send_binary(std::string_view bytes) {
  send_frames(ws::make_data_frame(ws::kBinary, bytes));
}

void WsChannel::send_frames(std::string_view frames) {
  if (closing_ || gone_) return;
  deliver(frames);
}

void WsChannel::deliver(std::string_view bytes) {
  if (gone_) return;
  switch (
      outbox_.write(socket_, reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size())) {
    case Outbox::Result::kDone:
      break;
    case Outbox::Result::kPending:
      arm_write();
      break;
    case Outbox::Result::kFailed:
      end(1006, "Connection lost.");
      drop();
      break;
  }
  note_backlog();
}

void WsChannel::note_backlog() {
  backlog_.store(outbox_.pending(), std::memory_order_relaxed);
  if (read_paused_ && !gone_ && outbox_.pending() < limits_.control_buffer_high_water / 2) {
    read_paused_ = false;
    read_armed_ = true;
    asio::post(context_, [self = shared_from_this()] { self->on_readable(); });
  }
}

void WsChannel::close(std::uint16_t code, std::string_view reason) {
  if (closing_ || gone_) return;
  closing_ = true;
  deliver(ws::make_close_frame(code, reason));
  end(code, reason);
  arm_deadline();
  shut_if_done();
}

void WsChannel::abort(std::uint16_t code, std::string_view reason) {
  if (gone_) return;
  if (!closing_) {
    closing_ = true;
    deliver(ws::make_close_frame(code, reason));
  }
  end(code, reason);
  drop();
}

void WsChannel::arm_read() {
  if (read_armed_ || gone_) return;
  read_armed_ = true;
  socket_.async_wait(Socket::wait_read, [self = shared_from_this()](boost::system::error_code ec) {
    self->read_armed_ = false;
    if (ec) {
      if (ec != asio::error::operation_aborted) {
        self->end(1006, "Connection lost.");
        self->drop();
      }
      return;
    }
    self->on_readable();
  });
}

void WsChannel::arm_write() {
  if (write_armed_ || gone_) return;
  write_armed_ = true;
  socket_.async_wait(Socket::wait_write, [self = shared_from_this()](boost::system::error_code ec) {
    self->write_armed_ = false;
    if (ec || self->gone_) return;
    switch (self->outbox_.flush(self->socket_)) {
      case Outbox::Result::kPending:
        self->arm_write();
        break;
      case Outbox::Result::kFailed:
        self->end(1006, "Connection lost.");
        self->drop();
        break;
      case Outbox::Result::kDone:
        self->shut_if_done();
        break;
    }
    self->note_backlog();
    if (self->outbox_.empty() && self->on_drained) self->on_drained();
  });
}

void WsChannel::resume_reading() {
  consumer_paused_ = false;
  if (read_armed_ || gone_ || read_paused_) return;
  read_armed_ = true;
  asio::post(context_, [self = shared_from_this()] { self->on_readable(); });
}

void WsChannel::on_readable() {
  read_armed_ = false;
  for (int round = 0; round < 4; ++round) {
    if (gone_ || consumer_paused_) return;  // resume_reading() comes back here
    if (outbox_.pending() >= limits_.control_buffer_high_water) {
      read_paused_ = true;  // resumed by note_backlog once the peer reads again
      return;
    }
    std::uint8_t* buf = thread_buffer();
    if (carry_ready_) {  // input left over by a pause: process it before reading more
      carry_ready_ = false;
      const std::size_t size = carry_.size();
      std::memcpy(buf, carry_.data(), size);
      carry_.clear();
      if (!process(buf, size)) return;
      continue;
    }
    const std::size_t carried = carry_.size();
    std::size_t n = 0;
    switch (read_available(socket_, leftover_, buf + carried, kReadSize, n)) {
      case ReadOutcome::kWouldBlock:
        arm_read();
        return;
      case ReadOutcome::kClosed:
        end(1006, "Connection lost.");
        drop();
        return;
      case ReadOutcome::kData:
        break;
    }
    std::memcpy(buf, carry_.data(), carried);
    carry_.clear();
    active_ = true;
    if (!process(buf, carried + n)) return;
  }
  read_armed_ = true;
  asio::post(context_, [self = shared_from_this()] { self->on_readable(); });
}

bool WsChannel::process(std::uint8_t* buf, std::size_t total) {
  std::size_t in = 0;
  while (in < total && !gone_) {
    if (frame_remaining_ > 0) {
      const auto k =
          static_cast<std::size_t>(std::min<std::uint64_t>(frame_remaining_, total - in));
      const bool streamed = streaming();
      if (streamed && !close_received_) {
        ws::unmask_copy(buf + in, buf + in, k, frame_.mask, mask_offset_);
      } else if (!close_received_) {
        const std::size_t at = message_.size();
        message_.resize(at + k);
        ws::unmask_copy(reinterpret_cast<std::uint8_t*>(message_.data()) + at, buf + in, k,
                        frame_.mask, mask_offset_);
      }
      const std::uint8_t* piece = buf + in;
      in += k;
      frame_remaining_ -= k;
      mask_offset_ += k;
      if (streamed && !close_received_) {
        const bool last = frame_remaining_ == 0 && frame_.fin;
        if (last) in_message_ = false;
        if (!closing_) on_fragment_({piece, k}, last);
        if (consumer_paused_) break;
        continue;
      }
    } else {
      const auto parsed = ws::parse_header({buf + in, total - in}, frame_);
      if (parsed.status == ws::HeaderStatus::kIncomplete) break;
      if (parsed.status == ws::HeaderStatus::kInvalid || !frame_.masked) {
        protocol_error(1002, frame_.masked ? parsed.error : "Client frames must be masked.");
        return false;
      }
      if (ws::is_control(frame_.opcode)) {
        const std::size_t size = frame_.header_size + frame_.payload_length;
        if (total - in < size) break;
        std::uint8_t payload[ws::kMaxControlPayload];
        const auto len = static_cast<std::size_t>(frame_.payload_length);
        ws::unmask_copy(payload, buf + in + frame_.header_size, len, frame_.mask, 0);
        in += size;
        if (frame_.opcode == ws::kPing) {
          if (!closing_) deliver(ws::make_control_frame(ws::kPong, {payload, len}));
        } else if (frame_.opcode == ws::kClose) {
          if (ws::check_close_payload({payload, len}) != ws::CloseCheck::kValid) {
            protocol_error(1002, "Invalid Close frame.");
            return false;
          }
          const std::uint16_t code =
              len >= 2 ? static_cast<std::uint16_t>((payload[0] << 8) | payload[1]) : 1005;
          const std::string_view reason(
              reinterpret_cast<const char*>(payload) + std::min<std::size_t>(len, 2),
              len > 2 ? len - 2 : 0);
          on_peer_close(code, reason);
        }
        continue;
      }
      if (close_received_) {
        frame_remaining_ = frame_.payload_length;  // nothing counts after the peer's Close
        in += frame_.header_size;
        continue;
      }
      if ((frame_.opcode == ws::kContinuation) != in_message_) {
        protocol_error(1002, in_message_ ? "New message before the previous one ended."
                                         : "Continuation frame without a message.");
        return false;
      }
      if (!in_message_) {
        in_message_ = true;
        message_text_ = frame_.opcode == ws::kText;
        message_.clear();
      }
      if (!streaming() && message_.size() + frame_.payload_length > max_message_) {
        protocol_error(1009, "Message too big.");
        return false;
      }
      frame_remaining_ = frame_.payload_length;
      mask_offset_ = 0;
      in += frame_.header_size;
    }
    if (frame_remaining_ == 0 && in_message_ && frame_.fin && !ws::is_control(frame_.opcode)) {
      const bool streamed = streaming();
      in_message_ = false;
      if (streamed) {  // an empty last frame: its payload branch never ran
        if (!closing_) on_fragment_({}, true);
        if (consumer_paused_) break;
        continue;
      }
      if (message_text_ && !ws::valid_utf8(message_)) {
        protocol_error(1007, "Invalid UTF-8 in a text message.");
        return false;
      }
      if (!closing_ && on_message_) on_message_(message_text_, message_);
      message_.clear();
      if (message_.capacity() > kReadSize) std::string().swap(message_);
    }
  }
  if (!gone_) {
    carry_.assign(reinterpret_cast<const char*>(buf) + in, total - in);
    carry_ready_ = consumer_paused_ && in < total;
  }
  return !gone_;
}

void WsChannel::on_peer_close(std::uint16_t code, std::string_view reason) {
  close_received_ = true;
  if (!closing_) {
    closing_ = true;
    // Echo the peer's code, as RFC 6455 section 5.5.1 suggests.
    deliver(code == 1005 ? ws::make_control_frame(ws::kClose, {})
                         : ws::make_close_frame(code, reason));
  }
  end(code, reason);
  arm_deadline();
  shut_if_done();
}

void WsChannel::protocol_error(std::uint16_t code, std::string_view reason) {
  spdlog::debug("channel protocol error: {} {}", code, reason);
  abort(code, std::string(reason) + reason_suffix);
}

void WsChannel::end(std::uint16_t code, std::string_view reason) {
  if (ended_) return;
  ended_ = true;
  if (on_end_) {
    auto callback = std::move(on_end_);
    on_end_ = nullptr;
    callback(code, reason);
  }
  // Released later: end() may run inside on_message_ itself. Releasing it breaks the
  // channel -> handler -> owner -> channel cycle.
  asio::post(context_, [self = shared_from_this()] {
    self->on_message_ = nullptr;
    self->on_fragment_ = nullptr;
    self->on_drained = nullptr;
  });
}

void WsChannel::shut_if_done() {
  if (gone_ || write_shut_ || !closing_ || !close_received_ || !outbox_.empty()) return;
  boost::system::error_code ignored;
  socket_.shutdown(Socket::shutdown_send, ignored);
  write_shut_ = true;
  arm_read();  // wait for the client's EOF (bounded by the deadline)
}

void WsChannel::drop() {
  if (gone_) return;
  gone_ = true;
  tick_.cancel();
  if (deadline_) deadline_->cancel();
  boost::system::error_code ignored;
  socket_.close(ignored);
  outbox_.clear();
}

void WsChannel::arm_deadline() {
  if (deadline_ || gone_) return;
  deadline_.emplace(context_, limits_.close_timeout);
  deadline_->async_wait([self = shared_from_this()](boost::system::error_code ec) {
    if (!ec) self->drop();
  });
}

void WsChannel::schedule_tick() {
  tick_.expires_after(limits_.ping_interval);
  tick_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
    if (ec || self->gone_ || self->closing_) return;
    if (self->active_) {
      self->active_ = false;
      self->missed_ = 0;
    } else if (++self->missed_ >= self->limits_.ping_misses) {
      spdlog::info("channel silent for {} ping intervals, closing", self->missed_);
      self->abort(1011, "Keepalive timeout." + self->reason_suffix);
      return;
    }
    self->deliver(ws::make_control_frame(ws::kPing, {}));
    self->schedule_tick();
  });
}

}  // namespace switchboard::core
