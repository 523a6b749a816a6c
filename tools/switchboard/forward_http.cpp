// The command line's one Boost.Beast unit: HTTP/1.1 to the local service behind -H.
#include "tools/switchboard/forward_http.hpp"

#include <array>
#include <deque>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <boost/url/parse.hpp>

#include "core/text.hpp"

namespace switchboard::tools {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using tcp = asio::ip::tcp;
using boost::system::error_code;

namespace {

constexpr auto kResponseTimeout = std::chrono::seconds(60);
constexpr std::size_t kIdleConnections = 32;

// Not passed on to the service, nor back: hop-by-hop headers, and Host (the service's own).
bool not_forwarded(std::string_view name) {
  return core::hop_by_hop_header(name) || core::iequals(name, "Host");
}

// The relayed target without its /ENTITY prefix, under the service's base path.
std::string local_target(const HttpTarget& target, std::string_view relayed) {
  const std::string prefix = "/" + target.entity;
  if (relayed.size() >= prefix.size() && core::iequals(relayed.substr(0, prefix.size()), prefix) &&
      (relayed.size() == prefix.size() || relayed[prefix.size()] == '/' ||
       relayed[prefix.size()] == '?')) {
    relayed.remove_prefix(prefix.size());
  }
  std::string out = target.base_path;
  if (relayed.empty() || relayed.front() == '?') out += "/";
  out += relayed;
  return out;
}

}  // namespace

std::optional<HttpTarget> parse_http_target(std::string_view text) {
  auto url = boost::urls::parse_uri(text);
  if (!url || core::ascii_lowered(url->scheme()) != "http" || url->host().empty()) {
    return std::nullopt;
  }
  HttpTarget target;
  target.host = url->host_address();
  if (url->has_port()) {
    if (url->port_number() == 0) return std::nullopt;
    target.port = url->port_number();
  }
  target.base_path = std::string(url->encoded_path());
  while (!target.base_path.empty() && target.base_path.back() == '/') target.base_path.pop_back();
  return target;
}

struct HttpForwarder::Pool {
  std::deque<tcp::socket> idle;
};

namespace {

class Forwarding : public std::enable_shared_from_this<Forwarding> {
 public:
  Forwarding(asio::io_context& io, std::shared_ptr<client::HttpExchange> exchange,
             const HttpTarget& target, std::shared_ptr<HttpForwarder::Pool> pool,
             std::function<void(std::string_view)> say)
      : io_(io),
        exchange_(std::move(exchange)),
        target_(target),
        pool_(std::move(pool)),
        say_(std::move(say)),
        socket_(io),
        resolver_(io),
        timer_(io) {}

  void start() { read_request_body(); }

 private:
  void read_request_body() {
    exchange_->async_read_body([self = shared_from_this()](const client::Error& error,
                                                           client::Chunk chunk) {
      if (error) return;  // the relay gave up on the request
      self->body_.append(chunk.data);
      if (self->body_.size() > kMaxForwardedRequestBody) {
        return self->answer(413, "Payload Too Large", "request body over the forwarder's limit\n");
      }
      if (!chunk.last) return self->read_request_body();
      self->build_request();
      self->send(true);
    });
  }

  void build_request() {
    request_.method_string(exchange_->method());
    request_.target(local_target(target_, exchange_->target()));
    request_.version(11);
    for (const auto& [name, value] : exchange_->headers()) {
      if (!not_forwarded(name)) request_.insert(name, value);
    }
    request_.set(http::field::host, target_.host + ":" + std::to_string(target_.port));
    request_.body() = body_;
    if (!body_.empty() || exchange_->method() == "POST" || exchange_->method() == "PUT") {
      request_.prepare_payload();
    }
    request_.keep_alive(true);
  }

  // Sends over a kept-alive connection when there is one (retrying once on a fresh connection if
  // it turns out to be closed), else over a new connection.
  // The service must answer, and then send each piece of the body, within kResponseTimeout.
  void arm_timer() {
    timer_.expires_after(kResponseTimeout);
    timer_.async_wait([weak = weak_from_this()](error_code ec) {
      if (ec) return;
      if (auto self = weak.lock()) {
        self->timed_out_ = true;
        error_code ignored;
        self->socket_.close(ignored);
      }
    });
  }

  void send(bool may_reuse) {
    arm_timer();
    if (may_reuse && !pool_->idle.empty()) {
      socket_ = std::move(pool_->idle.front());
      pool_->idle.pop_front();
      reused_ = true;
      return write_request();
    }
    reused_ = false;
    resolver_.async_resolve(
        target_.host, std::to_string(target_.port),
        [self = shared_from_this()](error_code ec, const tcp::resolver::results_type& results) {
          if (ec) return self->unreachable(ec);
          asio::async_connect(self->socket_, results, [self](error_code e, const tcp::endpoint&) {
            if (e) return self->unreachable(e);
            self->socket_.set_option(tcp::no_delay(true), e);
            self->write_request();
          });
        });
  }

