// A Hybrid Connections listener: holds the control channel of one path, reconnects with backoff,
// renews its token before it expires, and hands over each sender (to accept or reject, with a
// sub-protocol of its choice) and each relayed HTTP request (bodies streamed both ways).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "switchboard/client/websocket.hpp"

namespace switchboard::client {

enum class ListenerState { kConnecting, kConnected, kReconnecting, kStopped };
std::string_view to_string(ListenerState state);

// Returns a token for `audience` (the listen address); called at each connect and before the
// previous token expires. Empty means no token (anonymous).
using TokenProvider = std::function<std::string(std::string_view audience)>;
// A provider that signs tokens with a key, valid for `ttl` each.
TokenProvider key_token_provider(std::string key_name, std::string key,
                                 std::chrono::seconds ttl = std::chrono::hours(1));

struct ListenerOptions {
  TokenProvider token;
  std::string listener_id;  // sb-hc-id of the control channel; empty lets the relay pick
  // Waits between reconnection attempts; the last one repeats. Reset once connected.
  std::vector<std::chrono::seconds> backoff = {std::chrono::seconds(0),  std::chrono::seconds(1),
                                               std::chrono::seconds(2),  std::chrono::seconds(5),
                                               std::chrono::seconds(10), std::chrono::seconds(30)};
  // A Ping every ping_interval; the channel counts as lost after 3 intervals without any frame.
  std::chrono::seconds ping_interval = std::chrono::seconds(30);
  ConnectOptions connect;  // TLS settings and timeout, for the control channel and rendezvous
};

// A sender waiting to be connected: everything the relay told about it.
class AcceptRequest {
 public:
  const std::string& id() const { return id_; }
  const std::string& address() const { return address_; }
  // The request path after "/$hc/" (entity and suffix, as the sender wrote it) and its query
  // without the sb-hc-* parameters (no '?').
  const std::string& path() const { return path_; }
  const std::string& query() const { return query_; }
  const Headers& headers() const { return headers_; }
  const std::string& remote_address() const { return remote_address_; }
  std::uint16_t remote_port() const { return remote_port_; }
  // The sender's Sec-WebSocket-Protocol offer, in order.
  std::vector<std::string> subprotocols() const;

  // Opens the rendezvous; `done` gets the WebSocket to the sender (or why it failed).
  void accept(std::string subprotocol, ConnectHandler done);
  // Refuses: the sender gets `status` (400-599) and `description` as its reason phrase.
  void reject(int status, std::string_view description, WebSocket::DoneHandler done = {});
  bool answered() const { return answered_; }

  struct Context;
  AcceptRequest(std::shared_ptr<Context> context, std::string id, std::string address,
                Headers headers, std::string remote_address, std::uint16_t remote_port);

 private:
  std::shared_ptr<Context> context_;
  std::string id_, address_, path_, query_;
  Headers headers_;
  std::string remote_address_;
  std::uint16_t remote_port_ = 0;
  bool answered_ = false;
};

// One relayed HTTP request and its response.
class HttpExchange {
 public:
  virtual ~HttpExchange() = default;
  virtual const std::string& method() const = 0;
  // The request target as the relay forwards it: "/ENTITY/suffix?query" (sb-hc-* removed).
  virtual const std::string& target() const = 0;
  virtual const Headers& headers() const = 0;
  virtual const std::string& remote_address() const = 0;
  virtual std::uint16_t remote_port() const = 0;
  virtual bool has_body() const = 0;
  // The request body piece by piece; the last piece has last = true (an empty body gives one
  // empty last piece).
  virtual void async_read_body(WebSocket::ReadHandler handler) = 0;

  // The response. Status and headers go out with the first body byte (or at end()); a response
  // larger than 64 KiB streams over its own rendezvous with backpressure.
  virtual void set_status(int status, std::string description = {}) = 0;
  virtual void add_header(std::string name, std::string value) = 0;
  virtual void async_write(std::string_view data, WebSocket::DoneHandler done) = 0;
  virtual void async_end(WebSocket::DoneHandler done = {}) = 0;
  // Gives up on the response: before anything was sent the sender gets 502 Bad Gateway; once
  // the response is under way its connection is dropped, so it cannot take a short body as whole.
  virtual void abort() = 0;
};

struct ListenerHandlers {
  // connected, reconnecting (with the wait and what went wrong), stopped.
  std::function<void(ListenerState, const Error& cause, std::chrono::seconds retry_in)> on_state;
  // A sender arrived. Call accept() or reject(), now or later. Without this handler each sender
  // is accepted with the first sub-protocol it offered and handed to on_connection.
  std::function<void(std::shared_ptr<AcceptRequest>)> on_accept;
  std::function<void(WebSocket, std::shared_ptr<const AcceptRequest>)> on_connection;
  // A relayed HTTP request. Without this handler requests get 501 (Not Implemented: this
  // listener does not serve HTTP requests).
  std::function<void(std::shared_ptr<HttpExchange>)> on_request;
  // Something the application may want to log (a failed accept, a malformed message).
  std::function<void(std::string_view)> on_warning;
};

class HybridListener {
 public:
  // `listen_url` is wss://HOST/$hc/PATH (sb-hc-action=listen is added when missing).
  HybridListener(asio::io_context& io, std::string listen_url, ListenerOptions options,
                 ListenerHandlers handlers);
  ~HybridListener();
  HybridListener(const HybridListener&) = delete;
  HybridListener& operator=(const HybridListener&) = delete;

  void start();
  // Closes the control channel (1000) and stops reconnecting; relayed connections stay open.
  void stop();
  ListenerState state() const;

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace switchboard::client
