#include "hybrid/frontend.hpp"

#include <charconv>
#include <chrono>

#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <boost/asio/steady_timer.hpp>
#include <boost/json.hpp>
#include <boost/url/encode.hpp>
#include <boost/url/rfc/unreserved_chars.hpp>

#include "core/random_id.hpp"
#include "core/relay_pump.hpp"
#include "hybrid/http_exchange.hpp"
#include "hybrid/http_messages.hpp"
#include "hybrid/listener.hpp"
#include "hybrid/tracking.hpp"

namespace switchboard::hybrid {
namespace asio = boost::asio;
namespace json = boost::json;
using core::Handshake;

namespace {

constexpr std::string_view kNoListeners = "There are no listeners connected for the endpoint.";
constexpr std::string_view kInvalidAddress = "The rendezvous address is not valid.";

struct Refused {
  int status;
  std::string_view reason;
};

// What a sender hears when no accept could be sent.
Refused refusal_for(Frontend::Routed routed) {
  switch (routed) {
    case Frontend::Routed::kNoneEligible:
      return {
          404,
          "None of the connected listeners meet the AllowedListeners/DisallowedListeners criteria"};
    case Frontend::Routed::kAllBacklogged:
      return {503,
              "Service Unavailable: the listeners of this endpoint are not reading their control "
              "channels."};
    case Frontend::Routed::kTooBig:
      return {431, "Request Header Fields Too Large: the accept message would exceed 64 KiB."};
    default:
      return {404, kNoListeners};
  }
}

std::int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string host_without_port(std::string_view host) {
  if (!host.empty() && host.front() == '[') return std::string(host.substr(0, host.find(']') + 1));
  return std::string(host.substr(0, host.find(':')));
}

bool forwarded_header(std::string_view name) {
  return !core::iequals(name, "ServiceBusAuthorization") &&
         !core::iequals(name, kAllowedListenersHeader) &&
         !core::iequals(name, kDisallowedListenersHeader);
}

// connectHeaders of section 4.3: every header but the token and targeting ones. Also collects the
// offered sub-protocols.
json::object connect_headers_of(const core::RequestHead& head,
                                std::vector<std::string>& protocols) {
  for (const auto& header : head.headers) {
    if (!core::iequals(header.name, "Sec-WebSocket-Protocol")) continue;
    for (auto& p : core::split_comma_list(header.value)) protocols.push_back(std::move(p));
  }
  return joined_headers(head.headers, forwarded_header);
}

}  // namespace

bool owns_path(std::string_view path) {
  return core::istarts_with(path, "/$hc/");
}

struct Frontend::Request {
  std::shared_ptr<Handshake> handshake;
  HcParams params;
  std::string raw_path;  // after "/$hc/", as sent
  std::string host;      // Host header without port
};

// A sender waiting for its listener. Lives on the sender's thread; other threads reach it only
// by posting there.
class HeldSender : public std::enable_shared_from_this<HeldSender> {
 public:
  HeldSender(Frontend& frontend, std::shared_ptr<Handshake> handshake)
      : frontend(frontend), handshake(std::move(handshake)), timer(this->handshake->context) {}

  Frontend& frontend;
  std::shared_ptr<Handshake> handshake;
  ResolvedEntity entity;
  std::string host;
  std::string raw_path;
  FilteredQuery app_query;
  std::string base_id;     // the sender's own sb-hc-id
  std::string current_id;  // id of the accept now outstanding
  json::object connect_headers;
  ListenerFilter filter;
  std::vector<std::string> offered_protocols;
  asio::steady_timer timer;
  bool answered = false;   // a final answer went out (or the relay started)
  bool gone = false;       // the sender disconnected while held
  bool timed_out = false;  // deadline passed while an accept was being re-dispatched or claimed

  void start_waiting() {
    timer.expires_after(frontend.settings_.accept_timeout);
    timer.async_wait([self = shared_from_this()](boost::system::error_code ec) {
      if (!ec) self->on_deadline();
    });
    watch();
  }

