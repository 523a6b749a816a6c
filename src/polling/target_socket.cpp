#include "polling/target_socket.hpp"

#include <sys/socket.h>

#include <deque>
#include <type_traits>
#include <vector>

#include <openssl/ssl.h>
#include <spdlog/spdlog.h>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>

#include "core/handshake.hpp"
#include "polling/settings.hpp"
#include "polling/target_policy.hpp"

namespace switchboard::polling {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
namespace http = beast::http;

constexpr std::uint16_t kNoStatus = 1005;
constexpr std::uint16_t kAbnormal = 1006;
constexpr std::uint16_t kTooBig = 1009;
constexpr std::size_t kReadPiece = std::size_t{64} * 1024;

using tcp = asio::ip::tcp;
using TlsSocket = asio::ssl::stream<tcp::socket>;

// Beast's WebSocket client (handshake, masking, control frames, close handshake) on one end of
// the connection; the other end is whatever the target is. Stream: the socketpair end of a
// `self` target, or a TCP (or TLS) connection to an external one.
template <typename Stream>
class BeastTarget : public TargetSocket, public std::enable_shared_from_this<BeastTarget<Stream>> {
  using std::enable_shared_from_this<BeastTarget<Stream>>::shared_from_this;
  using std::enable_shared_from_this<BeastTarget<Stream>>::weak_from_this;

 public:
  template <typename... StreamArgs>
  BeastTarget(asio::io_context& context, const Settings& settings, Handlers handlers,
              StreamArgs&&... stream_args)
      : ws_(std::forward<StreamArgs>(stream_args)...),
        resolver_(context),
        settings_(settings),
        handlers_(std::move(handlers)),
        timer_(context) {
    // The message limit is enforced here, piece by piece, so that the target gets a proper
    // Close 1009 (R5) and the rest of the message is discarded while it answers.
    ws_.read_message_max(0);
    ws_.auto_fragment(false);
  }

  // `self` targets: the stream is connected already.
  void handshake(const std::string& host, const std::string& target, const std::string& origin) {
    arm_connect_timeout();
    upgrade(host, target, origin);
  }

  // External targets (section 5.3): one resolution, every address checked, and the connection
  // made to the address that was checked (no second lookup).
  void dial(const std::string& host, const std::string& port, const std::string& host_header,
            const std::string& target, const std::string& origin, bool allow_private) {
    arm_connect_timeout();
    resolver_.async_resolve(
        host, port,
        [self = shared_from_this(), host, host_header, target, origin, allow_private](
            boost::system::error_code ec, const tcp::resolver::results_type& results) {
          if (self->gone_) return;
          if (ec) return self->fail_open("connect failed");
          std::vector<tcp::endpoint> checked;
          for (const auto& entry : results) {
            if (allow_private || public_address(entry.endpoint().address())) {
              checked.push_back(entry.endpoint());
            }
          }
          if (checked.empty()) {
            spdlog::info("polling: target host {} resolves to private addresses only", host);
            return self->fail_open("target not allowed");
          }
          // Only the addresses just checked are tried, in order.
          asio::async_connect(beast::get_lowest_layer(self->ws_), checked,
                              [self, host, host_header, target, origin](boost::system::error_code e,
                                                                        const tcp::endpoint&) {
                                if (self->gone_) return;
                                if (e) return self->fail_open("connect failed");
                                self->secure_then_upgrade(host, host_header, target, origin);
                              });
        });
  }

  void arm_connect_timeout() {
    timer_.expires_after(settings_.connect_timeout);
    timer_.async_wait([weak = weak_from_this()](boost::system::error_code ec) {
      auto self = weak.lock();
      if (ec || !self || self->open_) return;
      self->resolver_.cancel();
      self->fail_open("timeout");
    });
  }

  void fail_open(const std::string& failure) {
    report_open(failure);
    drop();
  }

