// WebSocket opening handshakes for the load generator (the harness's one Boost.Beast unit): a
// client's upgrade request and its 101, and the direct server's side of the same exchange.
#pragma once

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "core/socket.hpp"

namespace switchboard::bench {

namespace asio = boost::asio;
using core::Socket;

struct Endpoint {
  std::string host = "127.0.0.1";
  unsigned short port = 0;
};

struct Upgraded {
  boost::system::error_code ec;  // connection or HTTP failure
  int status = 0;                // the HTTP status; 101 when upgraded
  std::string reason;
  std::string leftover;  // bytes that came after the 101
};

using Headers = std::vector<std::pair<std::string, std::string>>;
using UpgradeDone = std::function<void(Socket, Upgraded)>;

// Connects over TCP (TCP_NODELAY), sends the upgrade request for `target` and reads the response
// head; checks Sec-WebSocket-Accept.
void connect_websocket(asio::io_context& io, const Endpoint& to, std::string target,
                       Headers headers, UpgradeDone done);

// Server side: reads the request head of an accepted connection and answers 101. `done` gets the
// request target, or an empty socket when the request was not a valid upgrade (answered 400).
using AcceptDone = std::function<void(Socket, std::string target, std::string leftover)>;
void accept_websocket(Socket socket, AcceptDone done);

}  // namespace switchboard::bench
