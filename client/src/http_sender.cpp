// relayed_request: a plain HTTP/1.1 exchange with the relay's HTTP sender endpoint (Beast).
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>

#include "client/src/transport.hpp"
#include "client/src/url.hpp"
#include "switchboard/client/sender.hpp"

namespace switchboard::client {

namespace beast = boost::beast;
namespace http = boost::beast::http;
using boost::system::error_code;

namespace {

class Exchange : public std::enable_shared_from_this<Exchange> {
 public:
  Exchange(asio::io_context& io, ParsedUrl url, HttpRequestOptions options,
           std::function<void(const Error&, HttpReply)> handler)
      : transport_(io),
        resolver_(io),
        timer_(io),
        url_(std::move(url)),
        options_(std::move(options)),
        handler_(std::move(handler)) {}

  void run() {
    if (auto ec = prepare_tls(transport_, url_.tls, url_.host, options_.connect)) return fail(ec);
    timer_.expires_after(options_.connect.timeout);
    timer_.async_wait([weak = weak_from_this()](error_code ec) {
      if (ec) return;
      if (auto self = weak.lock()) {
        self->timed_out_ = true;
        self->resolver_.cancel();
        self->transport_.close();
      }
    });
    async_open(transport_, resolver_, url_, [self = shared_from_this()](error_code ec) {
      if (ec) return self->fail(ec);
      self->write();
    });
  }

 private:
  void write() {
    request_.method_string(options_.method);
    request_.target(url_.target);
    request_.version(11);
    request_.set(http::field::host, url_.authority);
    for (const auto& [name, value] : options_.headers) request_.insert(name, value);
    if (!options_.token.empty()) request_.set("ServiceBusAuthorization", options_.token);
    request_.body() = options_.body;
    request_.prepare_payload();
    request_.keep_alive(false);
    parser_.body_limit(options_.max_body);
    transport_.visit([self = shared_from_this()](auto& stream) {
      http::async_write(stream, self->request_, [self, &stream](error_code ec, std::size_t) {
        if (ec) return self->fail(ec);
        http::async_read(stream, self->buffer_, self->parser_, [self](error_code e, std::size_t) {
          if (e) return self->fail(e);
          self->done();
        });
      });
    });
  }

  void done() {
    timer_.cancel();
    auto response = parser_.release();
    HttpReply reply;
    reply.status = static_cast<int>(response.result_int());
    reply.reason = std::string(response.reason());
    for (const auto& field : response) {
      reply.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
    }
    reply.body = std::move(response.body());
    transport_.close();
    handler_({}, std::move(reply));
  }

  void fail(error_code ec) {
    timer_.cancel();
    transport_.close();
    handler_(Error::from(timed_out_ ? make_error_code(Errc::kTimeout) : ec), {});
  }

  Transport transport_;
  tcp::resolver resolver_;
  asio::steady_timer timer_;
  ParsedUrl url_;
  HttpRequestOptions options_;
  std::function<void(const Error&, HttpReply)> handler_;
  bool timed_out_ = false;
  http::request<http::string_body> request_;
  beast::flat_buffer buffer_;
  http::response_parser<http::string_body> parser_;
};

}  // namespace

void relayed_request(asio::io_context& io, std::string_view url, HttpRequestOptions options,
                     std::function<void(const Error&, HttpReply)> handler) {
  std::string address(url);
  if (!options.token.empty() && options.token_in == TokenPlacement::kQuery) {
    address = with_query_param(address, "sb-hc-token", options.token);
    options.token.clear();
  }
  auto parsed = parse_url(address);
  if (!parsed) {
    asio::post(io, [h = std::move(handler)] { h(Error::from(Errc::kBadUrl), {}); });
    return;
  }
  std::make_shared<Exchange>(io, std::move(*parsed), std::move(options), std::move(handler))->run();
}

}  // namespace switchboard::client