  void secure_then_upgrade(const std::string& host, const std::string& host_header,
                           const std::string& target, const std::string& origin) {
    if constexpr (std::is_same_v<Stream, TlsSocket>) {
      auto& tls = ws_.next_layer();
      // SNI, and a certificate that chains to a trusted CA and names the host.
      if (!SSL_set_tlsext_host_name(tls.native_handle(), host.c_str())) {
        return fail_open("connect failed");
      }
      tls.set_verify_mode(asio::ssl::verify_peer);
      tls.set_verify_callback(asio::ssl::host_name_verification(host));
      tls.async_handshake(
          asio::ssl::stream_base::client,
          [self = shared_from_this(), host_header, target, origin](boost::system::error_code ec) {
            if (self->gone_) return;
            if (ec) {
              spdlog::info("polling: TLS to the target failed: {}", ec.message());
              return self->fail_open("connect failed");
            }
            self->upgrade(host_header, target, origin);
          });
    } else {
      (void)host;
      upgrade(host_header, target, origin);
    }
  }

  void upgrade(const std::string& host_header, const std::string& target,
               const std::string& origin) {
    ws_.set_option(websocket::stream_base::decorator([origin](websocket::request_type& request) {
      request.set(http::field::user_agent, "Switchboard-polysocket");
      if (!origin.empty()) request.set(http::field::origin, origin);
    }));
    ws_.async_handshake(
        response_, host_header, target,
        [self = shared_from_this()](boost::system::error_code ec) { self->on_handshake(ec); });
  }

  void send(bool text, std::string data) override {
    if (close_requested_ || gone_) return;
    queued_ += data.size();
    queue_.push_back({text, std::move(data)});
    if (!writing_) write_next();
  }

  std::size_t queued() const override { return queued_; }

  void close(std::uint16_t code, std::string reason) override {
    if (close_requested_ || gone_) return;
    close_requested_ = true;
    requested_ = {code, std::move(reason)};
    timer_.expires_after(settings_.close_wait);
    timer_.async_wait([weak = weak_from_this()](boost::system::error_code ec) {
      auto self = weak.lock();
      if (ec || !self) return;
      self->report_closed(self->requested_.code, self->requested_.reason, false);
      self->drop();
    });
    if (!writing_) write_next();
  }

  void pause() override { paused_ = true; }

  void resume() override {
    paused_ = false;
    if (open_ && !reading_ && !gone_) read();
  }

  void abort() override {
    handlers_ = {};
    drop();
  }

 private:
  struct Outgoing {
    bool text;
    std::string data;
  };
  struct Close {
    std::uint16_t code = 1000;
    std::string reason;
  };

  void on_handshake(boost::system::error_code ec) {
    if (gone_) return;
    if (ec) {
      if (ec == websocket::error::upgrade_declined && response_.result_int() != 0) {
        report_open("handshake failed: " + std::to_string(response_.result_int()));
      } else {
        report_open("connect failed");
      }
      drop();
      return;
    }
    timer_.cancel();
    open_ = true;
    report_open({});
    read();
  }

  void read() {
    if (paused_ || reading_ || gone_) return;
    reading_ = true;
    ws_.async_read_some(buffer_, kReadPiece,
                        [self = shared_from_this()](boost::system::error_code ec, std::size_t) {
                          self->on_read(ec);
                        });
  }

  void on_read(boost::system::error_code ec) {
    reading_ = false;
    if (gone_) return;
    if (ec == websocket::error::closed) {
      report_target_close();
      drop();
      return;
    }
    if (ec && close_sent_) {
      report_answer(ec);
      return;
    }
    if (ec) {
      report_closed(kAbnormal, {}, true);
      drop();
      return;
    }
    if (too_big_ || buffer_.size() > settings_.max_message) {
      buffer_.consume(buffer_.size());
      if (!too_big_) {
        too_big_ = true;
        report_closed(kTooBig, "message too big", false);
        close(kTooBig, "message too big");
      }
      return read();  // the target's answer to the Close
    }
    if (!ws_.is_message_done()) return read();
    std::string data = beast::buffers_to_string(buffer_.data());
    buffer_.consume(buffer_.size());
    if (handlers_.message) handlers_.message(ws_.got_text(), std::move(data));
    read();
  }

  void write_next() {
    if (gone_ || writing_) return;
    if (queue_.empty()) {
      if (close_requested_ && !close_sent_) send_close();
      return;
    }
    writing_ = true;
    ws_.text(queue_.front().text);
    ws_.async_write(asio::buffer(queue_.front().data),
                    [self = shared_from_this()](boost::system::error_code ec, std::size_t) {
                      self->writing_ = false;
                      if (self->gone_) return;
                      self->queued_ -= self->queue_.front().data.size();
                      self->queue_.pop_front();
                      if (ec) return;  // the read side reports the loss
                      if (self->on_drained) self->on_drained();
                      self->write_next();
                    });
  }

