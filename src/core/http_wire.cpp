// The one translation unit that includes Boost.Beast: request heads and bodies in, response heads
// out.
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <sstream>

#include <spdlog/spdlog.h>

#include "core/encoding.hpp"
#include "core/handshake.hpp"
#include "core/http_body.hpp"
#include "core/services.hpp"
#include "core/ws_frame.hpp"

namespace switchboard::core {
namespace beast = boost::beast;
namespace http = boost::beast::http;

// The parser that read a plain request's head, switched to a body type that decodes into caller
// buffers. Bodies of any size are streamed, so Beast's default body limit is lifted.
struct RequestParser {
  explicit RequestParser(http::request_parser<http::empty_body>&& head) : parser(std::move(head)) {
    parser.body_limit(boost::none);
    parser.eager(true);
  }
  http::request_parser<http::buffer_body> parser;
};

namespace {

class HeadReader : public std::enable_shared_from_this<HeadReader> {
 public:
  HeadReader(std::shared_ptr<Handshake> handshake, RouteFn route)
      : handshake_(std::move(handshake)), route_(std::move(route)), timer_(handshake_->context) {
    parser_.header_limit(static_cast<std::uint32_t>(handshake_->services.limits.max_header_bytes));
    parser_.body_limit(boost::none);        // bodies are streamed: any Content-Length is fine
    auto& leftover = handshake_->leftover;  // a pipelined request on a kept-alive connection
    if (!leftover.empty()) {
      const auto n =
          boost::asio::buffer_copy(buffer_.prepare(leftover.size()), boost::asio::buffer(leftover));
      buffer_.commit(n);
      leftover.clear();
    }
  }

  void run() {
    const auto& limits = handshake_->services.limits;
    timer_.expires_after(handshake_->idle_wait ? limits.keepalive_timeout
                                               : limits.handshake_timeout);
    timer_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
      if (!ec) {
        self->timed_out_ = true;
        boost::system::error_code ignored;
        self->handshake_->socket.cancel(ignored);
      }
    });
    http::async_read_header(handshake_->socket, buffer_, parser_,
                            [self = shared_from_this()](boost::system::error_code ec, std::size_t) {
                              self->on_read(ec);
                            });
  }

 private:
  void on_read(boost::system::error_code ec) {
    timer_.cancel();
    if (timed_out_ && handshake_->idle_wait && buffer_.size() == 0 && !parser_.got_some()) {
      boost::system::error_code ignored;  // an idle kept-alive connection: nothing to answer
      handshake_->socket.close(ignored);
      return;
    }
    if (timed_out_) {
      refuse(handshake_, {408, "Request Timeout: the request head did not arrive in time."});
      return;
    }
    if (ec == http::error::header_limit) {
      refuse(handshake_, {431, "Request Header Fields Too Large"});
      return;
    }
    if (ec == http::error::end_of_stream || ec == boost::asio::error::eof ||
        ec == boost::asio::error::connection_reset) {
      return;  // the client went away before sending a request
    }
    if (ec) {
      spdlog::debug("bad request head from {}: {}", handshake_->remote.address, ec.message());
      refuse(handshake_, {400, "Bad Request: malformed HTTP request."});
      return;
    }
    auto& message = parser_.get();
    auto& request = handshake_->request;
    request.method = std::string(message.method_string());
    request.target = std::string(message.target());
    request.version = message.version();
    for (const auto& field : message) {
      request.headers.push_back({std::string(field.name_string()), std::string(field.value())});
    }
    const auto leftover = buffer_.data();
    handshake_->leftover.assign(static_cast<const char*>(leftover.data()), leftover.size());
    handshake_->idle_wait = false;
    if (!request.is_websocket_upgrade()) {
      handshake_->parser = std::make_shared<RequestParser>(std::move(parser_));
    }
    route_(std::move(handshake_));
  }

  std::shared_ptr<Handshake> handshake_;
  RouteFn route_;
  boost::asio::steady_timer timer_;
  beast::flat_buffer buffer_;
  http::request_parser<http::empty_body> parser_;
  bool timed_out_ = false;
};

// Sends the last bytes, shuts the sending side, and closes once the client has read them and
// hung up (or after two seconds): closing with unread input would send an RST that can destroy
// the response before the client reads it.
class FinalAnswer : public std::enable_shared_from_this<FinalAnswer> {
 public:
  FinalAnswer(std::shared_ptr<Handshake> handshake, std::shared_ptr<std::string> bytes)
      : handshake_(std::move(handshake)), bytes_(std::move(bytes)), timer_(handshake_->context) {}

  void run() {
    boost::asio::async_write(handshake_->socket, boost::asio::buffer(*bytes_),
                             [self = shared_from_this()](boost::system::error_code ec,
                                                         std::size_t) { self->on_write(ec); });
  }

