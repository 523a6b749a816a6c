// The socket type of every upgraded connection: a generic stream socket, so that TCP legs and the
// socketpairs of the unit tests run through the same code, and so a leg can move between threads.
#pragma once

#include <boost/asio/generic/stream_protocol.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <cstdint>
#include <string>

namespace switchboard::core {

namespace asio = boost::asio;
using Socket = asio::generic::stream_protocol::socket;

// Opens, binds (SO_REUSEADDR) and listens: the listening socket of the server and the tools.
boost::system::error_code listen_on(asio::ip::tcp::acceptor& acceptor,
                                    const asio::ip::tcp::endpoint& endpoint);

// Re-homes a socket on another io_context (a relayed pair must live on one thread). Call on the
// thread that owns `from`; use the result only on the thread that runs `to`.
struct DetachedSocket {
  int family = 0;
  int fd = -1;
};
DetachedSocket detach(Socket& from);
Socket attach(asio::io_context& to, DetachedSocket detached);

// One read for a reactor-style reader: bytes that arrived with the handshake (`leftover`) first,
// else what a non-blocking read gives. On kData, `n` bytes were placed at `buf`.
enum class ReadOutcome { kData, kWouldBlock, kClosed };
ReadOutcome read_available(Socket& socket, std::string& leftover, std::uint8_t* buf,
                           std::size_t capacity, std::size_t& n);

}  // namespace switchboard::core
