// A connection whose HTTP request head has been read, waiting for the protocol that owns its path
// to answer it: refuse it with a status, or switch it to WebSocket.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/limits.hpp"
#include "core/request_head.hpp"
#include "core/socket.hpp"
#include "core/source_guard.hpp"

namespace switchboard::core {

struct Services;
struct RequestParser;  // Beast's parser, kept for the body of a plain request (http_body.hpp)

class Handshake : public std::enable_shared_from_this<Handshake> {
 public:
  Handshake(Services& services, asio::io_context& context, Socket socket, RemoteEndpoint remote,
            SourceTicket ticket)
      : services(services),
        context(context),
        socket(std::move(socket)),
        remote(std::move(remote)),
        ticket(std::move(ticket)) {}

  Services& services;
  asio::io_context& context;  // the worker this connection lives on
  Socket socket;
  RemoteEndpoint remote;
  SourceTicket ticket;
  RequestHead request;
  std::string leftover;  // bytes read after the request head
  bool secure = false;   // arrived over TLS
  // The parser that read the head, when the request is not an upgrade: its body comes next.
  std::shared_ptr<RequestParser> parser;
  // A kept-alive connection waiting for its next request: it may stay idle for
  // keepalive_timeout and is closed silently if nothing arrives.
  bool idle_wait = false;
};

// Whether a refusal is the client's fault (counts toward the per-source failure delay).
enum class Blame { kClient, kNone };

struct Response {
  int status = 400;
  std::string reason;
  std::vector<Header> headers = {};
  std::string body = {};
  std::string content_type = {};
};

// Answers with a plain HTTP response and closes the connection; failures are held back per source.
void refuse(std::shared_ptr<Handshake> handshake, Response refusal, Blame blame = Blame::kClient);
// Writes `bytes`, then shuts the sending side and closes once the client has hung up (or after
// two seconds).
void send_and_close(std::shared_ptr<Handshake> handshake, std::string bytes);
// Answers a plain request that succeeded (status page, status API) and closes the connection.
void respond(std::shared_ptr<Handshake> handshake, Response response);

// Validates the RFC 6455 parts of an upgrade request; returns 0 or the status to refuse with.
struct UpgradeCheck {
  int status = 0;
  std::string reason;
  std::vector<Header> headers;
};
UpgradeCheck check_websocket_upgrade(const RequestHead& request);

std::string_view standard_reason(int status);

// Writes "101 Switching Protocols" (no extensions; the sub-protocol if any) and calls `done`
// on the connection's worker with whether it was written.
void switch_protocols(std::shared_ptr<Handshake> handshake, std::string_view protocol,
                      std::function<void(bool)> done);

// Reads a request head (after any bytes already in `leftover`), then calls `route` (or refuses:
// 400, 408, 431).
using RouteFn = std::function<void(std::shared_ptr<Handshake>)>;
void read_request_head(std::shared_ptr<Handshake> handshake, RouteFn route);

// Renders a complete HTTP/1.1 response.
std::string render_response(int status, std::string_view reason, const std::vector<Header>& headers,
                            std::string_view body, std::string_view content_type = {});

}  // namespace switchboard::core