  // Notices a sender that disconnects while held (section 4.1 step 8).
  void watch() {
    handshake->socket.async_wait(
        core::Socket::wait_read, [self = shared_from_this()](boost::system::error_code ec) {
          if (ec == asio::error::operation_aborted || self->answered) return;
          char probe;
          const auto n =
              ::recv(self->handshake->socket.native_handle(), &probe, 1, MSG_PEEK | MSG_DONTWAIT);
          if (!ec && n > 0) return;  // early data: kept in the kernel for the relay
          self->gone = true;
          self->timer.cancel();
          if (self->frontend.registry_.claim(self->current_id)) {
            self->answered = true;
            spdlog::debug("sender {} left before being accepted", self->current_id);
          }
          boost::system::error_code ignored;
          self->handshake->socket.close(ignored);
        });
  }

  void on_deadline() {
    if (answered) return;
    if (frontend.registry_.claim(current_id)) {
      answer(504, "The listener did not accept the connection in time.", true);
    } else {
      timed_out = true;  // a claim or a re-dispatch is on its way here and will see this
    }
  }

  void answer(int status, std::string_view reason, bool tracked) {
    if (answered || gone) return;
    answered = true;
    timer.cancel();
    boost::system::error_code ignored;
    handshake->socket.cancel(ignored);
    const std::string text =
        tracked ? with_tracking(reason, host, entity.path) : std::string(reason);
    core::refuse(handshake, {status, text}, core::Blame::kNone);
  }

  void redispatch() {
    if (answered || gone) return;
    if (timed_out) {
      answer(504, "The listener did not accept the connection in time.", true);
      return;
    }
    const auto routed = frontend.route(shared_from_this());
    if (routed != Frontend::Routed::kSent) {
      const auto refused = refusal_for(routed);
      answer(refused.status, refused.reason, true);
    }
  }

  void reject(int status, std::string description) {
    if (status < 400 || status > 599) status = 400;
    for (char& c : description) {
      if (c < 0x20 || c > 0x7E) c = ' ';
    }
    if (description.empty()) description = std::string(core::standard_reason(status));
    answer(status, description, false);
  }

