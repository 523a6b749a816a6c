// The WebSocket the relay holds open to a socket's target (polling protocol sections 4-5). A
// `self` target is this Switchboard's own router, reached through a socketpair inside the process:
// no DNS, TCP or TLS, and the endpoint sees an ordinary WebSocket upgrade.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "core/request_head.hpp"
#include "core/services.hpp"
#include "core/socket.hpp"

namespace boost::asio::ssl {
class context;
}

namespace switchboard::polling {

struct Settings;

// An allowlisted target outside this Switchboard.
struct ExternalTarget {
  bool secure = false;
  std::string host;         // to resolve, and the TLS name to verify
  std::string port;         // defaulted
  std::string host_header;  // host[:port] as in the URL
  std::string target;       // origin-form path and query
  std::string origin;       // "" = none
  bool allow_private = false;
};

class TargetSocket {
 public:
  struct Handlers {
    // Once: the handshake's outcome; empty on success, else "connect failed", "timeout" or
    // "handshake failed: <status>".
    std::function<void(const std::string& failure)> opened;
    std::function<void(bool text, std::string data)> message;
    // Once, after a successful open: the connection ended. `abnormal` when it was lost without a
    // Close (code 1006) or failed.
    std::function<void(std::uint16_t code, std::string reason, bool abnormal)> closed;
  };

  // Opens `target` (origin-form path and query) on this server, presenting `host` and `origin`
  // (empty: none); the endpoint sees `client` as the remote address. Handlers run on `context`.
  static std::shared_ptr<TargetSocket> open_self(core::asio::io_context& context,
                                                 core::Services& services,
                                                 core::RemoteEndpoint client,
                                                 const std::string& host, const std::string& target,
                                                 const std::string& origin,
                                                 const Settings& settings, Handlers handlers);
  // Resolves, checks the addresses (section 5.3), connects, and for wss verifies the certificate.
  static std::shared_ptr<TargetSocket> open_external(core::asio::io_context& context,
                                                     const ExternalTarget& target,
                                                     const Settings& settings,
                                                     boost::asio::ssl::context* tls,
                                                     Handlers handlers);
  virtual ~TargetSocket() = default;

  // Queued in order; text or binary message.
  virtual void send(bool text, std::string data) = 0;
  // Bytes queued toward the target that it has not taken yet.
  virtual std::size_t queued() const = 0;
  // Called whenever queued() drops (a write completed).
  std::function<void()> on_drained;
  // Sends a Close after what is queued; `closed` follows with the target's answer, or with this
  // code and reason after close_wait.
  virtual void close(std::uint16_t code, std::string reason) = 0;
  // Backpressure: stop reading the target, and start again.
  virtual void pause() = 0;
  virtual void resume() = 0;
  // Drops the connection without further callbacks.
  virtual void abort() = 0;
};

}  // namespace switchboard::polling
