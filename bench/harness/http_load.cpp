#include "bench/harness/http_load.hpp"

#include <csignal>
#include <cstdio>
#include <optional>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>

#include "core/socket.hpp"
#include "server/config.hpp"

namespace switchboard::bench {

namespace beast = boost::beast;
namespace http = boost::beast::http;
using tcp = asio::ip::tcp;
using boost::system::error_code;

namespace {

constexpr std::size_t kReadChunk = std::size_t{16} * 1024;
constexpr std::size_t kMaxBody = std::size_t{1} << 20;

bool would_block(const error_code& ec) {
  return ec == asio::error::would_block || ec == asio::error::try_again;
}

enum class Fill { kData, kEmpty, kClosed };

// One non-blocking read into `in`.
Fill fill(Socket& socket, beast::flat_buffer& in) {
  error_code ec;
  const std::size_t n = socket.read_some(in.prepare(kReadChunk), ec);
  if (would_block(ec)) return Fill::kEmpty;
  if (ec || n == 0) return Fill::kClosed;
  in.commit(n);
  return Fill::kData;
}

// Feeds what `in` holds to `parser` until its message is whole or it needs more; false if the
// bytes are not HTTP.
template <class Parser>
bool parse(Parser& parser, beast::flat_buffer& in) {
  while (in.size() > 0 && !parser.is_done()) {
    error_code ec;
    const std::size_t used = parser.put(in.data(), ec);
    in.consume(used);
    if (ec == http::error::need_more) return true;
    if (ec) return false;
    if (used == 0) return true;
  }
  return true;
}

const std::string& service_response(bool keep_alive) {
  static const std::string body(kHttpBody, 'x');
  static const std::string head =
      "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
      "Content-Length: " +
      std::to_string(kHttpBody) + "\r\n";
  static const std::string kept = head + "\r\n" + body;
  static const std::string closing = head + "Connection: close\r\n\r\n" + body;
  return keep_alive ? kept : closing;
}

// A connection of the service: every whole request is answered in order (pipelined ones too);
// while a response waits for the kernel, nothing more is read.
class ServiceConnection : public std::enable_shared_from_this<ServiceConnection> {
 public:
  explicit ServiceConnection(Socket socket) : socket_(std::move(socket)) { next_request(); }

  void start() { do_wait(Socket::wait_read); }

 private:
  void next_request() {
    parser_.emplace();
    parser_->eager(true);
    parser_->body_limit(kMaxBody);
  }

  void do_wait(Socket::wait_type type) {
    socket_.async_wait(type, [self = shared_from_this(), type](error_code ec) {
      if (ec) return;
      if (type == Socket::wait_read) {
        self->on_readable();
      } else {
        self->on_writable();
      }
    });
  }

  void on_readable() {
    for (;;) {
      const Fill got = fill(socket_, in_);
      if (got == Fill::kClosed) return close();
      if (got == Fill::kEmpty) break;
      if (!answer()) return close();
      if (closing_) break;
    }
    on_writable();
  }

  // Queues a response to each whole request that has arrived; false on bytes that are not HTTP.
  bool answer() {
    while (!closing_) {
      if (!parse(*parser_, in_)) return false;
      if (!parser_->is_done()) return true;
      const bool keep_alive = parser_->keep_alive();
      out_ += service_response(keep_alive);
      closing_ = !keep_alive;
      next_request();
    }
    return true;
  }

  void on_writable() {
    while (out_head_ < out_.size()) {
      error_code ec;
      const std::size_t n =
          socket_.write_some(asio::buffer(out_.data() + out_head_, out_.size() - out_head_), ec);
      if (would_block(ec)) return do_wait(Socket::wait_write);
      if (ec) return close();
      out_head_ += n;
    }
    out_.clear();
    out_head_ = 0;
    if (closing_) return close();
    do_wait(Socket::wait_read);
  }

  void close() {
    error_code ignored;
    socket_.close(ignored);
  }

  Socket socket_;
  beast::flat_buffer in_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::string out_;
  std::size_t out_head_ = 0;
  bool closing_ = false;  // the last request asked for Connection: close
};

void accept_next(tcp::acceptor& acceptor) {
  acceptor.async_accept([&acceptor](error_code ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted) return;
    if (!ec) {
      error_code ignored;
      socket.set_option(tcp::no_delay(true), ignored);
      const int family = socket.local_endpoint(ignored).protocol().family();
      const int fd = socket.release(ignored);
      auto& io = static_cast<asio::io_context&>(acceptor.get_executor().context());
      std::make_shared<ServiceConnection>(core::attach(io, {family, fd}))->start();
    }
    accept_next(acceptor);
  });
}

class KeepAliveClient : public HttpClient, public std::enable_shared_from_this<KeepAliveClient> {
 public:
  KeepAliveClient(asio::io_context& io, const Endpoint& to, std::string request)
      : io_(io), socket_(io), request_(std::move(request)) {
    error_code ec;
    endpoint_ = tcp::endpoint(asio::ip::make_address(to.host, ec), to.port);
  }