  // The listener's leg is upgraded: answer the sender and start relaying.
  void complete(core::DetachedSocket detached, std::string listener_leftover,
                const std::string& protocol) {
    auto& context = handshake->context;
    auto listener_socket = std::make_shared<core::Socket>(core::attach(context, detached));
    if (answered || gone) {
      core::turn_away(*listener_socket, 1001, "The sender disconnected.");  // too late for it
      return;
    }
    answered = true;
    timer.cancel();
    boost::system::error_code ignored;
    handshake->socket.cancel(ignored);
    core::switch_protocols(handshake, protocol,
                           [self = shared_from_this(), listener_socket,
                            leftover = std::move(listener_leftover)](bool ok) mutable {
                             if (!ok) {
                               boost::system::error_code ignored2;
                               listener_socket->close(ignored2);
                               return;
                             }
                             auto& hs = *self->handshake;
                             auto pump = std::make_shared<core::RelayPump>(
                                 hs.context, hs.services.limits, std::move(hs.socket),
                                 std::move(hs.leftover), std::move(*listener_socket),
                                 std::move(leftover));
                             pump->start();
                           });
  }
};

Frontend::Frontend(const Settings& settings, core::Services& services)
    : settings_(settings),
      services_(services),
      registry_(settings, services.limits.control_buffer_high_water) {}

void Frontend::handle(std::shared_ptr<Handshake> handshake) {
  Request request{std::move(handshake), {}, {}, {}};
  const auto& head = request.handshake->request;
  request.params = parse_hc_params(head.query());
  request.raw_path = std::string(head.path().substr(5));
  request.host = host_without_port(head.find("Host").value_or(""));
  // Section 3.2, checked in order.
  if (!head.is_websocket_upgrade()) {
    refuse(request, 400, "This endpoint is only for web-socket requests", request.raw_path);
    return;
  }
  const std::string action = request.params.action.value_or("connect");
  if (action != "listen" && action != "connect" && action != "accept" && action != "request") {
    refuse(request, 400, "Bad Request: unrecognized sb-hc-action", request.raw_path);
    return;
  }
  if (auto check = core::check_websocket_upgrade(head); check.status != 0) {
    core::refuse(request.handshake,
                 {check.status, with_tracking(check.reason, request.host, request.raw_path),
                  std::move(check.headers)});
    return;
  }
  if (action == "listen") {
    listen(request);
  } else if (action == "connect") {
    connect(request);
  } else {
    rendezvous(request);
  }
}

void Frontend::refuse(Request& request, int status, std::string_view reason,
                      std::string_view entity) {
  core::refuse(request.handshake, {status, with_tracking(reason, request.host, entity)});
}

auth::AuthResult Frontend::authorize(std::string_view token, const EntityConfig* config,
                                     std::string_view request_path, std::string_view host,
                                     auth::Right needed) const {
  std::vector<const auth::SasRule*> rules;
  for (const auto& rule : settings_.rules) rules.push_back(&rule);
  if (config != nullptr) {
    for (const auto& rule : config->rules) rules.push_back(&rule);
  }
  std::vector<std::string> hosts = settings_.hosts;
  hosts.emplace_back(host);
  auth::AuthRequest request;
  if (!token.empty()) request.token = token;
  request.rules = rules;
  request.request_path = request_path;
  request.hosts = hosts;
  request.needed = needed;
  request.now = unix_now();
  request.grace_seconds =
      std::chrono::duration_cast<std::chrono::seconds>(settings_.token_grace).count();
  return auth::authorize(request);
}

std::string Frontend::base_url(const Handshake& handshake) const {
  return core::websocket_base_url(settings_.public_url, handshake.request, handshake.secure);
}

namespace {
std::string token_of(const core::RequestHead& head, const HcParams& params) {
  if (auto header = head.find("ServiceBusAuthorization")) return std::string(*header);
  return params.token.value_or("");
}
}  // namespace

void Frontend::listen(Request& request) {
  const std::string key = entity_key(request.raw_path);
  const EntityConfig* config = registry_.configured(key);
  // A listener names an entity exactly (section 1.3): never a configured entity plus a suffix.
  const auto enclosing = config ? std::nullopt : registry_.resolve(request.raw_path);
  const bool under_configured = enclosing && enclosing->config != nullptr;
  if (request.raw_path.empty() ||
      (config == nullptr && (settings_.strict_entities || under_configured))) {
    refuse(request, 404, "Endpoint does not exist.", request.raw_path);
    return;
  }
  const auto& head = request.handshake->request;
  const auto result = authorize(token_of(head, request.params), config, request.raw_path,
                                request.host, auth::kListen);
  if (result.status() != 0) {
    refuse(request, result.status(), result.reason(), request.raw_path);
    return;
  }
  const std::size_t max_listeners = config ? config->max_listeners : settings_.max_listeners;
  auto& context = request.handshake->context;
  Listener::Identity identity{key, config ? config->path : request.raw_path,
                              listener_id_from(request.params.id.value_or("")),
                              base_url(*request.handshake), request.host};
  auto listener = std::make_shared<Listener>(
      context, std::move(identity),
      std::chrono::duration_cast<std::chrono::seconds>(settings_.token_grace));
  if (registry_.add_listener(key, request.raw_path, max_listeners, listener) ==
      Registry::AddResult::kFull) {
    refuse(request, 403,
           "The maximum number of listeners (" + std::to_string(max_listeners) +
               ") for this Hybrid Connection has been reached.",
           request.raw_path);
    return;
  }
  auto handshake = request.handshake;
  core::switch_protocols(
      handshake, {}, [this, handshake, listener, config, expiry = result.expiry](bool ok) {
        if (!ok) {
          listener->abandon();
          on_listener_gone(*listener);  // accepts already handed to it go elsewhere
          return;
        }
        spdlog::info("listener {} connected on {} from {}:{}", listener->id(),
                     listener->identity().entity_path, handshake->remote.address,
                     handshake->remote.port);
        auto channel = std::make_shared<core::WsChannel>(
            handshake->context, services_.limits, std::move(handshake->socket),
            std::move(handshake->leftover), services_.limits.control_max_message);
        const std::string path = listener->identity().entity_path;
        const std::string host = listener->identity().host;
        listener->start(
            channel, expiry,
            [this, config, path, host](std::string_view token) {
              return authorize(token, config, path, host, auth::kListen);
            },
            [this](Listener& from, Listener::ControlResponse response) {
              on_response(from, std::move(response));
            },
            [this](Listener& gone) { on_listener_gone(gone); });
      });
}

void Frontend::connect(Request& request) {
  const auto& head = request.handshake->request;
  const auto resolved = registry_.resolve(request.raw_path);
  if (!resolved) {
    refuse(request, 404, settings_.strict_entities ? "Endpoint does not exist." : kNoListeners,
           request.raw_path);
    return;
  }
  if (!admit_sender(request, *resolved, token_of(head, request.params), /*http=*/false)) return;
  auto sender = std::make_shared<HeldSender>(*this, request.handshake);
  sender->entity = *resolved;
  sender->host = request.host;
  sender->raw_path = request.raw_path;
  sender->app_query = filter_app_query(head.query());
  sender->base_id = request.params.id.value_or("");
  if (auto allowed = head.find(kAllowedListenersHeader))
    sender->filter.allowed = core::split_comma_list(*allowed);
  if (auto disallowed = head.find(kDisallowedListenersHeader)) {
    sender->filter.disallowed = core::split_comma_list(*disallowed);
  }
  sender->connect_headers = connect_headers_of(head, sender->offered_protocols);
  const auto routed = route(sender);
  if (routed != Routed::kSent) {
    const auto refused = refusal_for(routed);
    refuse(request, refused.status, refused.reason, resolved->path);
    return;
  }
  sender->start_waiting();
}

// Sections 4.1 step 1 and 5.1 steps 2-3: the Send right, unless the entity is anonymous, and the
// entity's switch for this kind of sender. Refuses and returns false otherwise.
bool Frontend::admit_sender(Request& request, const ResolvedEntity& entity, std::string_view token,
                            bool http) {
  const auto* config = entity.config;
  if (config == nullptr || config->requires_client_authorization) {
    const auto result = authorize(token, config, request.raw_path, request.host, auth::kSend);
    if (result.status() != 0) {
      refuse(request, result.status(), result.reason(), entity.path);
      return false;
    }
  }
  if (config != nullptr && !(http ? config->accept_http : config->accept_websocket)) {
    refuse(request, 404,
           http ? "Endpoint does not accept HTTP requests."
                : "Endpoint does not accept WebSocket connections.",
           entity.path);
    return false;
  }
  return true;
}

Frontend::Routed Frontend::route(const std::shared_ptr<HeldSender>& sender) {
  // A listener can close between being picked and being handed the accept: pick again.
  for (int attempt = 0; attempt < 3; ++attempt) {
    const auto pick = registry_.pick_listener(sender->entity.key, sender->filter);
    switch (pick.outcome) {
      case Registry::Pick::kNoListeners:
        return Routed::kNoListeners;
      case Registry::Pick::kNoneEligible:
        return Routed::kNoneEligible;
      case Registry::Pick::kAllBacklogged:
        return Routed::kAllBacklogged;
      case Registry::Pick::kPicked:
        break;
    }
    switch (dispatch(sender, pick.listener)) {
      case Dispatch::kSent:
        return Routed::kSent;
      case Dispatch::kTooBig:
        return Routed::kTooBig;
      case Dispatch::kListenerGone:
        break;
    }
  }
  return Routed::kNoListeners;
}

Frontend::Dispatch Frontend::dispatch(const std::shared_ptr<HeldSender>& sender,
                                      const std::shared_ptr<Listener>& listener) {
  const std::string id = core::make_rendezvous_id(sender->base_id);
  std::string address = listener->identity().base_url + "/$hc/" + sender->raw_path + "?";
  if (sender->app_query.present) address += sender->app_query.text + "&";
  address +=
      "sb-hc-action=accept&sb-hc-id=" + boost::urls::encode(id, boost::urls::unreserved_chars);
  const auto& remote = sender->handshake->remote;
  json::object accept;
  accept["address"] = address;
  accept["id"] = id;
  accept["connectHeaders"] = sender->connect_headers;
  accept["remoteEndpoint"] = json::object{{"address", remote.address}, {"port", remote.port}};
  std::string message = json::serialize(json::object{{"accept", std::move(accept)}});
  if (message.size() > kMaxControlMessage) return Dispatch::kTooBig;
  sender->current_id = id;
  if (!registry_.add_pending(id, {sender, listener})) return Dispatch::kListenerGone;
  listener->post_message(std::move(message));
  spdlog::debug("accept {} sent to listener {}", id, listener->id());
  return Dispatch::kSent;
}

void Frontend::on_listener_gone(Listener& listener) {
  auto orphans = registry_.remove_listener(listener.identity().entity_key, &listener);
  for (auto& [id, pending] : orphans.accepts) {
    if (auto sender = pending.sender.lock()) {
      asio::post(sender->handshake->context, [sender] { sender->redispatch(); });
    }
  }
  for (auto& request : orphans.requests) {
    if (auto exchange = request.exchange.lock()) {
      asio::post(*request.context, [exchange] { exchange->on_listener_lost(); });
    }
  }
}

void Frontend::on_response(Listener& listener, Listener::ControlResponse response) {
  auto pending = registry_.claim_response(response.head.request_id, &listener);
  if (!pending) {
    spdlog::info("listener {}: ignoring a response for unknown request {}", listener.id(),
                 response.head.request_id);
    return;
  }
  if (auto exchange = pending->exchange.lock()) {
    asio::post(*pending->context, [exchange, response = std::move(response)]() mutable {
      exchange->on_control_response(std::move(response));
    });
  }
}

void Frontend::rendezvous(Request& request) {
  if (request.params.action == "request") {
    request_rendezvous(request);
    return;
  }
  const std::string id = request.params.id.value_or("");
  auto pending = request.params.action == "accept" ? registry_.claim(id) : std::nullopt;
  auto sender = pending ? pending->sender.lock() : nullptr;
  if (!sender) {
    refuse(request, 403, kInvalidAddress, request.raw_path);
    return;
  }
  auto& sender_context = sender->handshake->context;
  if (request.params.status_code) {
    const std::string& code = *request.params.status_code;
    int status = 400;
    const auto parsed = std::from_chars(code.data(), code.data() + code.size(), status);
    if (parsed.ec != std::errc{} || parsed.ptr != code.data() + code.size()) status = 400;
    core::refuse(request.handshake, {410, "Gone"}, core::Blame::kNone);
    asio::post(sender_context,
               [sender, status, description = request.params.status_description.value_or("")] {
                 sender->reject(status, description);
               });
    return;
  }
  const auto& head = request.handshake->request;
  // The listener offers exactly one; should it send a list, its first entry is its choice.
  const auto chosen = core::split_comma_list(head.find("Sec-WebSocket-Protocol").value_or(""));
  const std::string protocol = chosen.empty() ? std::string() : chosen.front();
  if (!protocol.empty() &&
      std::find(sender->offered_protocols.begin(), sender->offered_protocols.end(), protocol) ==
          sender->offered_protocols.end()) {
    refuse(request, 400, "Bad Request: the selected sub-protocol was not offered by the sender.",
           sender->entity.path);
    asio::post(sender_context, [sender] {
      sender->answer(502, "The listener selected a sub-protocol the sender did not offer.", true);
    });
    return;
  }
  auto handshake = request.handshake;
  core::switch_protocols(handshake, protocol, [handshake, sender, protocol](bool ok) {
    auto& sender_ctx = sender->handshake->context;
    if (!ok) {
      asio::post(sender_ctx, [sender] {
        sender->answer(502, "The listener disconnected while accepting.", true);
      });
      return;
    }
    auto detached = core::detach(handshake->socket);
    asio::post(sender_ctx,
               [sender, detached, leftover = std::move(handshake->leftover), protocol]() mutable {
                 sender->complete(detached, std::move(leftover), protocol);
               });
  });
}

// E4 (section 5.3, 5.4): the listener's rendezvous for one HTTP request, moved onto the thread of
// the sender's exchange. One that comes after its request ended is still accepted and drained.
void Frontend::request_rendezvous(Request& request) {
  auto claim = registry_.claim_request_rendezvous(request.params.id.value_or(""));
  if (claim.kind == Registry::RendezvousFor::kUnknown) {
    refuse(request, 403, kInvalidAddress, request.raw_path);
    return;
  }
  auto handshake = request.handshake;
  core::switch_protocols(handshake, {}, [this, handshake, claim = std::move(claim)](bool ok) {
    if (!ok) return;
    auto exchange = claim.pending.exchange.lock();
    if (!exchange) {
      drain_rendezvous(handshake->context, services_.limits, settings_.body_idle_timeout,
                       std::move(handshake->socket), std::move(handshake->leftover));
      return;
    }
    auto detached = core::detach(handshake->socket);
    asio::post(*claim.pending.context,
               [exchange, detached, leftover = std::move(handshake->leftover)]() mutable {
                 exchange->on_rendezvous(detached, std::move(leftover));
               });
  });
}

void Frontend::handle_http(std::shared_ptr<Handshake> handshake) {
  Request request{std::move(handshake), {}, {}, {}};
  const auto& head = request.handshake->request;
  request.params = parse_hc_params(head.query());
  request.host = host_without_port(head.find("Host").value_or(""));
  const auto path = request_path_of(head.target);
  request.raw_path = std::string(path.value_or(""));
  if (head.method == "CONNECT" || head.is_websocket_upgrade() || !path) {
    refuse(request, 400,
           "Bad Request: HTTP senders use plain requests to /{entity}; WebSocket senders use "
           "/$hc/{entity}.",
           request.raw_path);
    return;
  }
  // Section 5.1, in order.
  const auto resolved =
      request.raw_path.empty() ? std::nullopt : registry_.resolve(request.raw_path);
  if (!resolved) {
    if (settings_.strict_entities || request.raw_path.empty()) {
      refuse(request, 404, "Endpoint does not exist.", request.raw_path);
    } else {
      refuse(request, 502, kNoListeners, request.raw_path);
    }
    return;
  }
  // Section 2.6, E6: the token header, else sb-hc-token, else Authorization.
  const bool needs_token =
      resolved->config == nullptr || resolved->config->requires_client_authorization;
  const auto header_token = head.find("ServiceBusAuthorization");
  const auto authorization = head.find("Authorization");
  const bool authorization_consumed =
      needs_token && !header_token && !request.params.token && authorization.has_value();
  std::string token;
  if (header_token) {
    token = std::string(*header_token);
  } else if (request.params.token) {
    token = *request.params.token;
  } else if (authorization) {
    token = std::string(*authorization);
  }
  if (!admit_sender(request, *resolved, token, /*http=*/true)) return;
  if (registry_.pending_requests() >= settings_.max_pending_requests) {
    core::refuse(request.handshake,
                 {503, with_tracking("Service Unavailable: too many HTTP requests in flight.",
                                     request.host, resolved->path)},
                 core::Blame::kNone);
    return;
  }
  HttpRoute route;
  route.entity = *resolved;
  route.raw_path = request.raw_path;
  route.host = request.host;
  route.base_id = request.params.id.value_or("");
  if (auto allowed = head.find(kAllowedListenersHeader))
    route.filter.allowed = core::split_comma_list(*allowed);
  if (auto disallowed = head.find(kDisallowedListenersHeader))
    route.filter.disallowed = core::split_comma_list(*disallowed);
  route.request_headers = request_headers_of(head, authorization_consumed);
  route.request_target = request_target_of(head.target);
  auto exchange =
      std::make_shared<HttpExchange>(settings_, registry_, request.handshake, std::move(route));
  exchange->start();
}

void Frontend::shutdown() {
  for (auto& listener : registry_.all_listeners())
    listener->post_close(1001, "Server shutting down.");
}

}  // namespace switchboard::hybrid
