// The client WebSocket: the opening handshake through Boost.Beast (the client library's one Beast
// unit besides the HTTP forwarder), then frames through Switchboard's own codec, because Beast's
// websocket::stream answers a Close by itself and so cannot half-close.
#include "switchboard/client/websocket.hpp"

#include <openssl/rand.h>

#include <algorithm>
#include <cstring>
#include <deque>
#include <variant>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <boost/url/parse.hpp>

#include "client/src/transport.hpp"
#include "client/src/url.hpp"
#include "core/encoding.hpp"
#include "core/text.hpp"
#include "core/ws_frame.hpp"

namespace switchboard::client {

namespace beast = boost::beast;
namespace http = boost::beast::http;
namespace ssl = boost::asio::ssl;
namespace ws = core::ws;
using tcp = asio::ip::tcp;
using boost::system::error_code;

std::string_view find_header(const Headers& headers, std::string_view name) {
  for (const auto& [n, v] : headers) {
    if (core::iequals(n, name)) return v;
  }
  return {};
}

namespace {

constexpr std::size_t kReadBuffer = std::size_t{64} * 1024;
constexpr auto kCloseTimeout = std::chrono::seconds(5);
constexpr std::size_t kSpareFrames = 4;
constexpr std::size_t kSpareFrameSize = std::size_t{256} * 1024;

std::string random_key() {
  unsigned char bytes[16];
  RAND_bytes(bytes, sizeof bytes);
  return core::base64_encode(bytes, sizeof bytes);
}

}  // namespace

boost::system::error_code prepare_tls(Transport& transport, bool tls, const std::string& host,
                                      const ConnectOptions& options) {
  error_code ec;
  if (!tls) return ec;
  auto context = std::make_shared<ssl::context>(ssl::context::tls_client);
  context->set_options(ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
  if (!options.ca_file.empty()) {
    context->load_verify_file(options.ca_file, ec);
  } else {
    context->set_default_verify_paths(ec);
  }
  if (ec) return ec;
  context->set_verify_mode(options.verify_peer ? ssl::verify_peer : ssl::verify_none);
  transport.use_tls(context);
  auto& stream = transport.tls_stream();
  SSL_set_tlsext_host_name(stream.native_handle(), host.c_str());
  if (options.verify_peer) stream.set_verify_callback(ssl::host_name_verification(host));
  return ec;
}

void async_open(Transport& transport, tcp::resolver& resolver, const ParsedUrl& url,
                std::function<void(error_code)> done) {
  resolver.async_resolve(url.host, std::to_string(url.port),
                         [&transport, done = std::move(done)](
                             error_code ec, const tcp::resolver::results_type& results) {
                           if (ec) return done(ec);
                           asio::async_connect(
                               transport.tcp_socket(), results,
                               [&transport, done](error_code e, const tcp::endpoint&) {
                                 if (e) return done(e);
                                 transport.tcp_socket().set_option(tcp::no_delay(true), e);
                                 if (!transport.tls()) return done({});
                                 transport.tls_stream().async_handshake(ssl::stream_base::client,
                                                                        done);
                               });
                         });
}

struct WebSocket::Impl : std::enable_shared_from_this<WebSocket::Impl> {
  explicit Impl(asio::io_context& io) : io(io), transport(io), close_timer(io) {}

  struct Outgoing {
    std::string bytes;
    DoneHandler done;
  };

  asio::io_context& io;
  Transport transport;
  std::vector<std::uint8_t> in = std::vector<std::uint8_t>(kReadBuffer);
  std::size_t in_begin = 0;
  std::size_t in_end = 0;
  ws::FrameHeader frame;
  std::uint64_t remaining = 0;  // payload bytes of the current data frame not yet delivered
  bool in_frame = false;
  bool in_message = false;
  bool message_text = false;
  bool reading = false;     // a socket read is in flight
  bool delivering = false;  // inside a read handler: a new read waits until it returns
  ReadHandler pending_read;
  std::deque<Outgoing> out;
  std::vector<Outgoing> in_write;  // what the write in flight carries
  std::vector<std::string> spare;  // frame buffers to write the next frames into
  std::size_t buffered = 0;
  bool writing = false;
  bool writing_message = false;  // a message with last = false is open
  bool close_sent = false;
  bool close_received = false;
  bool auto_close_reply = true;
  bool finished = false;
  std::uint16_t peer_code = 0;
  std::string peer_reason;
  Error failure;  // once set, every read fails with it
  std::string subprotocol;
  Headers response_headers;
  std::chrono::steady_clock::time_point last_rx = std::chrono::steady_clock::now();
  asio::steady_timer close_timer;

  // Keeps the Impl for a handler queued in the io_context. When the io_context goes away with the
  // handler never run, the handlers the Impl itself keeps (a waiting read, queued writes) are
  // released: they often hold this WebSocket, and would otherwise keep it, and themselves, alive.
  struct Hold {
    explicit Hold(std::shared_ptr<Impl> impl) : self(std::move(impl)) {}
    Hold(Hold&&) = default;
    Hold& operator=(Hold&&) = default;
    ~Hold() {
      if (self && !ran) self->release_handlers();
    }
    Impl& run() {
      ran = true;
      return *self;
    }
    std::shared_ptr<Impl> self;
    bool ran = false;
  };

  void release_handlers() {
    pending_read = nullptr;
    for (auto& item : out) item.done = nullptr;
    for (auto& item : in_write) item.done = nullptr;
  }

  void read_some(ReadHandler handler) {
    if (pending_read) {
      asio::post(io, [h = std::move(handler)] { h(Error::from(asio::error::in_progress), {}); });
      return;
    }
    pending_read = std::move(handler);
    if (!delivering) pump();
  }

  void deliver(const Error& error, Chunk chunk) {
    auto handler = std::move(pending_read);
    pending_read = nullptr;
    delivering = true;
    handler(error, chunk);
    delivering = false;
  }

  // Hands the next piece of input to the waiting reader, reading from the socket when needed.
  void pump() {
    auto self = shared_from_this();
    while (pending_read) {
      if (failure) return deliver(failure, {});
      const std::size_t available = in_end - in_begin;
      if (in_frame) {
        if (available == 0 && remaining > 0) return read_more();
        const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(available, remaining));
        const char* data = reinterpret_cast<const char*>(in.data() + in_begin);
        in_begin += n;
        remaining -= n;
        Chunk chunk{{data, n}, message_text, false};
        if (remaining == 0) {
          in_frame = false;
          chunk.last = frame.fin;
          if (frame.fin) in_message = false;
        }
        if (n == 0 && !chunk.last) continue;
        deliver({}, chunk);
        continue;
      }
      ws::FrameHeader header;
      const auto parsed = ws::parse_header({in.data() + in_begin, available}, header);
      if (parsed.status == ws::HeaderStatus::kIncomplete) return read_more();
      if (parsed.status == ws::HeaderStatus::kInvalid || header.masked) {
        protocol_error(header.masked ? "Masked frame from the server." : parsed.error);
        continue;
      }
      if (ws::is_control(header.opcode)) {
        if (available < header.header_size + header.payload_length) return read_more();
        const auto* payload = in.data() + in_begin + header.header_size;
        in_begin += header.header_size + header.payload_length;
        on_control(header.opcode, {payload, static_cast<std::size_t>(header.payload_length)});
        continue;
      }
      const bool continuation = header.opcode == ws::kContinuation;
      if (continuation != in_message) {
        protocol_error(continuation ? "Continuation without a message." : "Message interleaved.");
        continue;
      }
      if (!continuation) {
        in_message = true;
        message_text = header.opcode == ws::kText;
      }
      in_begin += header.header_size;
      frame = header;
      remaining = header.payload_length;
      in_frame = true;
    }
  }

  void read_more() {
    if (reading || finished) return;
    if (in_begin == in_end) {
      in_begin = in_end = 0;
    } else if (in_begin > 0 && in.size() - in_end < ws::kMaxControlFrame) {
      std::memmove(in.data(), in.data() + in_begin, in_end - in_begin);
      in_end -= in_begin;
      in_begin = 0;
    }
    reading = true;
    transport.async_read_some(
        asio::buffer(in.data() + in_end, in.size() - in_end),
        [hold = Hold(shared_from_this())](error_code ec, std::size_t n) mutable {
          Impl* self = &hold.run();
          self->reading = false;
          self->in_end += n;
          if (n > 0) self->last_rx = std::chrono::steady_clock::now();
          if (ec && !self->failure) {
            self->failure = self->close_received ? self->closed_error() : Error::from(ec);
            if (!self->close_received) {
              self->failure.close_code = 1006;
              self->failure.close_reason = "connection lost";
            }
            self->shut();
          }
          self->pump();
        });
  }

  Error closed_error() const {
    Error e = Error::from(Errc::kClosed);
    e.close_code = peer_code;
    e.close_reason = peer_reason;
    return e;
  }

  void on_control(std::uint8_t opcode, std::span<const std::uint8_t> payload) {
    if (opcode == ws::kPing) {
      if (!close_sent)
        queue(ws::kPong, {reinterpret_cast<const char*>(payload.data()), payload.size()}, true, {});
      return;
    }
    if (opcode != ws::kClose) return;
    if (ws::check_close_payload(payload) != ws::CloseCheck::kValid) {
      protocol_error("Invalid close frame.");
      return;
    }
    close_received = true;
    peer_code =
        payload.size() >= 2 ? static_cast<std::uint16_t>(payload[0] << 8 | payload[1]) : 1005;
    peer_reason.assign(
        reinterpret_cast<const char*>(payload.data()) + std::min<std::size_t>(2, payload.size()),
        payload.size() > 2 ? payload.size() - 2 : 0);
    failure = closed_error();
    if (!close_sent && auto_close_reply) {
      send_close(peer_code == 1005 ? 1000 : peer_code, peer_reason, {});  // echoed, as ws does
    }
    if (close_sent) finish_after_flush();
  }

  void protocol_error(const char* why) {
    failure = Error::from(Errc::kProtocolError);
    failure.close_code = 1002;
    failure.close_reason = why;
    if (!close_sent) send_close(1002, why, {});
    finish_after_flush();
  }

  void queue(std::uint8_t opcode, std::string_view payload, bool fin, DoneHandler done) {
    std::string bytes;  // a frame buffer written before, when there is one: no allocation
    if (!spare.empty()) {
      bytes = std::move(spare.back());
      spare.pop_back();
    }
    bytes.assign(ws::kMaxHeaderSize, '\0');
    auto* header = reinterpret_cast<std::uint8_t*>(bytes.data());
    const std::size_t size = ws::encode_header(header, fin, opcode, payload.size());
    header[1] |= 0x80;  // client frames are masked
    std::uint8_t mask[4];
    RAND_bytes(mask, sizeof mask);
    bytes.resize(size + 4 + payload.size());
    std::memcpy(bytes.data() + size, mask, 4);
    ws::unmask_copy(reinterpret_cast<std::uint8_t*>(bytes.data()) + size + 4,
                    reinterpret_cast<const std::uint8_t*>(payload.data()), payload.size(), mask, 0);
    buffered += bytes.size();
    out.push_back({std::move(bytes), std::move(done)});
    flush();
  }

  void write(std::string_view data, bool text, DoneHandler done, bool last) {
    if (close_sent || finished) {
      Error e = failure ? failure : Error::from(Errc::kClosed);
      if (done) asio::post(io, [done = std::move(done), e] { done(e); });
      return;
    }
    const std::uint8_t opcode =
        writing_message ? ws::kContinuation : (text ? ws::kText : ws::kBinary);
    writing_message = !last;
    queue(opcode, data, last, std::move(done));
  }

  void send_close(std::uint16_t code, std::string_view reason, DoneHandler done) {
    if (close_sent || finished) {
      Error e = finished && !close_sent ? failure : Error{};
      if (done) asio::post(io, [done = std::move(done), e] { done(e); });
      return;
    }
    close_sent = true;
    const std::string frame = ws::make_close_frame(code, reason);
    // make_close_frame builds an unmasked frame; re-frame its payload masked.
    ws::FrameHeader header;
    ws::parse_header({reinterpret_cast<const std::uint8_t*>(frame.data()), frame.size()}, header);
    queue(ws::kClose, std::string_view(frame).substr(header.header_size), true, std::move(done));
    if (close_received) {
      finish_after_flush();
    } else {
      arm_close_timer();
    }
  }

  // After our Close the peer may go on sending (half-close): only kCloseTimeout of waiting for it
  // with nothing arriving ends the connection (a reader that holds back is not the peer's fault).
  void arm_close_timer() {
    close_timer.expires_after(kCloseTimeout);
    close_timer.async_wait([self = shared_from_this()](error_code ec) {
      if (ec || self->finished) return;
      if (!self->reading || std::chrono::steady_clock::now() - self->last_rx < kCloseTimeout) {
        return self->arm_close_timer();
      }
      if (!self->failure) {
        self->failure = Error::from(Errc::kTimeout);
        self->failure.close_code = 1006;
        self->failure.close_reason = "no Close from the peer";
      }
      self->shut();
    });
  }

  bool finish_pending = false;
  void finish_after_flush() {
    finish_pending = true;
    if (!writing && out.empty()) shut();
  }

  void flush() {
    if (writing || out.empty() || finished) return;
    writing = true;
    std::vector<asio::const_buffer> buffers;
    while (!out.empty() && buffers.size() < 64) {
      in_write.push_back(std::move(out.front()));
      out.pop_front();
      buffers.emplace_back(asio::buffer(in_write.back().bytes));
    }
    transport.async_write(
        buffers, [hold = Hold(shared_from_this())](error_code ec, std::size_t) mutable {
          Impl* self = &hold.run();
          self->writing = false;
          auto written = std::move(self->in_write);
          self->in_write.clear();
          Error e = ec ? Error::from(ec) : Error{};
          for (auto& item : written) {
            self->buffered -= item.bytes.size();
            if (item.done) item.done(e);
            if (self->spare.size() < kSpareFrames && item.bytes.capacity() <= kSpareFrameSize) {
              self->spare.push_back(std::move(item.bytes));
            }
          }
          if (ec) {
            if (!self->failure) self->failure = Error::from(ec);
            self->shut();
            self->pump();
            return;
          }
          if (self->out.empty() && self->finish_pending) return self->shut();
          self->flush();
        });
  }

  // Ends the connection: TCP closed, queued writes failed, a waiting reader told.
  void shut() {
    if (finished) return;
    finished = true;
    close_timer.cancel();
    transport.close();
    if (!failure) failure = close_received ? closed_error() : Error::from(Errc::kClosed);
    Error e = failure;
    for (auto& item : out) {
      buffered -= item.bytes.size();  // what is in flight is subtracted when its write ends
      if (item.done) asio::post(io, [d = std::move(item.done), e] { d(e); });
    }
    out.clear();
    if (pending_read && !delivering) {
      asio::post(io, [hold = Hold(shared_from_this())]() mutable { hold.run().pump(); });
    }
  }
};

// ---- WebSocket handle -------------------------------------------------------------------------

void WebSocket::async_read_some(ReadHandler handler) {
  impl_->read_some(std::move(handler));
}

void WebSocket::async_read(MessageHandler handler, std::size_t max_size) {
  struct Collector {
    std::shared_ptr<Impl> impl;
    MessageHandler handler;
    std::size_t max_size;
    std::string message;
    void next(const std::shared_ptr<Collector>& self) {
      impl->read_some([self](const Error& error, Chunk chunk) {
        if (error) return self->handler(error, {}, false);
        if (self->message.size() + chunk.data.size() > self->max_size) {
          Error e = Error::from(Errc::kMessageTooBig);
          self->impl->send_close(1009, "Message too big.", {});
          return self->handler(e, {}, false);
        }
        self->message.append(chunk.data);
        if (chunk.last) return self->handler({}, std::move(self->message), chunk.text);
        self->next(self);
      });
    }
  };
  auto collector = std::make_shared<Collector>(Collector{impl_, std::move(handler), max_size, {}});
  collector->next(collector);
}

void WebSocket::async_write(std::string_view data, bool text, DoneHandler handler, bool last) {
  impl_->write(data, text, std::move(handler), last);
}

void WebSocket::async_close(std::uint16_t code, std::string_view reason, DoneHandler handler) {
  impl_->send_close(code, reason, std::move(handler));
}

void WebSocket::set_auto_close_reply(bool on) {
  impl_->auto_close_reply = on;
}

void WebSocket::abort() {
  if (!impl_->failure) impl_->failure = Error::from(Errc::kStopped);
  impl_->shut();
}

bool WebSocket::is_open() const {
  return !impl_->close_sent && !impl_->close_received && !impl_->finished;
}

std::size_t WebSocket::buffered_amount() const {
  return impl_->buffered;
}
const std::string& WebSocket::subprotocol() const {
  return impl_->subprotocol;
}
const Headers& WebSocket::response_headers() const {
  return impl_->response_headers;
}
std::uint16_t WebSocket::peer_close_code() const {
  return impl_->close_received ? impl_->peer_code : 0;
}
const std::string& WebSocket::peer_close_reason() const {
  return impl_->peer_reason;
}
std::chrono::steady_clock::duration WebSocket::idle_for() const {
  return std::chrono::steady_clock::now() - impl_->last_rx;
}
void WebSocket::ping() {
  if (!impl_->close_sent && !impl_->finished) impl_->queue(ws::kPing, {}, true, {});
}
asio::io_context& WebSocket::context() const {
  return impl_->io;
}

// ---- Opening handshake -------------------------------------------------------------------------

namespace {

class Opening : public std::enable_shared_from_this<Opening> {
 public:
  Opening(asio::io_context& io, ParsedUrl url, ConnectOptions options, ConnectHandler handler)
      : impl_(std::make_shared<WebSocket::Impl>(io)),
        resolver_(io),
        timer_(io),
        url_(std::move(url)),
        options_(std::move(options)),
        handler_(std::move(handler)),
        key_(random_key()) {}

