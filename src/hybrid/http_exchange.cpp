#include "hybrid/http_exchange.hpp"

#include <sys/socket.h>

#include <cerrno>

#include <spdlog/spdlog.h>
#include <boost/json.hpp>
#include <boost/url/encode.hpp>
#include <boost/url/rfc/unreserved_chars.hpp>

#include "core/handshake.hpp"
#include "core/random_id.hpp"
#include "hybrid/tracking.hpp"

namespace switchboard::hybrid {
namespace json = boost::json;

namespace {

constexpr std::size_t kPiece = std::size_t{64} * 1024;
constexpr std::string_view kNoListeners = "There are no listeners connected for the endpoint.";

std::uint8_t* read_buffer() {
  static thread_local std::vector<std::uint8_t> buffer(kPiece);
  return buffer.data();
}

std::uint8_t* body_buffer() {
  static thread_local std::vector<std::uint8_t> buffer(kPiece);
  return buffer.data();
}

// An unmasked data frame of one binary message sent in pieces.
std::string body_frame(std::string_view bytes, bool first, bool last) {
  std::string frame(core::ws::kMaxHeaderSize, '\0');
  const auto size =
      core::ws::encode_header(reinterpret_cast<std::uint8_t*>(frame.data()), last,
                              first ? core::ws::kBinary : core::ws::kContinuation, bytes.size());
  frame.resize(size);
  frame += bytes;
  return frame;
}

}  // namespace

HttpExchange::HttpExchange(const Settings& settings, Registry& registry,
                           std::shared_ptr<core::Handshake> handshake, HttpRoute route)
    : settings_(settings),
      registry_(registry),
      handshake_(std::move(handshake)),
      limits_(handshake_->services.limits),
      route_(std::move(route)),
      decoder_(*handshake_),
      timer_(handshake_->context),
      window_timer_(handshake_->context) {}

// An exchange ends through finish(); one destroyed without it is abandoned at shutdown, when the
// registry may already be gone.
HttpExchange::~HttpExchange() = default;

void HttpExchange::start() {
  handshake_->ticket.release();  // admitted: no longer a pending handshake of its source
  boost::system::error_code ignored;
  handshake_->socket.non_blocking(true, ignored);
  keep_alive_ = decoder_.keep_alive() && handshake_->request.version >= 11;
  if (!decoder_.has_body()) {
    dispatch(true);
    return;
  }
  const auto length = decoder_.content_length();
  if (length && *length > kMaxInlineBody) {
    dispatch(false);  // read once the listener's rendezvous is there to take it
    return;
  }
  send_continue();
  arm_timer(settings_.body_idle_timeout);  // a sender that stops sending its body
  if (decoder_.chunked()) {
    window_timer_.expires_after(settings_.inline_read_window);
    window_timer_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
      if (ec || self->stage_ != Stage::kReadingInline) return;
      self->dispatch(false);
    });
  }
  on_sender_readable();
}

void HttpExchange::send_continue() {
  if (continue_sent_ || handshake_->request.version < 11) return;
  const auto expect = handshake_->request.find("Expect");
  if (!expect || !core::iequals(core::trim(*expect), "100-continue")) return;
  continue_sent_ = true;
  write_to_sender(core::continue_response());
}

void HttpExchange::on_sender_readable() {
  sender_read_armed_ = false;
  while (stage_ != Stage::kDone && !sender_gone_) {
    if (stage_ == Stage::kReadingInline) {
      if (pull_inline()) return;
    } else if (streaming_request_) {
      if (!pump_request()) return;
    } else {
      return;
    }
    std::size_t n = 0;
    std::string none;
    switch (core::read_available(handshake_->socket, none, read_buffer(), kPiece, n)) {
      case core::ReadOutcome::kWouldBlock:
        arm_sender(core::Socket::wait_read);
        return;
      case core::ReadOutcome::kClosed:
        abort("the sender closed its connection before the request body ended");
        return;
      case core::ReadOutcome::kData:
        decoder_.push(read_buffer(), n);
        // The listener cannot answer before the body ends: deadlines count from the last byte.
        arm_timer(stage_ == Stage::kReadingInline ? settings_.body_idle_timeout
                                                  : settings_.response_timeout);
        break;
    }
  }
}