  void send_close() {
    close_sent_ = true;
    ws_.async_close(websocket::close_reason(static_cast<websocket::close_code>(requested_.code),
                                            requested_.reason),
                    [self = shared_from_this()](boost::system::error_code ec) {
                      if (!self->gone_) self->report_answer(ec);
                    });
  }

  // Our Close was answered (or the connection ended while we waited): the target's code and
  // reason, or the requested ones when it sent none.
  void report_answer(boost::system::error_code ec) {
    const auto& reason = ws_.reason();
    if (ec != websocket::error::closed && (ec || reason.code == websocket::close_code::none)) {
      report_closed(requested_.code, requested_.reason, false);
    } else {
      report_target_close();
    }
    drop();
  }

  // The target's Close as the client's close event: 1005 when it carried no code.
  void report_target_close() {
    const auto& reason = ws_.reason();
    report_closed(reason.code == websocket::close_code::none ? kNoStatus : reason.code,
                  std::string(reason.reason.data(), reason.reason.size()), false);
  }

  void report_open(const std::string& failure) {
    if (reported_open_) return;
    reported_open_ = true;
    if (handlers_.opened) handlers_.opened(failure);
  }

  void report_closed(std::uint16_t code, std::string reason, bool abnormal) {
    if (reported_closed_ || !open_) return;
    reported_closed_ = true;
    if (handlers_.closed) handlers_.closed(code, std::move(reason), abnormal);
  }

  void drop() {
    if (gone_) return;
    gone_ = true;
    timer_.cancel();
    resolver_.cancel();
    boost::system::error_code ignored;
    beast::get_lowest_layer(ws_).close(ignored);
  }

  websocket::stream<Stream> ws_;
  tcp::resolver resolver_;
  const Settings& settings_;
  Handlers handlers_;
  asio::steady_timer timer_;  // connect timeout, then the close wait
  websocket::response_type response_;
  beast::flat_buffer buffer_;
  std::deque<Outgoing> queue_;
  std::size_t queued_ = 0;
  Close requested_;
  bool open_ = false;
  bool reported_open_ = false;
  bool reported_closed_ = false;
  bool reading_ = false;
  bool writing_ = false;
  bool paused_ = false;
  bool close_requested_ = false;
  bool close_sent_ = false;
  bool too_big_ = false;  // discarding an oversized message while our Close is answered
  bool gone_ = false;
};

}  // namespace

std::shared_ptr<TargetSocket> TargetSocket::open_self(
    asio::io_context& context, core::Services& services, core::RemoteEndpoint client,
    const std::string& host, const std::string& target, const std::string& origin,
    const Settings& settings, Handlers handlers) {
  int fds[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) {
    asio::post(context, [opened = std::move(handlers.opened)] { opened("connect failed"); });
    return nullptr;
  }
  // The endpoint's side: an ordinary connection whose request head is read and routed.
  auto handshake =
      std::make_shared<core::Handshake>(services, context, core::attach(context, {AF_UNIX, fds[0]}),
                                        std::move(client), core::SourceTicket{});
  core::read_request_head(handshake, services.route);
  auto socket = std::make_shared<BeastTarget<core::Socket>>(
      context, settings, std::move(handlers), core::attach(context, {AF_UNIX, fds[1]}));
  socket->handshake(host, target, origin);
  return socket;
}

std::shared_ptr<TargetSocket> TargetSocket::open_external(asio::io_context& context,
                                                          const ExternalTarget& target,
                                                          const Settings& settings,
                                                          asio::ssl::context* tls,
                                                          Handlers handlers) {
  if (target.secure) {
    auto socket = std::make_shared<BeastTarget<TlsSocket>>(context, settings, std::move(handlers),
                                                           context, *tls);
    socket->dial(target.host, target.port, target.host_header, target.target, target.origin,
                 target.allow_private);
    return socket;
  }
  auto socket =
      std::make_shared<BeastTarget<tcp::socket>>(context, settings, std::move(handlers), context);
  socket->dial(target.host, target.port, target.host_header, target.target, target.origin,
               target.allow_private);
  return socket;
}

}  // namespace switchboard::polling