  void run() {
    if (auto ec = prepare_tls(impl_->transport, url_.tls, url_.host, options_)) {
      return fail(Error::from(ec));
    }
    timer_.expires_after(options_.timeout);
    timer_.async_wait([weak = weak_from_this()](error_code ec) {
      if (ec) return;
      if (auto self = weak.lock()) {
        self->timed_out_ = true;
        self->resolver_.cancel();
        self->impl_->transport.close();
      }
    });
    async_open(impl_->transport, resolver_, url_, [self = shared_from_this()](error_code ec) {
      if (ec) return self->fail(self->transport_error(ec));
      self->send_request();
    });
  }

 private:
  void send_request() {
    request_.method(http::verb::get);
    request_.target(url_.target);
    request_.version(11);
    request_.set(http::field::host, url_.authority);
    request_.set(http::field::upgrade, "websocket");
    request_.set(http::field::connection, "Upgrade");
    request_.set(http::field::sec_websocket_key, key_);
    request_.set(http::field::sec_websocket_version, "13");
    if (!options_.subprotocols.empty()) {
      std::string offer;
      for (const auto& p : options_.subprotocols) offer += (offer.empty() ? "" : ", ") + p;
      request_.set(http::field::sec_websocket_protocol, offer);
    }
    for (const auto& [name, value] : options_.headers) request_.insert(name, value);
    impl_->transport.visit([self = shared_from_this()](auto& stream) {
      http::async_write(stream, self->request_, [self](error_code ec, std::size_t) {
        if (ec) return self->fail(self->transport_error(ec));
        self->read_response();
      });
    });
  }

