#include "bench/harness/conn.hpp"

#include <algorithm>
#include <cstring>
#include <random>

#include <boost/asio/buffer.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/post.hpp>

namespace switchboard::bench {

namespace ws = core::ws;

std::uint8_t* read_buffer() {
  thread_local std::vector<std::uint8_t> buffer(kReadBufferSize);
  return buffer.data();
}

WsConn::WsConn(Socket socket, Role role, std::string leftover)
    : socket_(std::move(socket)), role_(role), leftover_(std::move(leftover)) {
  // One key per connection: the relay's unmasking work is the same, the generator's is less.
  thread_local std::mt19937 random(std::random_device{}());
  const std::uint32_t key = static_cast<std::uint32_t>(random()) | 1U;
  std::memcpy(mask_, &key, 4);
}

WsConn::~WsConn() {
  boost::system::error_code ignored;
  socket_.close(ignored);
}

void WsConn::start() {
  if (leftover_.empty()) {
    arm(Socket::wait_read);
  } else {
    asio::post(socket_.get_executor(), [self = shared_from_this()] { self->on_readable(); });
  }
}

// Waits until the socket is readable or writable, at most one wait of each kind at a time.
void WsConn::arm(Socket::wait_type type) {
  const bool reading = type == Socket::wait_read;
  bool& armed = reading ? read_armed_ : write_armed_;
  if (armed || gone_) return;
  armed = true;
  socket_.async_wait(type, [self = shared_from_this(), reading](boost::system::error_code ec) {
    (reading ? self->read_armed_ : self->write_armed_) = false;
    if (self->gone_) return;
    if (ec) {
      self->finish(1006);
      return;
    }
    if (reading) {
      self->on_readable();
    } else {
      self->flush();
    }
  });
}

void WsConn::on_readable() {
  std::uint8_t* buf = read_buffer();
  in_read_ = true;
  bool emptied = false;  // the socket has nothing more for now: wait for the next arrival
  for (int round = 0; round < 8 && !gone_ && !emptied; ++round) {
    std::size_t n = 0;
    const bool from_socket = leftover_.empty();
    const auto outcome = core::read_available(socket_, leftover_, buf, kReadBufferSize, n);
    if (outcome == core::ReadOutcome::kWouldBlock) {
      emptied = true;
      break;
    }
    if (outcome == core::ReadOutcome::kClosed || n == 0) {
      in_read_ = false;
      finish(close_received_ ? peer_code_ : 1006);
      return;
    }
    consume(buf, n);
    // A short read from the socket emptied it (see the relay pump's on_readable).
    emptied = from_socket && n < kReadBufferSize;
  }
  in_read_ = false;
  if (gone_) return;
  if (!corked_) flush();
  if (emptied) {
    arm(Socket::wait_read);
  } else {
    // Eight reads in a row: let the thread's other connections run, then read on.
    asio::post(socket_.get_executor(), [self = shared_from_this()] { self->on_readable(); });
  }
}

void WsConn::consume(const std::uint8_t* p, std::size_t n) {
  while (n > 0 && !gone_) {
    if (!in_payload_) {
      const std::size_t take = std::min<std::size_t>(ws::kMaxHeaderSize - header_len_, n);
      std::memcpy(header_ + header_len_, p, take);
      const auto parse =
          ws::parse_header(std::span<const std::uint8_t>(header_, header_len_ + take), frame_);
      if (parse.status == ws::HeaderStatus::kIncomplete) {
        header_len_ = static_cast<std::uint8_t>(header_len_ + take);
        return;
      }
      if (parse.status == ws::HeaderStatus::kInvalid || frame_.masked != (role_ == Role::kServer)) {
        finish(1002);
        return;
      }
      const std::size_t used = frame_.header_size - header_len_;
      p += used;
      n -= used;
      header_len_ = 0;
      remaining_ = frame_.payload_length;
      mask_offset_ = 0;
      in_payload_ = true;
      if (!ws::is_control(frame_.opcode) && frame_.opcode != ws::kContinuation) {
        message_opcode_ = frame_.opcode;
        message_length_ = 0;
      }
      if (remaining_ == 0) on_frame_end();
      continue;
    }
    const std::size_t take = static_cast<std::size_t>(std::min<std::uint64_t>(remaining_, n));
    const bool control = ws::is_control(frame_.opcode);
    std::string& sink = control ? control_ : message_;
    if (control || keep_payload) {
      const std::size_t at = sink.size();
      sink.resize(at + take);
      auto* dst = reinterpret_cast<std::uint8_t*>(sink.data()) + at;
      if (frame_.masked) {
        ws::unmask_copy(dst, p, take, frame_.mask, mask_offset_);
      } else {
        std::memcpy(dst, p, take);
      }
    }
    if (!control) {
      message_length_ += take;
      bytes_in_ += take;
    }
    remaining_ -= take;
    mask_offset_ += take;
    p += take;
    n -= take;
    if (remaining_ == 0) on_frame_end();
  }
}

void WsConn::on_frame_end() {
  in_payload_ = false;
  if (!ws::is_control(frame_.opcode)) {
    if (frame_.fin) {
      if (on_message) on_message(message_opcode_, message_, message_length_);
      message_.clear();
    }
    return;
  }
  if (frame_.opcode == ws::kPing) {
    const std::string payload = std::move(control_);
    control_.clear();
    send(ws::kPong, payload);
  } else if (frame_.opcode == ws::kClose) {
    close_received_ = true;
    peer_code_ = 1005;
    if (control_.size() >= 2) {
      peer_code_ = static_cast<std::uint16_t>((static_cast<std::uint8_t>(control_[0]) << 8) |
                                              static_cast<std::uint8_t>(control_[1]));
    }
    if (!close_sent_) close(peer_code_ == 1005 ? 1000 : peer_code_);
    if (role_ == Role::kServer && queued() == 0) finish(peer_code_);
  }
  control_.clear();
}

void WsConn::send(std::uint8_t opcode, const void* data, std::size_t n) {
  if (gone_ || close_sent_) return;
  std::uint8_t header[ws::kMaxHeaderSize];
  std::size_t h = ws::encode_header(header, true, opcode, n);
  if (role_ == Role::kClient) {
    header[1] |= 0x80;
    std::memcpy(header + h, mask_, 4);
    h += 4;
  }
  const std::size_t at = out_.size();
  out_.resize(at + h + n);
  std::memcpy(out_.data() + at, header, h);
  const auto* src = static_cast<const std::uint8_t*>(data);
  if (role_ == Role::kClient) {
    ws::unmask_copy(out_.data() + at + h, src, n, mask_, 0);
  } else if (n > 0) {
    std::memcpy(out_.data() + at + h, src, n);
  }
  if (opcode == ws::kClose) close_sent_ = true;
  if (!in_read_ && !flushing_ && !corked_) flush();
}

void WsConn::close(std::uint16_t code) {
  if (close_sent_ || gone_) return;
  const std::uint8_t payload[2] = {static_cast<std::uint8_t>(code >> 8),
                                   static_cast<std::uint8_t>(code)};
  send(ws::kClose, payload, 2);
}

void WsConn::flush() {
  if (flushing_) return;
  flushing_ = true;
  while (!gone_) {
    while (queued() > 0) {
      boost::system::error_code ec;
      const std::size_t written =
          socket_.write_some(asio::buffer(out_.data() + out_head_, queued()), ec);
      if (ec == asio::error::would_block || ec == asio::error::try_again) {
        if (out_head_ > out_.size() / 2) {
          out_.erase(out_.begin(), out_.begin() + static_cast<std::ptrdiff_t>(out_head_));
          out_head_ = 0;
        }
        flushing_ = false;
        arm(Socket::wait_write);
        return;
      }
      if (ec) {
        flushing_ = false;
        finish(1006);
        return;
      }
      out_head_ += written;
      bytes_out_ += written;
    }
    out_.clear();
    out_head_ = 0;
    if (role_ == Role::kServer && close_sent_ && close_received_) {
      flushing_ = false;
      finish(peer_code_);
      return;
    }
    if (!on_drained || close_sent_) break;
    on_drained();  // a producer queues more here; stop once it queued nothing
    if (queued() == 0) break;
  }
  flushing_ = false;
}

void WsConn::finish(std::uint16_t code) {
  if (gone_) return;
  gone_ = true;
  boost::system::error_code ignored;
  socket_.close(ignored);
  auto callback = std::move(on_closed);
  on_closed = nullptr;
  release_callbacks();
  if (callback) callback(code);
}

void WsConn::abort() {
  if (gone_) return;
  gone_ = true;
  boost::system::error_code ignored;
  socket_.close(ignored);
  release_callbacks();
}

void WsConn::release_callbacks() {
  // Later, not now: the caller may be running inside one of them. Dropping them breaks the
  // reference cycles of callbacks that keep their own connection alive.
  asio::post(socket_.get_executor(), [self = shared_from_this()] {
    self->on_message = nullptr;
    self->on_closed = nullptr;
    self->on_drained = nullptr;
  });
}

}  // namespace switchboard::bench
