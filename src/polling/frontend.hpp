// HTTP fallback (protocol polling.md) for clients that cannot open a WebSocket: `create`, `send`,
// `close`, and the receive calls `poll`, `jsonp`, `xhr` and `sse` under /polysocket/. Each socket
// is a WebSocket the relay holds to a `self` target, resolved inside the process.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/handshake.hpp"
#include "core/services.hpp"
#include "polling/session.hpp"
#include "polling/settings.hpp"
#include "polling/target_policy.hpp"
#include "polling/target_socket.hpp"

namespace switchboard::polling {

// Whether a request path belongs to this front end: "/polysocket/..." and "/polysocket.js".
bool owns_path(std::string_view path);

class Frontend {
 public:
  Frontend(const Settings& settings, core::Services& services);

  void handle(const std::shared_ptr<core::Handshake>& handshake);
  // Pending receive calls get `close` 1001 going away; targets are closed with 1001.
  void shutdown();
  std::size_t sockets() const;

 private:
  struct Params;
  void create(const std::shared_ptr<core::Handshake>& handshake, const Params& params);
  void send(const std::shared_ptr<core::Handshake>& handshake, const Params& params);
  void close(const std::shared_ptr<core::Handshake>& handshake, const Params& params);
  void s0_send(const std::shared_ptr<core::Handshake>& handshake, const Params& params);
  // `socket`, or with the S0 aliases on, `socket_id`.
  std::optional<std::string> socket_of(const Params& params) const;
  void receive(const std::shared_ptr<core::Handshake>& handshake, ReceiveKind kind);

  // Runs `work` on the socket's thread, or answers 403 unknown socket (wrapped for JSONP).
  std::shared_ptr<Session> find(const std::string& id) const;
  std::vector<core::Header> api_headers(const core::Handshake& handshake) const;
  void reply(const std::shared_ptr<core::Handshake>& handshake, int status, std::string body,
             std::string_view content_type) const;
  void error(const std::shared_ptr<core::Handshake>& handshake, int status,
             std::string_view message) const;
  std::string relay_host(const core::Handshake& handshake) const;
  bool is_self(std::string_view authority, const core::Handshake& handshake) const;
  void forget(const std::string& id, const std::string& client);

  const Settings& settings_;
  core::Services& services_;
  std::string
      public_authority_;     // host:port of public_url (port defaulted), lower-case; "" if none
  std::string public_host_;  // host[:port] of public_url as written: the relay host
  std::vector<TargetPattern> patterns_;             // allowlisted external targets
  std::shared_ptr<boost::asio::ssl::context> tls_;  // for wss ones
  mutable std::mutex mutex_;
  std::unordered_map<std::string, std::shared_ptr<Session>> sessions_;
  std::unordered_map<std::string, std::size_t> per_client_;
};

}  // namespace switchboard::polling