// Returns true once the body is settled (dispatched one way or the other, or failed).
bool HttpExchange::pull_inline() {
  while (true) {
    if (decoder_.failed()) {
      fail(400, "Bad Request: malformed request body.", false);
      return true;
    }
    if (decoder_.done()) {
      window_timer_.cancel();
      dispatch(true);
      return true;
    }
    const std::size_t at = body_.size();
    const std::size_t room = kMaxInlineBody + 1 - at;
    body_.resize(at + room);
    const std::size_t n = decoder_.pull(reinterpret_cast<std::uint8_t*>(body_.data()) + at, room);
    body_.resize(at + n);
    if (decoder_.failed()) continue;
    if (body_.size() > kMaxInlineBody) {
      window_timer_.cancel();
      dispatch(false);
      return true;
    }
    if (n == 0 && !decoder_.done()) return false;
  }
}

// Moves decoded body bytes to the rendezvous; false when reading must stop for now.
bool HttpExchange::pump_request() {
  while (true) {
    if (decoder_.failed()) {
      abort("malformed request body");
      return false;
    }
    if (!rendezvous_ || !rendezvous_->open()) return false;
    if (rendezvous_->backlog() >= limits_.relay_buffer_high_water) return false;  // on_drained
    const std::size_t n = decoder_.pull(body_buffer(), kPiece);
    if (n > 0) {
      send_body_piece({reinterpret_cast<const char*>(body_buffer()), n}, false);
      continue;
    }
    if (decoder_.done()) {
      send_body_piece({}, true);
      streaming_request_ = false;
      watch_sender();
      return false;
    }
    return true;  // more input needed
  }
}

void HttpExchange::send_body_piece(std::string_view bytes, bool last) {
  rendezvous_->send_frames(body_frame(bytes, !first_piece_sent_, last));
  first_piece_sent_ = true;
}

void HttpExchange::dispatch(bool inline_form) {
  stage_ = inline_form ? Stage::kAwaitingResponse : Stage::kAwaitingRendezvous;
  for (int attempt = 0; attempt < 3; ++attempt) {
    const auto pick = registry_.pick_listener(route_.entity.key, route_.filter);
    switch (pick.outcome) {
      case Registry::Pick::kNoListeners:
        fail(502, kNoListeners, true);
        return;
      case Registry::Pick::kNoneEligible:
        fail(404,
             "None of the connected listeners meet the AllowedListeners/DisallowedListeners "
             "criteria",
             true);
        return;
      case Registry::Pick::kAllBacklogged:
        fail(503,
             "Service Unavailable: the listeners of this endpoint are not reading their control "
             "channels.",
             true);
        return;
      case Registry::Pick::kPicked:
        break;
    }
    const auto& listener = pick.listener;
    id_ = core::make_rendezvous_id(route_.base_id);
    const std::string address =
        listener->identity().base_url + "/$hc/" + route_.raw_path +
        "?sb-hc-action=request&sb-hc-id=" + boost::urls::encode(id_, boost::urls::unreserved_chars);
    const auto& remote = handshake_->remote;
    const bool has_body = !body_.empty() || !decoder_.done();
    json::object request{
        {"address", address},
        {"id", id_},
        {"requestTarget", route_.request_target},
        {"method", handshake_->request.method},
        {"remoteEndpoint", json::object{{"address", remote.address}, {"port", remote.port}}},
        {"requestHeaders", route_.request_headers},
        {"body", has_body}};
    std::string message = json::serialize(json::object{{"request", request}});
    if (inline_form && message.size() > kMaxInlineRequest) {
      inline_form = false;  // too much metadata for the control channel: send it over E4
      stage_ = Stage::kAwaitingRendezvous;
    }
    std::string frames;
    if (inline_form) {
      frames = core::ws::make_data_frame(core::ws::kText, message);
      if (has_body) frames += core::ws::make_data_frame(core::ws::kBinary, body_);
    } else {
      if (message.size() > kMaxControlMessage) {
        fail(431, "Request Header Fields Too Large: the request message would exceed 64 KiB.",
             true);
        return;
      }
      request_message_ = std::move(message);
      frames = core::ws::make_data_frame(
          core::ws::kText, json::serialize(json::object{
                               {"request", json::object{{"address", address}, {"id", id_}}}}));
    }
    if (!registry_.add_request(id_, {weak_from_this(), &handshake_->context, listener.get()}))
      continue;  // the listener closed between the pick and now: pick again
    listener->post_frames(std::move(frames));
    spdlog::debug("request {} {} sent to listener {} ({})", id_, handshake_->request.method,
                  listener->id(), inline_form ? "inline" : "rendezvous");
    if (inline_form) std::string().swap(body_);
    arm_timer(settings_.response_timeout);
    if (inline_form) watch_sender();
    return;
  }
  fail(502, kNoListeners, true);
}

