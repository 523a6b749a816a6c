#include "switchboard/client/listener.hpp"

#include <algorithm>

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include "client/src/http_exchange.hpp"
#include "client/src/json_fields.hpp"
#include "client/src/url.hpp"
#include "core/text.hpp"
#include "hybrid/hc_query.hpp"
#include "switchboard/client/token.hpp"

namespace switchboard::client {

namespace json = boost::json;
using boost::system::error_code;

std::string_view to_string(ListenerState state) {
  switch (state) {
    case ListenerState::kConnecting:
      return "connecting";
    case ListenerState::kConnected:
      return "connected";
    case ListenerState::kReconnecting:
      return "reconnecting";
    case ListenerState::kStopped:
      return "stopped";
  }
  return "unknown";
}

TokenProvider key_token_provider(std::string key_name, std::string key, std::chrono::seconds ttl) {
  return [key_name = std::move(key_name), key = std::move(key), ttl](std::string_view audience) {
    return create_relay_token(audience, key_name, key, ttl);
  };
}

// ---- AcceptRequest
// -------------------------------------------------------------------------------

struct AcceptRequest::Context {
  asio::io_context& io;
  ConnectOptions connect;
};

AcceptRequest::AcceptRequest(std::shared_ptr<Context> context, std::string id, std::string address,
                             Headers headers, std::string remote_address, std::uint16_t remote_port)
    : context_(std::move(context)),
      id_(std::move(id)),
      address_(std::move(address)),
      headers_(std::move(headers)),
      remote_address_(std::move(remote_address)),
      remote_port_(remote_port) {
  const auto hc = address_.find("/$hc/");
  const auto q = address_.find('?');
  if (hc != std::string::npos) {
    path_ = address_.substr(hc + 5, q == std::string::npos ? q : q - hc - 5);
  }
  if (q != std::string::npos) query_ = hybrid::filter_app_query(address_.substr(q + 1)).text;
}

std::vector<std::string> AcceptRequest::subprotocols() const {
  return core::split_comma_list(find_header(headers_, "Sec-WebSocket-Protocol"));
}

void AcceptRequest::accept(std::string subprotocol, ConnectHandler done) {
  answered_ = true;
  ConnectOptions options = context_->connect;
  if (!subprotocol.empty()) options.subprotocols = {std::move(subprotocol)};
  connect_websocket(context_->io, address_, std::move(options), std::move(done));
}

void AcceptRequest::reject(int status, std::string_view description, WebSocket::DoneHandler done) {
  answered_ = true;
  std::string address = with_query_param(address_, "sb-hc-statusCode", std::to_string(status));
  address = with_query_param(address, "sb-hc-statusDescription", description);
  connect_websocket(context_->io, address, context_->connect,
                    [done = std::move(done)](const Error& error, WebSocket socket) {
                      if (socket.valid()) socket.abort();
                      // The relay answers a rejection with 410 Gone: that is success.
                      const bool ok =
                          error.code == make_error_code(Errc::kRejected) && error.status == 410;
                      if (done) done(ok ? Error{} : error);
                    });
}

// ---- HybridListener --------------------------------------------------------------------------

namespace {

std::string listen_address(std::string url, const std::string& id) {
  url = with_action(std::move(url), "listen");
  if (!id.empty()) url = with_query_param(url, "sb-hc-id", id);
  return url;
}

std::int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

struct HybridListener::Impl : std::enable_shared_from_this<HybridListener::Impl> {
  Impl(asio::io_context& io, std::string url, ListenerOptions options, ListenerHandlers handlers)
      : io(io),
        url(listen_address(std::move(url), options.listener_id)),
        options(std::move(options)),
        handlers(std::move(handlers)),
        retry_timer(io),
        renew_timer(io),
        ping_timer(io),
        accept_context(std::make_shared<AcceptRequest::Context>(
            AcceptRequest::Context{io, this->options.connect})) {}