  void send(Done done) override {
    if (gone_) return;
    done_ = std::move(done);
    parser_.emplace();
    parser_->eager(true);
    parser_->body_limit(kMaxBody);
    sent_ = 0;
    if (!socket_.is_open()) return do_connect();
    on_writable();
  }

  void abort() override {
    gone_ = true;
    done_ = nullptr;
    error_code ignored;
    socket_.close(ignored);
  }

  std::uint64_t connects() const override { return connects_; }

 private:
  void do_connect() {
    ++connects_;
    socket_ = Socket(io_);
    in_.clear();
    socket_.async_connect(asio::generic::stream_protocol::endpoint(endpoint_),
                          [self = shared_from_this()](error_code ec) { self->on_connect(ec); });
  }

  void on_connect(error_code ec) {
    if (gone_) return;
    if (ec) return fail("connect: " + ec.message());
    socket_.set_option(tcp::no_delay(true), ec);
    socket_.non_blocking(true, ec);
    on_writable();
  }

  void do_wait(Socket::wait_type type) {
    socket_.async_wait(type, [self = shared_from_this(), type](error_code ec) {
      if (self->gone_) return;
      if (ec) return self->fail(ec.message());
      if (type == Socket::wait_read) {
        self->on_readable();
      } else {
        self->on_writable();
      }
    });
  }

  void on_writable() {
    while (sent_ < request_.size()) {
      error_code ec;
      const std::size_t n =
          socket_.write_some(asio::buffer(request_.data() + sent_, request_.size() - sent_), ec);
      if (would_block(ec)) return do_wait(Socket::wait_write);
      if (ec) return fail("write: " + ec.message());
      sent_ += n;
    }
    do_wait(Socket::wait_read);
  }

  void on_readable() {
    const Fill got = fill(socket_, in_);
    if (got == Fill::kEmpty) return do_wait(Socket::wait_read);
    if (got == Fill::kClosed) {
      // A response without a length ends with the connection.
      error_code ec;
      if (parser_->is_header_done()) parser_->put_eof(ec);
      if (ec || !parser_->is_done()) return fail("the server closed the connection");
      return respond(false);
    }
    if (!parse(*parser_, in_)) return fail("a response that is not HTTP/1.1");
    if (!parser_->is_done()) return do_wait(Socket::wait_read);
    respond(parser_->keep_alive());
  }

  void respond(bool keep_alive) {
    const auto& message = parser_->get();
    const HttpResponse response{static_cast<int>(message.result_int()), message.body().size()};
    if (!keep_alive) close();  // the next send connects again
    finish({}, response);
  }

  void fail(const std::string& error) {
    close();
    finish(error, {});
  }

  void finish(const std::string& error, const HttpResponse& response) {
    auto done = std::move(done_);
    done_ = nullptr;
    if (done) done(error, response);
  }

  void close() {
    error_code ignored;
    socket_.close(ignored);
  }

  asio::io_context& io_;
  Socket socket_;
  tcp::endpoint endpoint_;
  std::string request_;
  std::size_t sent_ = 0;  // bytes of request_ the kernel took
  beast::flat_buffer in_;
  std::optional<http::response_parser<http::string_body>> parser_;
  Done done_;
  std::uint64_t connects_ = 0;
  bool gone_ = false;
};

}  // namespace

std::string render_get(const Endpoint& to, const std::string& target, const Headers& headers) {
  std::string out =
      "GET " + target + " HTTP/1.1\r\nHost: " + to.host + ":" + std::to_string(to.port) + "\r\n";
  for (const auto& [name, value] : headers) out += name + ": " + value + "\r\n";
  return out + "\r\n";
}

std::shared_ptr<HttpClient> make_http_client(asio::io_context& io, const Endpoint& to,
                                             std::string request) {
  return std::make_shared<KeepAliveClient>(io, to, std::move(request));
}

int run_http_service(const std::string& listen) {
  std::string host;
  unsigned short port = 0;
  if (!server::split_host_port(listen, host, port)) {
    std::fprintf(stderr, "http-service: --listen expects HOST:PORT\n");
    return 2;
  }
  asio::io_context io(1);
  error_code ec;
  const tcp::endpoint endpoint(asio::ip::make_address(host, ec), port);
  tcp::acceptor acceptor(io);
  if (!ec) ec = core::listen_on(acceptor, endpoint);
  if (ec) {
    std::fprintf(stderr, "http-service: cannot listen on %s: %s\n", listen.c_str(),
                 ec.message().c_str());
    return 1;
  }
  std::printf("http service listening on %s:%u\n", host.c_str(), acceptor.local_endpoint().port());
  std::fflush(stdout);
  asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&io](error_code, int) { io.stop(); });
  accept_next(acceptor);
  io.run();
  return 0;
}

}  // namespace switchboard::bench