void HttpExchange::on_control_response(const Listener::ControlResponse& response) {
  if (stage_ == Stage::kDone || head_sent_ || pending_head_) return;
  if (response.aborted) {
    abort("the listener sent a text message where the response body was due");
    return;
  }
  if (response.invalid) {
    fail(502, "Invalid response from the listener.", true);
    return;
  }
  const bool bodiless = bodiless_response(handshake_->request.method, response.head.status);
  begin_response(response.head,
                 bodiless ? std::nullopt : std::optional<std::uint64_t>(response.body.size()));
  if (!bodiless) write_body(response.body);
  end_response();
}

void HttpExchange::on_listener_lost() {
  if (stage_ == Stage::kDone || head_sent_ || pending_head_) return;
  fail(502, "The listener disconnected before responding.", true);
}

void HttpExchange::on_rendezvous(core::DetachedSocket detached, std::string leftover) {
  auto& context = handshake_->context;
  auto socket = core::attach(context, detached);
  if (stage_ == Stage::kDone || rendezvous_) {
    drain_rendezvous(context, limits_, settings_.body_idle_timeout, std::move(socket),
                     std::move(leftover));
    return;
  }
  rendezvous_ = std::make_shared<core::WsChannel>(context, limits_, std::move(socket),
                                                  std::move(leftover), limits_.control_max_message);
  rendezvous_->reason_suffix = tracking_suffix(route_.host, route_.entity.path);
  const std::weak_ptr<HttpExchange> weak = weak_from_this();
  rendezvous_->stream_binary([weak](std::span<const std::uint8_t> bytes, bool last) {
    if (auto self = weak.lock()) self->on_rendezvous_fragment(bytes, last);
  });
  rendezvous_->on_drained = [weak] {
    auto self = weak.lock();
    if (self && self->streaming_request_ && !self->sender_read_armed_) self->on_sender_readable();
  };
  rendezvous_->start(
      [weak](bool text, std::string& payload) {
        auto self = weak.lock();
        if (self && text) self->on_rendezvous_text(payload);
      },
      [weak](std::uint16_t, std::string_view) {
        if (auto self = weak.lock()) self->on_rendezvous_end();
      });
  if (stage_ == Stage::kAwaitingRendezvous) send_request_over_rendezvous();
}

void HttpExchange::send_request_over_rendezvous() {
  stage_ = Stage::kAwaitingResponse;
  rendezvous_->send_frames(core::ws::make_data_frame(core::ws::kText, request_message_));
  std::string().swap(request_message_);
  if (body_.empty() && decoder_.done()) return;  // no body message
  send_continue();
  if (!body_.empty()) {
    const bool last = decoder_.done();
    send_body_piece(body_, last);
    std::string().swap(body_);
    if (last) return;
  }
  streaming_request_ = true;
  on_sender_readable();
}

