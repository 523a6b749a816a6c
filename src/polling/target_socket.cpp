#include "polling/target_socket.hpp"

#include <sys/socket.h>

#include <deque>

#include <spdlog/spdlog.h>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/websocket.hpp>

#include "core/handshake.hpp"
#include "polling/settings.hpp"

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

// Beast's WebSocket client (handshake, masking, control frames, close handshake) on one end of
// the connection; the other end is whatever the target is.
class BeastTarget : public TargetSocket, public std::enable_shared_from_this<BeastTarget> {
 public:
  BeastTarget(asio::io_context& context, core::Socket socket, const Settings& settings,
              Handlers handlers)
      : ws_(std::move(socket)),
        settings_(settings),
        handlers_(std::move(handlers)),
        timer_(context) {
    // The message limit is enforced here, piece by piece, so that the target gets a proper
    // Close 1009 (R5) and the rest of the message is discarded while it answers.
    ws_.read_message_max(0);
    ws_.auto_fragment(false);
  }

  void handshake(const std::string& host, const std::string& target, const std::string& origin) {
    ws_.set_option(websocket::stream_base::decorator([origin](websocket::request_type& request) {
      request.set(http::field::user_agent, "Switchboard-polysocket");
      if (!origin.empty()) request.set(http::field::origin, origin);
    }));
    timer_.expires_after(settings_.connect_timeout);
    timer_.async_wait([weak = weak_from_this()](boost::system::error_code ec) {
      auto self = weak.lock();
      if (ec || !self || self->open_) return;
      self->report_open("timeout");
      self->drop();
    });
    ws_.async_handshake(
        response_, host, target,
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
      const auto& reason = ws_.reason();
      report_closed(reason.code == websocket::close_code::none ? kNoStatus : reason.code,
                    std::string(reason.reason.data(), reason.reason.size()), false);
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
      report_closed(reason.code == websocket::close_code::none ? kNoStatus : reason.code,
                    std::string(reason.reason.data(), reason.reason.size()), false);
    }
    drop();
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
    boost::system::error_code ignored;
    beast::get_lowest_layer(ws_).close(ignored);
  }

  websocket::stream<core::Socket> ws_;
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
  auto socket = std::make_shared<BeastTarget>(context, core::attach(context, {AF_UNIX, fds[1]}),
                                              settings, std::move(handlers));
  socket->handshake(host, target, origin);
  return socket;
}

}  // namespace switchboard::polling