  void write_request() {
    http::async_write(socket_, request_, [self = shared_from_this()](error_code ec, std::size_t) {
      if (ec) return self->retry_or_fail(ec);
      self->parser_.emplace();
      self->parser_->body_limit(boost::none);
      if (self->exchange_->method() == "HEAD") self->parser_->skip(true);
      http::async_read_header(self->socket_, self->buffer_, *self->parser_,
                              [self](error_code e, std::size_t) {
                                if (e) return self->retry_or_fail(e);
                                self->respond();
                              });
    });
  }

  // A kept-alive connection the service had closed fails at once; the request is made again on a
  // fresh one, unless it may have had an effect already.
  void retry_or_fail(error_code ec) {
    const auto& m = exchange_->method();
    const bool idempotent =
        m == "GET" || m == "HEAD" || m == "OPTIONS" || m == "PUT" || m == "DELETE" || m == "TRACE";
    if (reused_ && !timed_out_ && idempotent) {
      error_code ignored;
      socket_.close(ignored);
      socket_ = tcp::socket(io_);
      buffer_.clear();
      return send(false);
    }
    unreachable(ec);
  }

  void respond() {
    auto& head = parser_->get();
    if (head.result_int() / 100 == 1 && head.result_int() != 101) {
      // An interim response (100 Continue, 103 Early Hints): the final one follows.
      parser_.emplace();
      parser_->body_limit(boost::none);
      if (exchange_->method() == "HEAD") parser_->skip(true);
      return http::async_read_header(
          socket_, buffer_, *parser_, [self = shared_from_this()](error_code e, std::size_t) {
            if (e) return self->abort("reading the response failed: " + e.message());
            self->respond();
          });
    }
    exchange_->set_status(static_cast<int>(head.result_int()), std::string(head.reason()));
    for (const auto& field : head) {
      if (!not_forwarded(field.name_string())) {
        exchange_->add_header(std::string(field.name_string()), std::string(field.value()));
      }
    }
    read_body();
  }

  void read_body() {
    if (parser_->is_done()) return finish();
    arm_timer();
    auto& body = parser_->get().body();
    body.data = chunk_.data();
    body.size = chunk_.size();
    http::async_read(
        socket_, buffer_, *parser_, [self = shared_from_this()](error_code ec, std::size_t) {
          if (ec == http::error::need_buffer) ec = {};
          if (ec) return self->abort("reading the response failed: " + ec.message());
          const std::size_t got = self->chunk_.size() - self->parser_->get().body().size;
          if (got == 0) return self->read_body();
          self->exchange_->async_write({self->chunk_.data(), got}, [self](const client::Error& e) {
            if (e) return self->abort("the relay dropped the response: " + e.message());
            self->read_body();
          });
        });
  }

  void finish() {
    timer_.cancel();
    const bool keep = parser_->get().keep_alive() && !timed_out_;
    exchange_->async_end({});
    if (keep && pool_->idle.size() < kIdleConnections) pool_->idle.push_back(std::move(socket_));
  }

  void unreachable(error_code ec) {
    timer_.cancel();
    const std::string where = target_.host + ":" + std::to_string(target_.port);
    if (timed_out_) {
      say_("HTTP " + exchange_->method() + " " + exchange_->target() + ": " + where +
           " did not answer in time");
      return answer(504, "Gateway Timeout", where + " did not answer in time\n");
    }
    say_("HTTP " + exchange_->method() + " " + exchange_->target() + ": cannot reach " + where +
         ": " + ec.message());
    answer(502, "Bad Gateway", "cannot reach " + where + ": " + ec.message() + "\n");
  }

  void answer(int status, std::string reason, std::string text) {
    exchange_->set_status(status, std::move(reason));
    exchange_->add_header("Content-Type", "text/plain");
    message_ = std::move(text);
    exchange_->async_write(message_, {});
    exchange_->async_end({});
  }

  // The response cannot be completed: the sender must not take a short body as whole.
  void abort(const std::string& why) {
    timer_.cancel();
    say_("HTTP " + exchange_->method() + " " + exchange_->target() + ": " + why);
    error_code ignored;
    socket_.close(ignored);
    exchange_->abort();
  }

  asio::io_context& io_;
  std::shared_ptr<client::HttpExchange> exchange_;
  HttpTarget target_;
  std::shared_ptr<HttpForwarder::Pool> pool_;
  std::function<void(std::string_view)> say_;
  tcp::socket socket_;
  tcp::resolver resolver_;
  asio::steady_timer timer_;
  bool reused_ = false;
  bool timed_out_ = false;
  std::string body_;
  std::string message_;
  http::request<http::string_body> request_;
  beast::flat_buffer buffer_;
  std::optional<http::response_parser<http::buffer_body>> parser_;
  std::array<char, std::size_t{64} * 1024> chunk_;
};

}  // namespace

HttpForwarder::HttpForwarder(asio::io_context& io, HttpTarget target,
                             std::function<void(std::string_view)> say)
    : io_(io), target_(std::move(target)), say_(std::move(say)), pool_(std::make_shared<Pool>()) {}

HttpForwarder::~HttpForwarder() = default;

void HttpForwarder::handle(std::shared_ptr<client::HttpExchange> exchange) {
  std::make_shared<Forwarding>(io_, std::move(exchange), target_, pool_, say_)->start();
}

}  // namespace switchboard::tools