  asio::io_context& io;
  std::string url;
  ListenerOptions options;
  ListenerHandlers handlers;
  asio::steady_timer retry_timer, renew_timer, ping_timer;
  std::shared_ptr<AcceptRequest::Context> accept_context;
  ListenerState state = ListenerState::kStopped;
  WebSocket control;
  std::size_t attempt = 0;
  bool stopped = true;
  std::uint64_t generation = 0;                // which control channel the callbacks belong to
  std::shared_ptr<RelayedHttp> awaiting_body;  // an inline request whose body comes next

  void report(ListenerState next, const Error& cause = {},
              std::chrono::seconds wait = std::chrono::seconds(0)) {
    state = next;
    if (handlers.on_state) handlers.on_state(next, cause, wait);
  }

  void warn(std::string_view text) {
    if (handlers.on_warning) handlers.on_warning(text);
  }

  std::string token_audience_url() const { return url.substr(0, url.find('?')); }

  void start() {
    if (!stopped) return;
    stopped = false;
    attempt = 0;
    report(ListenerState::kConnecting);
    open();
  }

  void open() {
    ConnectOptions connect = options.connect;
    std::string token;
    if (options.token) token = options.token(token_audience_url());
    if (!token.empty()) connect.headers.emplace_back("ServiceBusAuthorization", token);
    const auto my_generation = ++generation;
    connect_websocket(
        io, url, std::move(connect),
        [self = shared_from_this(), my_generation, token](const Error& error, WebSocket socket) {
          if (self->stopped || my_generation != self->generation) {
            if (socket.valid()) socket.abort();
            return;
          }
          if (error) return self->lost(error);
          self->connected(std::move(socket), token);
        });
  }

  void connected(WebSocket socket, const std::string& token) {
    control = std::move(socket);
    attempt = 0;
    awaiting_body.reset();
    report(ListenerState::kConnected);
    schedule_renewal(token);
    schedule_ping();
    read_next(generation);
  }

  void lost(const Error& error) {
    ++generation;  // timers already queued for the lost channel find it gone
    renew_timer.cancel();
    ping_timer.cancel();
    awaiting_body.reset();
    if (stopped) return;
    const auto& backoff = options.backoff;
    const auto wait =
        backoff.empty() ? std::chrono::seconds(1) : backoff[std::min(attempt, backoff.size() - 1)];
    ++attempt;
    report(ListenerState::kReconnecting, error, wait);
    retry_timer.expires_after(wait);
    retry_timer.async_wait([self = shared_from_this()](error_code ec) {
      if (!ec && !self->stopped) self->open();
    });
  }

  // Sends renewToken when a fifth of the token's lifetime (1 s to 5 min) is left, and again for
  // each new token; a provider that hands out the same expiry again is not asked any more.
  void schedule_renewal(const std::string& token, std::int64_t previous_expiry = 0) {
    const auto expiry = token_expiry(token);
    if (expiry == 0 || !options.token) return;
    if (expiry <= previous_expiry) {
      warn("the token provider gave no later expiry; the token is not renewed");
      return;
    }
    const auto left = std::max<std::int64_t>(expiry - unix_now(), 0);
    const auto lead = std::clamp<std::int64_t>(left / 5, 1, 300);
    renew_timer.expires_after(std::chrono::seconds(std::max<std::int64_t>(left - lead, 1)));
    renew_timer.async_wait([self = shared_from_this(), g = generation, expiry](error_code ec) {
      if (ec || self->stopped || g != self->generation || !self->control.valid()) return;
      const std::string next = self->options.token(self->token_audience_url());
      json::object renew{{"renewToken", json::object{{"token", next}}}};
      self->control.async_write(json::serialize(renew), true);
      self->schedule_renewal(next, expiry);
    });
  }

  void schedule_ping() {
    if (options.ping_interval.count() <= 0) return;
    ping_timer.expires_after(options.ping_interval);
    ping_timer.async_wait([self = shared_from_this(), g = generation](error_code ec) {
      if (ec || self->stopped || g != self->generation || !self->control.valid()) return;
      if (self->control.idle_for() > 3 * self->options.ping_interval) {
        self->control.abort();  // the read loop reports the loss
        return;
      }
      self->control.ping();
      self->schedule_ping();
    });
  }

