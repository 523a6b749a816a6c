#include "bench/harness/direct_server.hpp"

#include <csignal>
#include <cstdio>
#include <memory>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>

#include "bench/harness/conn.hpp"
#include "bench/harness/loads.hpp"
#include "bench/harness/upgrade.hpp"
#include "core/socket.hpp"
#include "server/config.hpp"

namespace switchboard::bench {

namespace {

using tcp = asio::ip::tcp;

void serve_connection(Socket socket, const std::string& target, std::string leftover) {
  auto conn = std::make_shared<WsConn>(std::move(socket), Role::kServer, std::move(leftover));
  std::weak_ptr<WsConn> weak = conn;
  if (target.rfind("/bulk", 0) == 0) {
    conn->keep_payload = false;
    keep_sending(*conn, kBulkMessage);
  } else {
    conn->on_message = [weak](std::uint8_t opcode, std::string_view payload, std::size_t) {
      if (auto c = weak.lock()) c->send(opcode, payload);
    };
  }
  // The connection keeps itself alive through its pending reads; this reference ends with it.
  conn->on_closed = [conn](std::uint16_t) mutable { conn.reset(); };
  conn->start();
}

void do_accept(tcp::acceptor& acceptor) {
  acceptor.async_accept([&acceptor](boost::system::error_code ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted) return;
    if (!ec) {
      boost::system::error_code ignored;
      socket.set_option(tcp::no_delay(true), ignored);
      const int family = socket.local_endpoint(ignored).protocol().family();
      const int fd = socket.release(ignored);
      auto& io = static_cast<asio::io_context&>(acceptor.get_executor().context());
      accept_websocket(core::attach(io, {family, fd}),
                       [](Socket s, const std::string& target, std::string leftover) {
                         serve_connection(std::move(s), target, std::move(leftover));
                       });
    }
    do_accept(acceptor);
  });
}

}  // namespace

int run_direct_server(const std::string& listen) {
  std::string host;
  unsigned short port = 0;
  if (!server::split_host_port(listen, host, port)) {
    std::fprintf(stderr, "direct-server: --listen expects HOST:PORT\n");
    return 2;
  }
  asio::io_context io(1);
  boost::system::error_code ec;
  const tcp::endpoint endpoint(asio::ip::make_address(host, ec), port);
  tcp::acceptor acceptor(io);
  if (!ec) ec = core::listen_on(acceptor, endpoint);
  if (ec) {
    std::fprintf(stderr, "direct-server: cannot listen on %s: %s\n", listen.c_str(),
                 ec.message().c_str());
    return 1;
  }
  std::printf("direct server listening on %s:%u\n", host.c_str(), acceptor.local_endpoint().port());
  std::fflush(stdout);
  asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&io](boost::system::error_code, int) { io.stop(); });
  do_accept(acceptor);
  io.run();
  return 0;
}

}  // namespace switchboard::bench
