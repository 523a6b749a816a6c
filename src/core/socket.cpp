#include "core/socket.hpp"

#include <sys/socket.h>

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

}  // namespace switchboard::core
