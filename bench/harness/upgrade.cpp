#include "bench/harness/upgrade.hpp"

#include <memory>
#include <random>

#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>

#include "core/encoding.hpp"
#include "core/handshake.hpp"
#include "core/ws_frame.hpp"

namespace switchboard::bench {

namespace beast = boost::beast;
namespace http = boost::beast::http;

namespace {

std::string random_key() {
  thread_local std::mt19937_64 random(std::random_device{}());
  unsigned char bytes[16];
  for (auto& b : bytes) b = static_cast<unsigned char>(random());
  return core::base64_encode(bytes, sizeof bytes);
}

std::string leftover_of(const beast::flat_buffer& buffer) {
  const auto data = buffer.data();
  return {static_cast<const char*>(data.data()), data.size()};
}

class ClientUpgrade : public std::enable_shared_from_this<ClientUpgrade> {
 public:
  ClientUpgrade(asio::io_context& io, const Endpoint& to, std::string target, Headers headers,
                UpgradeDone done)
      : socket_(io), done_(std::move(done)), key_(random_key()) {
    boost::system::error_code ec;
    endpoint_ = asio::ip::tcp::endpoint(asio::ip::make_address(to.host, ec), to.port);
    request_.method(http::verb::get);
    request_.target(target);
    request_.version(11);
    request_.set(http::field::host, to.host + ":" + std::to_string(to.port));
    request_.set(http::field::upgrade, "websocket");
    request_.set(http::field::connection, "Upgrade");
    request_.set(http::field::sec_websocket_key, key_);
    request_.set(http::field::sec_websocket_version, "13");
    for (auto& [name, value] : headers) request_.set(name, value);
    parser_.header_limit(64 * 1024);
  }

  void run() {
    socket_.async_connect(
        asio::generic::stream_protocol::endpoint(endpoint_),
        [self = shared_from_this()](boost::system::error_code ec) { self->on_connect(ec); });
  }

 private:
  void on_connect(boost::system::error_code ec) {
    if (ec) return fail(ec);
    socket_.set_option(asio::ip::tcp::no_delay(true), ec);
    http::async_write(socket_, request_,
                      [self = shared_from_this()](boost::system::error_code e, std::size_t) {
                        if (e) return self->fail(e);
                        self->do_read();
                      });
  }

  void do_read() {
    http::async_read_header(socket_, buffer_, parser_,
                            [self = shared_from_this()](boost::system::error_code ec, std::size_t) {
                              self->on_read(ec);
                            });
  }

  void on_read(boost::system::error_code ec) {
    if (ec) return fail(ec);
    const auto& response = parser_.get();
    Upgraded result;
    result.status = static_cast<int>(response.result_int());
    result.reason = std::string(response.reason());
    if (result.status == 101 &&
        response[http::field::sec_websocket_accept] != core::ws::accept_key(key_)) {
      result.status = 0;
      result.reason = "bad Sec-WebSocket-Accept";
    }
    result.leftover = leftover_of(buffer_);
    socket_.non_blocking(true, ec);
    done_(std::move(socket_), std::move(result));
  }

  void fail(boost::system::error_code ec) {
    Upgraded result;
    result.ec = ec;
    result.reason = ec.message();
    done_(std::move(socket_), std::move(result));
  }

  Socket socket_;
  asio::ip::tcp::endpoint endpoint_;
  UpgradeDone done_;
  std::string key_;
  http::request<http::empty_body> request_;
  beast::flat_buffer buffer_;
  http::response_parser<http::empty_body> parser_;
};

class ServerUpgrade : public std::enable_shared_from_this<ServerUpgrade> {
 public:
  ServerUpgrade(Socket socket, AcceptDone done)
      : socket_(std::move(socket)), done_(std::move(done)) {}

  void run() {
    http::async_read_header(socket_, buffer_, parser_,
                            [self = shared_from_this()](boost::system::error_code ec, std::size_t) {
                              self->on_read(ec);
                            });
  }

 private:
  void on_read(boost::system::error_code ec) {
    if (ec) return;  // the client went away
    const auto& message = parser_.get();
    core::RequestHead head;
    head.method = std::string(message.method_string());
    head.target = std::string(message.target());
    head.version = message.version();
    for (const auto& field : message) {
      head.headers.push_back({std::string(field.name_string()), std::string(field.value())});
    }
    const auto check = core::check_websocket_upgrade(head);
    if (!head.is_websocket_upgrade() || check.status != 0) {
      answer(core::render_response(400, "Bad Request", {}, "not a WebSocket upgrade\n"), {});
      return;
    }
    answer(core::render_response(
               101, "Switching Protocols",
               {{"Upgrade", "websocket"},
                {"Connection", "Upgrade"},
                {"Sec-WebSocket-Accept",
                 core::ws::accept_key(head.find("Sec-WebSocket-Key").value_or(""))}},
               {}),
           head.target);
  }

  void answer(std::string bytes, std::string target) {
    bytes_ = std::move(bytes);
    target_ = std::move(target);
    asio::async_write(socket_, asio::buffer(bytes_),
                      [self = shared_from_this()](boost::system::error_code ec, std::size_t) {
                        if (ec || self->target_.empty()) return;
                        self->socket_.non_blocking(true, ec);
                        self->done_(std::move(self->socket_), std::move(self->target_),
                                    leftover_of(self->buffer_));
                      });
  }

  Socket socket_;
  AcceptDone done_;
  beast::flat_buffer buffer_;
  http::request_parser<http::empty_body> parser_;
  std::string bytes_;
  std::string target_;
};

}  // namespace

void connect_websocket(asio::io_context& io, const Endpoint& to, std::string target,
                       Headers headers, UpgradeDone done) {
  std::make_shared<ClientUpgrade>(io, to, std::move(target), std::move(headers), std::move(done))
      ->run();
}

void accept_websocket(Socket socket, AcceptDone done) {
  std::make_shared<ServerUpgrade>(std::move(socket), std::move(done))->run();
}

}  // namespace switchboard::bench
