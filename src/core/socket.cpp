#include "core/socket.hpp"

#include <sys/socket.h>

#include <algorithm>
#include <cstring>

#include <boost/asio/buffer.hpp>
#include <boost/asio/error.hpp>

namespace switchboard::core {

DetachedSocket detach(Socket& from) {
  boost::system::error_code ec;
  const int family = from.local_endpoint(ec).protocol().family();
  DetachedSocket out{family, -1};
  if (ec) return out;
  out.fd = from.release(ec);
  if (ec) out.fd = -1;
  return out;
}

Socket attach(asio::io_context& to, DetachedSocket detached) {
  Socket socket(to);
  boost::system::error_code ec;
  socket.assign(asio::generic::stream_protocol(detached.family, SOCK_STREAM), detached.fd, ec);
  if (!ec) socket.non_blocking(true, ec);
  return socket;
}

ReadOutcome read_available(Socket& socket, std::string& leftover, std::uint8_t* buf,
                           std::size_t capacity, std::size_t& n) {
  if (!leftover.empty()) {
    n = std::min(leftover.size(), capacity);
    std::memcpy(buf, leftover.data(), n);
    leftover.erase(0, n);
    return ReadOutcome::kData;
  }
  boost::system::error_code ec;
  n = socket.read_some(asio::buffer(buf, capacity), ec);
  if (ec == asio::error::would_block || ec == asio::error::try_again)
    return ReadOutcome::kWouldBlock;
  return ec ? ReadOutcome::kClosed : ReadOutcome::kData;
}

boost::system::error_code listen_on(asio::ip::tcp::acceptor& acceptor,
                                    const asio::ip::tcp::endpoint& endpoint) {
  boost::system::error_code ec;
  acceptor.open(endpoint.protocol(), ec);
  if (!ec) acceptor.set_option(asio::ip::tcp::acceptor::reuse_address(true), ec);
  if (!ec) acceptor.bind(endpoint, ec);
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  return ec;
}

}  // namespace switchboard::core