 private:
  void on_write(boost::system::error_code ec) {
    boost::system::error_code ignored;
    if (ec) {
      handshake_->socket.close(ignored);
      return;
    }
    handshake_->socket.shutdown(Socket::shutdown_send, ignored);
    timer_.expires_after(std::chrono::seconds(2));
    timer_.async_wait([self = shared_from_this()](boost::system::error_code e) {
      boost::system::error_code ignored2;
      if (!e) self->handshake_->socket.close(ignored2);
    });
    do_drain();
  }

  void do_drain() {
    handshake_->socket.async_read_some(
        boost::asio::buffer(sink_),
        [self = shared_from_this()](boost::system::error_code ec, std::size_t) {
          self->on_drain(ec);
        });
  }

  void on_drain(boost::system::error_code ec) {
    if (!ec) {
      do_drain();
      return;
    }
    timer_.cancel();
    boost::system::error_code ignored;
    handshake_->socket.close(ignored);
  }

  std::shared_ptr<Handshake> handshake_;
  std::shared_ptr<std::string> bytes_;
  boost::asio::steady_timer timer_;
  std::array<char, 512> sink_{};
};

void finish(std::shared_ptr<Handshake> handshake, std::shared_ptr<std::string> bytes) {
  std::make_shared<FinalAnswer>(std::move(handshake), std::move(bytes))->run();
}

bool valid_client_key(std::string_view key) {
  const auto bytes = base64_decode(key);  // 16 random bytes (RFC 6455 section 4.1)
  return bytes && bytes->size() == 16;
}

}  // namespace

void send_and_close(std::shared_ptr<Handshake> handshake, std::string bytes) {
  finish(std::move(handshake), std::make_shared<std::string>(std::move(bytes)));
}

void read_request_head(std::shared_ptr<Handshake> handshake, RouteFn route) {
  std::make_shared<HeadReader>(std::move(handshake), std::move(route))->run();
}

std::string_view standard_reason(int status) {
  const auto text = http::obsolete_reason(static_cast<http::status>(status));
  return text == "<unknown-status>" ? std::string_view("Unknown") : std::string_view(text);
}

std::string render_response(int status, std::string_view reason, const std::vector<Header>& headers,
                            std::string_view body, std::string_view content_type) {
  http::response<http::string_body> response;
  response.result(static_cast<unsigned>(status));
  response.version(11);
  response.reason(reason.empty() ? standard_reason(status) : reason);
  for (const auto& header : headers) response.insert(header.name, header.value);
  if (status != 101) {
    if (!content_type.empty()) response.set(http::field::content_type, content_type);
    response.body() = std::string(body);
    response.prepare_payload();
  }
  std::ostringstream out;
  out << response;
  return out.str();
}

void respond(std::shared_ptr<Handshake> handshake, Response response) {
  spdlog::debug("{} {} from {}:{}: {}", handshake->request.method, handshake->request.target,
                handshake->remote.address, handshake->remote.port, response.status);
  response.headers.push_back({"Connection", "close"});
  finish(std::move(handshake), std::make_shared<std::string>(render_response(
                                   response.status, response.reason, response.headers,
                                   response.body, response.content_type)));
}

void refuse(std::shared_ptr<Handshake> handshake, Response refusal, Blame blame) {
  spdlog::info("refused {} {} from {}:{}: {} {}", handshake->request.method,
               handshake->request.target, handshake->remote.address, handshake->remote.port,
               refusal.status, refusal.reason);
  refusal.headers.push_back({"Connection", "close"});
  auto bytes = std::make_shared<std::string>(render_response(
      refusal.status, refusal.reason, refusal.headers, refusal.body, refusal.content_type));
  const Duration delay = blame == Blame::kClient
                             ? handshake->services.guard.record_failure(handshake->remote.address)
                             : Duration::zero();
  if (delay == Duration::zero()) {
    finish(std::move(handshake), std::move(bytes));
    return;
  }
  spdlog::debug("holding failing answer to {} for {} ms", handshake->remote.address, delay.count());
  auto timer = std::make_shared<boost::asio::steady_timer>(handshake->context, delay);
  timer->async_wait(
      [handshake = std::move(handshake), bytes, timer](boost::system::error_code) mutable {
        finish(std::move(handshake), std::move(bytes));
      });
}

BodyDecoder::BodyDecoder(Handshake& handshake) : parser_(std::move(handshake.parser)) {
  if (!handshake.leftover.empty()) {
    input_ = std::move(handshake.leftover);
    handshake.leftover.clear();
  }
}

BodyDecoder::~BodyDecoder() = default;