void HttpExchange::on_rendezvous_text(const std::string& text) {
  if (stage_ == Stage::kDone) return;
  if (response_body_expected_) {
    abort("the listener sent a text message where the response body was due");
    return;
  }
  if (head_sent_) return;
  boost::system::error_code ec;
  const auto value = json::parse(text, ec);
  if (ec || !value.is_object()) {
    spdlog::info("request {}: ignoring a rendezvous message that is not a JSON object", id_);
    return;
  }
  ResponseHead head;
  const auto parsed = parse_response(value.as_object(), head);
  if (parsed == ResponseParse::kNotResponse || parsed == ResponseParse::kNoRequestId ||
      head.request_id != id_) {
    spdlog::info("request {}: ignoring a rendezvous message that is not its response", id_);
    return;
  }
  if (!registry_.claim_response(id_, nullptr)) return;  // answered on the control channel
  if (parsed == ResponseParse::kInvalid) {
    fail(502, "Invalid response from the listener.", true);
    return;
  }
  if (!head.body) {
    begin_response(head, std::uint64_t{0});
    end_response();
    return;
  }
  response_body_expected_ = true;
  discard_body_ = bodiless_response(handshake_->request.method, head.status);
  pending_head_ = std::move(head);
  stage_ = Stage::kStreamingResponse;
  arm_timer(settings_.body_idle_timeout);
}

void HttpExchange::on_rendezvous_fragment(std::span<const std::uint8_t> bytes, bool last) {
  if (!response_body_expected_) {
    if (!bytes.empty()) spdlog::info("request {}: ignoring body bytes no response announced", id_);
    return;
  }
  arm_timer(settings_.body_idle_timeout);
  if (pending_head_) {
    // The whole body in its first piece: its length is known.
    const bool known = last && !discard_body_;
    begin_response(*pending_head_,
                   known ? std::optional<std::uint64_t>(bytes.size()) : std::nullopt);
    pending_head_.reset();
  }
  if (!discard_body_) write_body({reinterpret_cast<const char*>(bytes.data()), bytes.size()});
  if (last) {
    response_body_expected_ = false;
    end_response();
    return;
  }
  if (outbox_.pending() >= limits_.relay_buffer_high_water) rendezvous_->pause_reading();
}

void HttpExchange::on_rendezvous_end() {
  if (stage_ == Stage::kDone || response_done_) return;
  if (head_sent_ || pending_head_) {
    abort("the listener closed the rendezvous in the middle of the response");
    return;
  }
  fail(502, "The listener closed the rendezvous before responding.", true);
}

void HttpExchange::begin_response(const ResponseHead& head, std::optional<std::uint64_t> length) {
  if (bodiless_response(handshake_->request.method, head.status)) {
    framing_ = Framing::kNone;
  } else if (length) {
    framing_ = Framing::kLength;
  } else if (handshake_->request.version >= 11) {
    framing_ = Framing::kChunked;
  } else {
    framing_ = Framing::kUntilClose;
    keep_alive_ = false;
  }
  auto headers = sender_response_headers(head.headers, route_.host);
  if (framing_ == Framing::kLength) headers.push_back({"Content-Length", std::to_string(*length)});
  if (framing_ == Framing::kChunked) headers.push_back({"Transfer-Encoding", "chunked"});
  // The request body must have been read to its end before the connection can carry another.
  if (!decoder_.done()) keep_alive_ = false;
  if (!keep_alive_) headers.push_back({"Connection", "close"});
  head_sent_ = true;
  write_to_sender(core::render_response_head(head.status, head.description, headers));
}

void HttpExchange::write_body(std::string_view bytes) {
  switch (framing_) {
    case Framing::kNone:
      return;
    case Framing::kChunked: {
      if (bytes.empty()) return;
      std::string chunk;
      chunk.reserve(bytes.size() + 16);
      core::append_chunk(chunk, bytes);
      write_to_sender(chunk);
      return;
    }
    case Framing::kLength:
    case Framing::kUntilClose:
      if (!bytes.empty()) write_to_sender(bytes);
      return;
  }
}

