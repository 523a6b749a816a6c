// Hybrid Connections over WebSocket (protocol sections 1-4, 6): listener control channels (E1),
// senders (E5) held until a listener accepts (E2) or rejects (E3), then joined in a RelayPump.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "core/handshake.hpp"
#include "core/services.hpp"
#include "hybrid/hc_query.hpp"
#include "hybrid/listener.hpp"
#include "hybrid/registry.hpp"
#include "hybrid/settings.hpp"

namespace switchboard::hybrid {

class HeldSender;

// Whether a request path belongs to this front end: "/$hc/..." ($hc case-insensitive).
bool owns_path(std::string_view path);

class Frontend {
 public:
  Frontend(const Settings& settings, core::Services& services);

  // "/$hc/..." requests: listeners, WebSocket senders and rendezvous (E1-E5).
  void handle(std::shared_ptr<core::Handshake> handshake);
  // Any other plain request: an HTTP sender (E6, section 5).
  void handle_http(std::shared_ptr<core::Handshake> handshake);
  // Closes every control channel with 1001 (server shutdown).
  void shutdown();
  const Registry& registry() const { return registry_; }

  enum class Routed { kSent, kNoListeners, kNoneEligible, kAllBacklogged, kTooBig };

 private:
  friend class HeldSender;
  struct Request;

  void listen(Request& request);
  void connect(Request& request);
  void rendezvous(Request& request);
  void request_rendezvous(Request& request);
  bool admit_sender(Request& request, const ResolvedEntity& entity, std::string_view token,
                    bool http);
  void on_response(Listener& listener, Listener::ControlResponse response);
  void refuse(Request& request, int status, std::string_view reason, std::string_view entity);
  auth::AuthResult authorize(std::string_view token, const EntityConfig* config,
                             std::string_view request_path, std::string_view host,
                             auth::Right needed) const;
  // Picks a listener and sends it the sender's accept (protocol sections 4.1-4.3, 6.2).
  Routed route(const std::shared_ptr<HeldSender>& sender);
  enum class Dispatch { kSent, kTooBig, kListenerGone };
  Dispatch dispatch(const std::shared_ptr<HeldSender>& sender,
                    const std::shared_ptr<Listener>& listener);
  void on_listener_gone(Listener& listener);
  std::string base_url(const core::Handshake& handshake) const;

  const Settings& settings_;
  core::Services& services_;
  Registry registry_;
};

}  // namespace switchboard::hybrid