bool BodyDecoder::chunked() const {
  return parser_ && parser_->parser.chunked();
}

std::optional<std::uint64_t> BodyDecoder::content_length() const {
  if (!parser_) return std::nullopt;
  const auto length = parser_->parser.content_length();
  return length ? std::optional<std::uint64_t>(*length) : std::nullopt;
}

bool BodyDecoder::has_body() const {
  return chunked() || content_length().value_or(0) > 0;
}

bool BodyDecoder::keep_alive() const {
  return parser_ && parser_->parser.keep_alive();
}

bool BodyDecoder::done() const {
  return !parser_ || parser_->parser.is_done();
}

void BodyDecoder::push(const std::uint8_t* data, std::size_t n) {
  if (input_head_ > 0 && input_head_ == input_.size()) {
    input_.clear();
    input_head_ = 0;
  }
  input_.append(reinterpret_cast<const char*>(data), n);
}

std::size_t BodyDecoder::pull(std::uint8_t* out, std::size_t capacity) {
  if (done() || failed_) return 0;
  auto& p = parser_->parser;
  std::size_t produced = 0;
  while (produced < capacity && !p.is_done() && input_head_ < input_.size()) {
    auto& body = p.get().body();
    body.data = out + produced;
    body.size = capacity - produced;
    body.more = true;
    boost::beast::error_code ec;
    const std::size_t used =
        p.put(boost::asio::buffer(input_.data() + input_head_, input_.size() - input_head_), ec);
    input_head_ += used;
    produced += (capacity - produced) - body.size;
    if (ec == http::error::need_buffer) break;  // `out` is full
    if (ec == http::error::need_more) break;    // a chunk header is incomplete
    if (ec) {
      spdlog::debug("bad request body: {}", ec.message());
      failed_ = true;
      break;
    }
    if (used == 0) break;
  }
  if (input_head_ == input_.size()) {
    input_.clear();
    input_head_ = 0;
  } else if (input_head_ > input_.size() / 2) {
    input_.erase(0, input_head_);
    input_head_ = 0;
  }
  return produced;
}

std::string BodyDecoder::take_rest() {
  std::string rest = input_.substr(input_head_);
  input_.clear();
  input_head_ = 0;
  return rest;
}

std::string render_response_head(int status, std::string_view reason,
                                 const std::vector<Header>& headers) {
  http::response_header<> head;
  head.result(static_cast<unsigned>(status));
  head.version(11);
  head.reason(reason.empty() ? standard_reason(status) : reason);
  for (const auto& header : headers) head.insert(header.name, header.value);
  std::ostringstream out;
  out << head;
  return out.str();
}

void append_chunk(std::string& out, std::string_view data) {
  if (data.empty()) return;  // an empty chunk would end the body
  out += beast::buffers_to_string(http::chunk_header{data.size()});
  out += data;
  out += beast::buffers_to_string(http::chunk_crlf{});
}

std::string_view last_chunk() {
  return "0\r\n\r\n";
}

std::string_view continue_response() {
  return "HTTP/1.1 100 Continue\r\n\r\n";
}

UpgradeCheck check_websocket_upgrade(const RequestHead& request) {
  if (request.version < 11) return {400, "Bad Request: WebSocket upgrades need HTTP/1.1.", {}};
  const auto version = request.find("Sec-WebSocket-Version");
  if (!version || *version != "13") {
    return {426,
            "Upgrade Required: Sec-WebSocket-Version must be 13.",
            {{"Sec-WebSocket-Version", "13"}}};
  }
  const auto key = request.find("Sec-WebSocket-Key");
  if (!key || !valid_client_key(*key)) {
    return {400, "Bad Request: missing or invalid Sec-WebSocket-Key.", {}};
  }
  return {};
}

void switch_protocols(std::shared_ptr<Handshake> handshake, std::string_view protocol,
                      std::function<void(bool)> done) {
  std::vector<Header> headers{
      {"Upgrade", "websocket"},
      {"Connection", "Upgrade"},
      {"Sec-WebSocket-Accept",
       ws::accept_key(handshake->request.find("Sec-WebSocket-Key").value_or(""))}};
  if (!protocol.empty()) headers.push_back({"Sec-WebSocket-Protocol", std::string(protocol)});
  auto bytes =
      std::make_shared<std::string>(render_response(101, "Switching Protocols", headers, {}));
  auto* socket = &handshake->socket;
  boost::asio::async_write(*socket, boost::asio::buffer(*bytes),
                           [handshake = std::move(handshake), bytes, done = std::move(done)](
                               boost::system::error_code ec, std::size_t) {
                             handshake->ticket.release();
                             done(!ec);
                           });
}

}  // namespace switchboard::core