void HttpExchange::end_response() {
  if (framing_ == Framing::kChunked) write_to_sender(core::last_chunk());
  response_done_ = true;
  // Section 5.4: a rendezvous carries one response and is closed with 1000 after it.
  if (rendezvous_) rendezvous_->close(1000, "");
  finish(false);
  release_connection();
}

void HttpExchange::fail(int status, std::string_view reason, bool tracked, const std::string& body,
                        std::string_view content_type) {
  if (head_sent_) {
    abort(reason);
    return;
  }
  spdlog::info("request {} {} from {}:{}: {} {}", handshake_->request.method,
               handshake_->request.target, handshake_->remote.address, handshake_->remote.port,
               status, reason);
  const std::string text =
      tracked ? with_tracking(reason, route_.host, route_.entity.path) : std::string(reason);
  head_sent_ = true;
  keep_alive_ = false;
  write_to_sender(
      core::render_response(status, text, {{"Connection", "close"}}, body, content_type));
  finish(true);  // first: closing the rendezvous calls on_rendezvous_end
  if (rendezvous_) rendezvous_->close(1000, "");
  release_connection();
}

void HttpExchange::abort(std::string_view why) {
  if (released_ && stage_ == Stage::kDone) return;
  spdlog::info("request {} {} from {}:{} aborted: {}", handshake_->request.method,
               handshake_->request.target, handshake_->remote.address, handshake_->remote.port,
               why);
  sender_gone_ = true;
  released_ = true;
  boost::system::error_code ignored;
  handshake_->socket.close(ignored);  // no terminating chunk: the sender sees the cut
  outbox_.clear();
  if (rendezvous_) rendezvous_->abort(1001, "The HTTP exchange was aborted.");
  finish(!response_done_);
}

void HttpExchange::finish(bool tombstone) {
  if (stage_ == Stage::kDone) return;
  stage_ = Stage::kDone;
  streaming_request_ = false;
  timer_.cancel();
  window_timer_.cancel();
  if (!id_.empty()) registry_.finish_request(id_, tombstone);
}

// Once everything for the sender is written: the connection reads its next request, or closes.
void HttpExchange::release_connection() {
  if (released_ || !outbox_.empty()) return;  // on_sender_writable comes back here
  released_ = true;
  boost::system::error_code ignored;
  handshake_->socket.cancel(ignored);
  if (!keep_alive_ || sender_gone_ || !decoder_.done() || handshake_->services.stopping) {
    core::send_and_close(handshake_, {});
    return;
  }
  auto next = std::make_shared<core::Handshake>(handshake_->services, handshake_->context,
                                                std::move(handshake_->socket), handshake_->remote,
                                                core::SourceTicket{});
  next->secure = handshake_->secure;
  next->leftover = decoder_.take_rest();
  next->idle_wait = true;
  core::read_request_head(std::move(next), handshake_->services.route);
}

// While the listener works, notices a sender that hangs up (its request is then abandoned).
void HttpExchange::watch_sender() {
  if (sender_read_armed_ || stage_ == Stage::kDone) return;
  sender_read_armed_ = true;
  handshake_->socket.async_wait(
      core::Socket::wait_read, [self = shared_from_this()](boost::system::error_code ec) {
        self->sender_read_armed_ = false;
        if (ec == asio::error::operation_aborted || self->released_) return;
        if (self->stage_ == Stage::kDone) return;
        char probe;
        const auto n =
            ::recv(self->handshake_->socket.native_handle(), &probe, 1, MSG_PEEK | MSG_DONTWAIT);
        if (!ec && n > 0) return;  // a pipelined next request: left for later
        if (!ec && n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
          self->watch_sender();  // a stale readiness: nothing there after all
          return;
        }
        self->abort("the sender disconnected while waiting for the response");
      });
}

