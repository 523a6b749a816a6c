// One WebSocket connection of the load generator, client or server side, after its handshake:
// reactor-style non-blocking reads into a buffer shared by the thread, writes that go out at once
// and are kept only when the kernel does not take them (the relay's own discipline, so the load
// generator costs about what one relay leg costs). Frames come out as whole messages, or, for
// bulk transfer, as payload byte counts without being kept.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "core/socket.hpp"
#include "core/ws_frame.hpp"

namespace switchboard::bench {

namespace asio = boost::asio;
using core::Socket;

enum class Role { kClient, kServer };  // a client masks what it sends and expects unmasked frames

class WsConn : public std::enable_shared_from_this<WsConn> {
 public:
  WsConn(Socket socket, Role role, std::string leftover);
  ~WsConn();
  WsConn(const WsConn&) = delete;
  WsConn& operator=(const WsConn&) = delete;

  // A whole data message (or, with keep_payload = false, its length and an empty view).
  std::function<void(std::uint8_t opcode, std::string_view payload, std::size_t length)> on_message;
  // The connection ended (Close exchanged, or the socket failed); `code` is the peer's close
  // code, 1006 when none arrived.
  std::function<void(std::uint16_t code)> on_closed;
  // Everything queued has been written (for producers that keep the socket busy).
  std::function<void()> on_drained;
  bool keep_payload = true;

  void start();  // begins reading; call once the callbacks are set
  void send(std::uint8_t opcode, const void* data, std::size_t n);
  void send(std::uint8_t opcode, std::string_view s) { send(opcode, s.data(), s.size()); }
  // Between cork() and uncork(), sends are queued and then written together (one system call).
  void cork() { corked_ = true; }
  void uncork() {
    corked_ = false;
    flush();
  }
  // Starts the closing handshake; on_closed follows once the peer answered and hung up.
  void close(std::uint16_t code = 1000);
  // Drops the connection without a closing handshake.
  void abort();
  std::size_t queued() const { return out_.size() - out_head_; }
  bool closed() const { return gone_; }
  std::uint64_t bytes_received() const { return bytes_in_; }  // payload bytes of data frames
  std::uint64_t bytes_written() const { return bytes_out_; }  // bytes the kernel took

 private:
  void arm(Socket::wait_type type);
  void on_readable();
  void consume(const std::uint8_t* p, std::size_t n);
  void on_frame_end();
  void flush();
  void finish(std::uint16_t code);
  void release_callbacks();

  Socket socket_;
  Role role_;
  std::string leftover_;
  std::vector<std::uint8_t> out_;
  std::size_t out_head_ = 0;
  std::uint8_t mask_[4];
  // Inbound frame state.
  std::uint8_t header_[core::ws::kMaxHeaderSize];
  std::uint8_t header_len_ = 0;
  core::ws::FrameHeader frame_;
  std::uint64_t remaining_ = 0;
  std::uint64_t mask_offset_ = 0;
  bool in_payload_ = false;
  std::uint8_t message_opcode_ = 0;
  std::size_t message_length_ = 0;
  std::string message_;
  std::string control_;
  std::uint64_t bytes_in_ = 0;
  std::uint64_t bytes_out_ = 0;
  std::uint16_t peer_code_ = 1006;
  bool read_armed_ = false;
  bool write_armed_ = false;
  bool in_read_ = false;  // writes made while handling a read go out in one batch after it
  bool flushing_ = false;
  bool corked_ = false;
  bool close_sent_ = false;
  bool close_received_ = false;
  bool gone_ = false;
};

// The thread's read buffer, shared by every connection of the thread.
std::uint8_t* read_buffer();
constexpr std::size_t kReadBufferSize = std::size_t{256} * 1024;

}  // namespace switchboard::bench