  void read_next(std::uint64_t g) {
    control.async_read(
        [self = shared_from_this(), g](const Error& error, std::string message, bool text) {
          if (g != self->generation || self->stopped) return;
          if (error) {
            self->control = {};
            return self->lost(error);
          }
          if (text) {
            self->on_text(message);
          } else if (self->awaiting_body) {
            auto exchange = std::move(self->awaiting_body);
            exchange->set_inline_body(std::move(message));
            self->dispatch(exchange);
          }
          if (g == self->generation && !self->stopped) self->read_next(g);
        },
        std::size_t{1} << 20);
  }

  void on_text(const std::string& message) {
    if (awaiting_body) {
      warn("a request body was expected; the request is dropped");
      awaiting_body.reset();
    }
    error_code ec;
    auto value = json::parse(message, ec);
    if (ec || !value.is_object()) return warn("a control message that is not JSON was ignored");
    const auto& object = value.as_object();
    if (const auto* accept = object.if_contains("accept"); accept && accept->is_object()) {
      return on_accept(accept->as_object());
    }
    if (const auto* request = object.if_contains("request"); request && request->is_object()) {
      return on_request(request->as_object());
    }
    warn("an unknown control message was ignored");
  }

  void on_accept(const json::object& accept) {
    std::string remote_address;
    std::uint16_t remote_port = 0;
    remote_endpoint_member(accept, remote_address, remote_port);
    auto request = std::make_shared<AcceptRequest>(
        accept_context, string_member(accept, "id"), string_member(accept, "address"),
        headers_member(accept, "connectHeaders"), std::move(remote_address), remote_port);
    if (request->address().empty()) return warn("an accept without an address was ignored");
    if (handlers.on_accept) return handlers.on_accept(request);
    const auto offered = request->subprotocols();
    request->accept(offered.empty() ? std::string() : offered.front(),
                    [self = shared_from_this(), request](const Error& error, WebSocket socket) {
                      if (error) return self->warn("accept failed: " + error.message());
                      if (self->handlers.on_connection) {
                        self->handlers.on_connection(std::move(socket), request);
                      }
                    });
  }

  void on_request(const json::object& request) {
    auto exchange = RelayedHttp::create(io, options.connect, control);
    if (!exchange->parse(request)) return warn("a request without an address was ignored");
    if (exchange->rendezvous_only()) {
      exchange->open_rendezvous([self = shared_from_this(), exchange](const Error& error) {
        if (error) return self->warn("request rendezvous failed: " + error.message());
        self->dispatch(exchange);
      });
      return;
    }
    if (exchange->has_body()) {
      awaiting_body = exchange;
      return;
    }
    dispatch(exchange);
  }

  void dispatch(const std::shared_ptr<RelayedHttp>& exchange) {
    if (handlers.on_request) return handlers.on_request(exchange);
    exchange->set_status(501, "Not Implemented: this listener does not serve HTTP requests");
    exchange->async_end({});
  }

  void stop() {
    if (stopped) return;
    stopped = true;
    ++generation;
    retry_timer.cancel();
    renew_timer.cancel();
    ping_timer.cancel();
    if (control.valid()) control.async_close(1000, "listener stopped");
    control = {};
    report(ListenerState::kStopped);
    // Released later: stop() may run inside one of these handlers.
    asio::post(io, [released = std::move(handlers)] {});
    handlers = {};
  }
};

HybridListener::HybridListener(asio::io_context& io, std::string listen_url,
                               ListenerOptions options, ListenerHandlers handlers)
    : impl_(std::make_shared<Impl>(io, std::move(listen_url), std::move(options),
                                   std::move(handlers))) {}

HybridListener::~HybridListener() {
  try {
    impl_->stop();
  } catch (...) {  // an allocation failure while closing: the channel is dropped with the object
  }
}

void HybridListener::start() {
  impl_->start();
}

void HybridListener::stop() {
  impl_->stop();
}

ListenerState HybridListener::state() const {
  return impl_->state;
}

}  // namespace switchboard::client