void HttpExchange::write_to_sender(std::string_view bytes) {
  if (released_ && sender_gone_) return;
  on_write_result(outbox_.write(handshake_->socket,
                                reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()));
}

// Waits for writability while bytes are kept; false once the sender's connection has failed.
bool HttpExchange::on_write_result(core::Outbox::Result result) {
  switch (result) {
    case core::Outbox::Result::kDone:
      return true;
    case core::Outbox::Result::kPending:
      arm_sender(core::Socket::wait_write);
      return true;
    case core::Outbox::Result::kFailed:
      abort("the sender's connection failed");
      return false;
  }
  return false;
}

void HttpExchange::arm_sender(core::Socket::wait_type wait) {
  const bool reading = wait == core::Socket::wait_read;
  bool& armed = reading ? sender_read_armed_ : sender_write_armed_;
  if (armed) return;
  armed = true;
  handshake_->socket.async_wait(
      wait, [self = shared_from_this(), reading](boost::system::error_code ec) {
        (reading ? self->sender_read_armed_ : self->sender_write_armed_) = false;
        if (ec || self->released_) return;
        if (reading) {
          self->on_sender_readable();
        } else {
          self->on_sender_writable();
        }
      });
}

void HttpExchange::on_sender_writable() {
  if (!on_write_result(outbox_.flush(handshake_->socket))) return;
  if (stage_ == Stage::kStreamingResponse) arm_timer(settings_.body_idle_timeout);
  if (rendezvous_ && outbox_.pending() < limits_.relay_buffer_high_water / 2)
    rendezvous_->resume_reading();
  if (stage_ == Stage::kDone) release_connection();
}

void HttpExchange::arm_timer(core::Duration after) {
  timer_.expires_after(after);
  timer_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
    if (!ec) self->on_timer();
  });
}

void HttpExchange::on_timer() {
  if (stage_ == Stage::kDone) return;
  if (stage_ == Stage::kReadingInline) {
    fail(408, "Request Timeout: the request body stalled.", false);
    return;
  }
  if (head_sent_ || pending_head_) {
    abort("the response body stalled for body_idle_timeout");
    return;
  }
  const std::string body =
      R"({"error":{"code":"GatewayTimeout","message":"The request was routed to the listener but )"
      R"(the listener did not respond in the required time. )" +
      tracking_stamp() + R"("}})";
  fail(504, "Gateway Timeout", false, body, "application/json");
}

namespace {

// Discards a late rendezvous's response, then closes it.
struct Drain {
  std::shared_ptr<core::WsChannel> channel;
  asio::steady_timer timer;
  core::Duration idle;
  bool body_due = false;

  void arm(const std::shared_ptr<Drain>& self) {
    timer.expires_after(idle);
    timer.async_wait([self](boost::system::error_code ec) {
      if (!ec) self->channel->close(1000, "");
    });
  }
};

}  // namespace

void drain_rendezvous(asio::io_context& context, const core::Limits& limits,
                      core::Duration idle_timeout, core::Socket socket, std::string leftover) {
  auto channel = std::make_shared<core::WsChannel>(context, limits, std::move(socket),
                                                   std::move(leftover), limits.control_max_message);
  auto drain = std::make_shared<Drain>(Drain{channel, asio::steady_timer(context), idle_timeout});
  drain->arm(drain);
  channel->stream_binary([drain](std::span<const std::uint8_t>, bool last) {
    drain->arm(drain);
    if (last && drain->body_due) drain->channel->close(1000, "");
  });
  channel->start(
      [drain](bool text, std::string& payload) {
        if (!text) return;
        boost::system::error_code ec;
        const auto value = json::parse(payload, ec);
        ResponseHead head;
        if (ec || !value.is_object() ||
            parse_response(value.as_object(), head) != ResponseParse::kOk) {
          return;
        }
        if (head.body) {
          drain->body_due = true;
        } else {
          drain->channel->close(1000, "");
        }
      },
      [drain](std::uint16_t, std::string_view) { drain->timer.cancel(); });
}

}  // namespace switchboard::hybrid
