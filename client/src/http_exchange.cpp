#include "client/src/http_exchange.hpp"

#include <boost/asio/post.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include "client/src/json_fields.hpp"
#include "core/text.hpp"

namespace switchboard::client {

namespace json = boost::json;

namespace {

// Responses up to this size go inline on the control channel (the relay's inline limit).
constexpr std::size_t kInlineResponse = std::size_t{64} * 1024;

// Reads until the relay closes the rendezvous (it answers a complete response with a Close).
void drain(WebSocket socket) {
  socket.async_read_some([socket](const Error& error, Chunk) {
    if (!error) drain(socket);
  });
}

}  // namespace

std::shared_ptr<RelayedHttp> RelayedHttp::create(asio::io_context& io,
                                                 const ConnectOptions& options, WebSocket control) {
  return std::make_shared<RelayedHttp>(io, options, std::move(control));
}

bool RelayedHttp::parse(const json::object& request) {
  if (address_.empty()) address_ = string_member(request, "address");
  if (id_.empty()) id_ = string_member(request, "id");
  method_ = string_member(request, "method");
  target_ = string_member(request, "requestTarget");
  if (request.contains("requestHeaders")) headers_ = headers_member(request, "requestHeaders");
  remote_endpoint_member(request, remote_address_, remote_port_);
  const auto* body = request.if_contains("body");
  has_body_ = body && body->is_bool() && body->as_bool();
  return !address_.empty() && !id_.empty();
}

void RelayedHttp::open_rendezvous(WebSocket::DoneHandler done) {
  connect_websocket(
      io_, address_, options_,
      [self = shared_from_this(), done = std::move(done)](const Error& error, WebSocket socket) {
        if (error) return done(error);
        self->rendezvous_ = socket;
        socket.async_read(
            [self, done](const Error& e, const std::string& message, bool text) {
              if (e) return done(e);
              boost::system::error_code ec;
              auto value = json::parse(message, ec);
              const json::value* request = !ec && text && value.is_object()
                                               ? value.as_object().if_contains("request")
                                               : nullptr;
              if (!request || !request->is_object() || !self->parse(request->as_object()) ||
                  self->method_.empty()) {
                return done(Error::from(Errc::kInvalidMessage));
              }
              done({});
            },
            std::size_t{1} << 20);
      });
}

void RelayedHttp::async_read_body(WebSocket::ReadHandler handler) {
  auto self = shared_from_this();
  if (!has_body_ || body_done_ || !rendezvous_.valid()) {
    const bool first = !body_done_;
    body_done_ = true;
    asio::post(io_, [self, handler = std::move(handler), first] {
      handler({}, Chunk{first ? std::string_view(self->body_) : std::string_view(), false, true});
    });
    return;
  }
  rendezvous_.async_read_some([self, handler = std::move(handler)](const Error& error, Chunk c) {
    if (!error && c.last) self->body_done_ = true;
    handler(error, c);
  });
}

void RelayedHttp::set_status(int status, std::string description) {
  status_ = status;
  description_ = std::move(description);
}

void RelayedHttp::add_header(std::string name, std::string value) {
  for (auto& [n, v] : response_headers_) {
    if (core::iequals(n, name)) {
      v += ", " + value;
      return;
    }
  }
  response_headers_.emplace_back(std::move(name), std::move(value));
}

std::string RelayedHttp::head(bool body) const {
  json::object headers;
  for (const auto& [name, value] : response_headers_) headers[name] = value;
  json::object response{{"requestId", id_}, {"statusCode", status_}};
  if (!description_.empty()) response["statusDescription"] = description_;
  response["responseHeaders"] = std::move(headers);
  response["body"] = body;
  return json::serialize(json::object{{"response", std::move(response)}});
}

void RelayedHttp::async_write(std::string_view data, WebSocket::DoneHandler done) {
  if (phase_ == Phase::kDone || end_requested_) {
    if (done) asio::post(io_, [done = std::move(done)] { done(Error::from(Errc::kClosed)); });
    return;
  }
  if (phase_ == Phase::kStreaming) {
    rendezvous_.async_write(data, false, std::move(done), false);
    return;
  }
  pending_.append(data);
  if (phase_ == Phase::kOpening || pending_.size() > kInlineResponse || rendezvous_.valid()) {
    if (done) waiters_.push_back(std::move(done));
    switch_to_rendezvous();
    return;
  }
  if (done) asio::post(io_, [done = std::move(done)] { done({}); });
}

void RelayedHttp::async_end(WebSocket::DoneHandler done) {
  if (phase_ == Phase::kDone || end_requested_) {
    if (done) asio::post(io_, [done = std::move(done)] { done({}); });
    return;
  }
  end_requested_ = true;
  end_done_ = std::move(done);
  if (phase_ == Phase::kStreaming || phase_ == Phase::kOpening || rendezvous_.valid()) {
    switch_to_rendezvous();
    return;
  }
  if (!control_.valid() || !control_.is_open()) return switch_to_rendezvous();
  // Small and complete: inline on the control channel, the body right after its head.
  phase_ = Phase::kDone;
  const bool body = !pending_.empty();
  control_.async_write(head(body), true);
  auto finished = std::move(end_done_);
  if (body) {
    control_.async_write(pending_, false, std::move(finished));
  } else if (finished) {
    asio::post(io_, [finished = std::move(finished)] { finished({}); });
  }
  pending_.clear();
}

void RelayedHttp::switch_to_rendezvous() {
  if (phase_ == Phase::kStreaming) return finish_on_rendezvous();
  if (phase_ == Phase::kOpening) return;
  if (rendezvous_.valid()) {
    phase_ = Phase::kStreaming;
    return flush_to_rendezvous();
  }
  phase_ = Phase::kOpening;
  connect_websocket(io_, address_, options_,
                    [self = shared_from_this()](const Error& error, WebSocket socket) {
                      if (error || self->aborted_) {
                        if (socket.valid()) socket.abort();
                        self->phase_ = Phase::kDone;
                        return self->fail_waiters(error ? error : Error::from(Errc::kStopped));
                      }
                      self->rendezvous_ = std::move(socket);
                      self->phase_ = Phase::kStreaming;
                      self->flush_to_rendezvous();
                    });
}

// Sends the head and what was buffered; the writes waiting for it complete with it.
void RelayedHttp::flush_to_rendezvous() {
  auto waiters = std::move(waiters_);
  waiters_.clear();
  auto complete = [waiters = std::move(waiters)](const Error& error) {
    for (const auto& w : waiters) w(error);
  };
  if (!head_sent_) {
    head_sent_ = true;
    const bool body = !(end_requested_ && pending_.empty());
    if (body) rendezvous_.async_write(head(true), true);
    if (!body) {
      // A body-less response is complete with its head.
      phase_ = Phase::kDone;
      auto done = std::move(end_done_);
      rendezvous_.async_write(head(false), true,
                              [complete, done = std::move(done)](const Error& e) {
                                complete(e);
                                if (done) done(e);
                              });
      return drain(rendezvous_);
    }
  }
  if (!pending_.empty()) {
    rendezvous_.async_write(pending_, false, std::move(complete), false);
    pending_.clear();
  } else {
    asio::post(io_, [complete = std::move(complete)] { complete({}); });
  }
  if (end_requested_) finish_on_rendezvous();
}

void RelayedHttp::finish_on_rendezvous() {
  if (!end_requested_ || phase_ == Phase::kDone) return;
  phase_ = Phase::kDone;
  auto done = std::move(end_done_);
  rendezvous_.async_write(
      {}, false,
      [self = shared_from_this(), done = std::move(done)](const Error& error) {
        if (done) done(error);
        drain(self->rendezvous_);
      },
      true);
}

void RelayedHttp::abort() {
  if (phase_ == Phase::kDone && !(rendezvous_.valid() && head_sent_)) return;
  if (!head_sent_ && phase_ != Phase::kOpening) {
    // Nothing has left yet: a clean 502 instead of what was buffered.
    pending_.clear();
    response_headers_.clear();
    waiters_.clear();
    phase_ = Phase::kBuffering;
    end_requested_ = false;
    set_status(502, "Bad Gateway");
    async_end({});
    return;
  }
  aborted_ = true;
  if (phase_ != Phase::kOpening && rendezvous_.valid()) rendezvous_.abort();
  if (phase_ != Phase::kOpening) {
    phase_ = Phase::kDone;
    fail_waiters(Error::from(Errc::kStopped));
  }
}

void RelayedHttp::fail_waiters(const Error& error) {
  auto waiters = std::move(waiters_);
  waiters_.clear();
  for (const auto& w : waiters) w(error);
  if (auto done = std::move(end_done_)) done(error);
}

}  // namespace switchboard::client
