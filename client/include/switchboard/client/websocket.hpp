// A client WebSocket over TCP or TLS, with the relay's half-close: after the peer's Close the
// socket may keep sending until it closes too (RFC 6455 allows it; the relay forwards each
// direction's Close on its own). Asynchronous, callbacks run on the io_context's thread, no
// exceptions; one read and any number of queued writes at a time.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "switchboard/client/error.hpp"

namespace switchboard::client {

namespace asio = boost::asio;

using Headers = std::vector<std::pair<std::string, std::string>>;

// The value of header `name` (ASCII case-insensitive), empty if absent.
std::string_view find_header(const Headers& headers, std::string_view name);

struct ConnectOptions {
  Headers headers;                        // added to the upgrade request
  std::vector<std::string> subprotocols;  // offered in Sec-WebSocket-Protocol
  std::chrono::milliseconds timeout = std::chrono::seconds(30);  // connect + handshake
  std::string ca_file;      // wss: trust these certificates instead of the system's
  bool verify_peer = true;  // wss: check the certificate and the host name
};

// A piece of a message: as much of it as has arrived. `last` ends the message.
struct Chunk {
  std::string_view data;
  bool text = false;
  bool last = false;
};

class WebSocket {
 public:
  using ReadHandler = std::function<void(const Error&, Chunk)>;
  using MessageHandler = std::function<void(const Error&, std::string message, bool text)>;
  using DoneHandler = std::function<void(const Error&)>;

  WebSocket() = default;
  bool valid() const { return impl_ != nullptr; }

  // The next piece of a message. Fails with Errc::kClosed (close_code, close_reason set) once the
  // peer's Close arrived. The chunk's bytes are valid only inside the handler.
  void async_read_some(ReadHandler handler);
  // A whole message, up to max_size bytes (Errc::kMessageTooBig beyond).
  void async_read(MessageHandler handler, std::size_t max_size = std::size_t{16} << 20);
  // Queues `data` as one frame; with last = false the message continues with the next write.
  // The handler runs when the kernel has taken it. Writes after our Close fail.
  void async_write(std::string_view data, bool text, DoneHandler handler = {}, bool last = true);
  // Sends our Close. The connection ends when both Closes have been exchanged (or after
  // close_timeout). With auto_close_reply (the default) a peer's Close is answered at once.
  void async_close(std::uint16_t code, std::string_view reason, DoneHandler handler = {});
  void set_auto_close_reply(bool on);
  // Drops the TCP connection at once.
  void abort();
  // Neither side has sent its Close yet and the connection stands.
  bool is_open() const;

  // Bytes queued and not yet taken by the kernel.
  std::size_t buffered_amount() const;
  // The sub-protocol the server chose, and the headers of its 101.
  const std::string& subprotocol() const;
  const Headers& response_headers() const;
  // The peer's Close, once it arrived (0 before).
  std::uint16_t peer_close_code() const;
  const std::string& peer_close_reason() const;
  // Time since the last frame of any kind arrived (for keepalive checks).
  std::chrono::steady_clock::duration idle_for() const;
  // Sends a Ping (the peer's Pong counts as a sign of life).
  void ping();
  asio::io_context& context() const;

  struct Impl;
  explicit WebSocket(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}

 private:
  std::shared_ptr<Impl> impl_;
};

using ConnectHandler = std::function<void(const Error&, WebSocket)>;

// Opens a WebSocket to `url` (ws://, wss://; http:// and https:// mean the same). A refusal gives
// Errc::kRejected with the status and reason phrase of the server's answer.
void connect_websocket(asio::io_context& io, std::string_view url, ConnectOptions options,
                       ConnectHandler handler);

}  // namespace switchboard::client
