// Joins a relayed WebSocket to a local byte stream (a TCP connection, a child process's pipes,
// stdin/stdout), both ways, with backpressure and half-close: the local end's EOF becomes our
// WebSocket Close, the peer's Close becomes a shutdown of the local end's write side, and the
// link ends when both directions have ended.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/system/error_code.hpp>

#include "switchboard/client/websocket.hpp"

namespace switchboard::tools {

namespace asio = boost::asio;
using boost::system::error_code;

class ByteStream {
 public:
  using ReadHandler = std::function<void(error_code, std::string_view)>;  // eof: empty, error
  using WriteHandler = std::function<void(error_code)>;
  virtual ~ByteStream() = default;
  virtual void async_read(ReadHandler handler) = 0;
  virtual void async_write(std::string_view data, WriteHandler handler) = 0;
  virtual void shutdown_write() = 0;
  virtual void close() = 0;
};

std::shared_ptr<ByteStream> tcp_stream(asio::ip::tcp::socket socket);
// The child's stdout is read, its stdin written; close() waits for it without blocking the loop.
std::shared_ptr<ByteStream> process_stream(asio::io_context& io, const std::string& command,
                                           std::string& error);
// This process's stdin (read on a thread, so files and terminals work) and stdout.
std::shared_ptr<ByteStream> stdio_stream(asio::io_context& io);

struct LinkOptions {
  bool text_lines = false;  // local lines become text messages, and text messages lines
  std::string to_local;     // bytes already read from the WebSocket, written locally first
};

struct LinkResult {
  std::uint64_t to_remote = 0;  // bytes sent over the relay
  std::uint64_t to_local = 0;
  client::Error error;  // why the WebSocket side ended abnormally, if it did
};

void link(client::WebSocket socket, std::shared_ptr<ByteStream> local, LinkOptions options,
          std::function<void(const LinkResult&)> done);

}  // namespace switchboard::tools