  void read_response() {
    parser_.header_limit(64 * 1024);
    parser_.body_limit(std::size_t{64} * 1024);
    impl_->transport.visit([self = shared_from_this()](auto& stream) {
      http::async_read_header(
          stream, self->buffer_, self->parser_, [self, &stream](error_code ec, std::size_t) {
            if (ec) return self->fail(self->transport_error(ec));
            if (self->parser_.get().result_int() == 101) return self->upgraded();
            // A refusal: its body, if any, is short; it ends the attempt.
            http::async_read(stream, self->buffer_, self->parser_,
                             [self](error_code, std::size_t) { self->refused(); });
          });
    });
  }

  void refused() {
    const auto& response = parser_.get();
    Error e = Error::from(Errc::kRejected);
    e.status = static_cast<int>(response.result_int());
    e.reason = std::string(response.reason());
    fail(std::move(e));
  }

  void upgraded() {
    const auto& response = parser_.get();
    for (const auto& field : response) {
      impl_->response_headers.emplace_back(std::string(field.name_string()),
                                           std::string(field.value()));
    }
    const auto accept = find_header(impl_->response_headers, "Sec-WebSocket-Accept");
    const auto protocol = find_header(impl_->response_headers, "Sec-WebSocket-Protocol");
    bool offered = protocol.empty();
    for (const auto& p : options_.subprotocols) offered = offered || p == protocol;
    if (accept != ws::accept_key(key_) || !offered ||
        !find_header(impl_->response_headers, "Sec-WebSocket-Extensions").empty()) {
      Error e = Error::from(Errc::kBadHandshake);
      e.status = 101;
      e.reason = accept != ws::accept_key(key_) ? "wrong Sec-WebSocket-Accept"
                                                : "unexpected sub-protocol or extension";
      return fail(std::move(e));
    }
    impl_->subprotocol = std::string(protocol);
    const auto leftover = buffer_.data();
    std::memcpy(impl_->in.data(), leftover.data(), leftover.size());
    impl_->in_end = leftover.size();
    impl_->last_rx = std::chrono::steady_clock::now();
    timer_.cancel();
    auto handler = std::move(handler_);
    handler({}, WebSocket(impl_));
  }

  Error transport_error(error_code ec) const {
    return Error::from(timed_out_ ? make_error_code(Errc::kTimeout) : ec);
  }

  void fail(const Error& error) {
    timer_.cancel();
    impl_->transport.close();
    if (!handler_) return;
    auto handler = std::move(handler_);
    handler(error, {});
  }

  std::shared_ptr<WebSocket::Impl> impl_;
  tcp::resolver resolver_;
  asio::steady_timer timer_;
  ParsedUrl url_;
  ConnectOptions options_;
  ConnectHandler handler_;
  std::string key_;
  bool timed_out_ = false;
  http::request<http::empty_body> request_;
  beast::flat_buffer buffer_{std::size_t{64} * 1024};
  http::response_parser<http::string_body> parser_;
};

}  // namespace

void connect_websocket(asio::io_context& io, std::string_view url, ConnectOptions options,
                       ConnectHandler handler) {
  auto parsed = parse_url(url);
  if (!parsed) {
    asio::post(io, [h = std::move(handler)] { h(Error::from(Errc::kBadUrl), {}); });
    return;
  }
  std::make_shared<Opening>(io, std::move(*parsed), std::move(options), std::move(handler))->run();
}

}  // namespace switchboard::client
