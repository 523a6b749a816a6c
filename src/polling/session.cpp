#include "polling/session.hpp"

#include <spdlog/spdlog.h>
#include <boost/asio/post.hpp>
#include <boost/json/object.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include "core/encoding.hpp"

namespace switchboard::polling {
namespace json = boost::json;

namespace {

constexpr std::string_view kJson = "application/json; charset=utf-8";
constexpr std::string_view kJavascript = "application/javascript; charset=utf-8";
constexpr std::string_view kHeartbeat = R"({"type":"heartbeat"})";

}  // namespace

std::string error_json(std::string_view error) {
  return json::serialize(json::object{{"ok", false}, {"error", error}});
}

std::string message_event(bool text, std::string_view data) {
  if (text) return json::serialize(json::object{{"type", "string"}, {"data", data}});
  return json::serialize(json::object{
      {"type", "binary"},
      {"data",
       core::base64_encode(reinterpret_cast<const unsigned char*>(data.data()), data.size())}});
}

std::optional<std::string> s0_event(std::string_view event_json) {
  boost::system::error_code ec;
  const auto value = json::parse(event_json, ec);
  const auto* object = ec ? nullptr : value.if_object();
  const auto* type = object ? object->if_contains("type") : nullptr;
  if (type == nullptr || !type->is_string()) return std::nullopt;
  const auto& t = type->as_string();
  if (t == "string" || t == "binary") {
    json::object out{{"event", "message"}, {"data", object->at("data")}};
    if (t == "binary") out["binary"] = true;
    return json::serialize(out);
  }
  if (t == "heartbeat") return R"({"event":"heartbeat"})";
  if (t == "close") return R"({"event":"close"})";
  return std::nullopt;
}

std::string close_event(std::uint16_t code, std::string_view reason) {
  return json::serialize(json::object{{"type", "close"}, {"code", code}, {"reason", reason}});
}

std::string jsonp_body(std::string_view callback, std::string_view json_text) {
  std::string out(callback);
  out += '(';
  for (std::size_t i = 0; i < json_text.size(); ++i) {
    // U+2028 and U+2029 are E2 80 A8 and E2 80 A9; in JSON they can only sit inside strings.
    if (json_text.compare(i, 2, "\xE2\x80") == 0 && i + 2 < json_text.size() &&
        (json_text[i + 2] == '\xA8' || json_text[i + 2] == '\xA9')) {
      out += json_text[i + 2] == '\xA8' ? "\\u2028" : "\\u2029";
      i += 2;
      continue;
    }
    out += json_text[i];
  }
  out += ");";
  return out;
}

Session::Session(core::asio::io_context& context, const Settings& settings, std::string id,
                 std::string relay, Reply reply, std::function<void(const std::string&)> destroyed)
    : context_(context),
      settings_(settings),
      id_(std::move(id)),
      relay_(std::move(relay)),
      reply_(std::move(reply)),
      destroyed_(std::move(destroyed)),
      poll_timer_(context),
      expiry_(context) {}

void Session::open(const std::shared_ptr<core::Handshake>& create, const TargetMaker& make,
                   bool s0) {
  create_ = create;
  s0_create_ = s0;
  std::weak_ptr<Session> weak = weak_from_this();
  TargetSocket::Handlers handlers{
      [weak](const std::string& failure) {
        if (auto self = weak.lock()) self->on_opened(failure);
      },
      [weak](bool text, const std::string& data) {
        if (auto self = weak.lock()) self->on_message(text, data);
      },
      [weak](std::uint16_t code, const std::string& reason, bool abnormal) {
        if (auto self = weak.lock()) self->on_closed(code, reason, abnormal);
      }};
  target_ = make(std::move(handlers));
  if (target_) {
    target_->on_drained = [weak] {
      if (auto self = weak.lock()) self->process_sends();
    };
  }
}

void Session::on_opened(const std::string& failure) {
  auto create = std::move(create_);
  create_.reset();
  if (!failure.empty()) {
    spdlog::debug("polling: target of a new socket failed: {}", failure);
    if (create && s0_create_) {
      reply_(create, 400, json::serialize(json::object{{"error", failure}}), kJson);
    } else if (create) {
      reply_(create, 200,
             json::serialize(json::object{
                 {"ok", false}, {"error", failure}, {"socket", ""}, {"relay", relay_}}),
             kJson);
    }
    destroy();
    return;
  }
  state_ = State::kOpen;
  if (create) {
    json::object answer{{"ok", true}, {"socket", id_}, {"relay", relay_}};
    if (s0_create_) answer["socket_id"] = id_;
    reply_(create, 200, json::serialize(answer), kJson);
  }
  arm_expiry();
}

void Session::on_message(bool text, const std::string& data) {
  queue_event(message_event(text, data));
  // R4: above the buffer bound the target is not read until the client takes events.
  if (event_bytes_ >= settings_.buffer && target_) target_->pause();
}

void Session::on_closed(std::uint16_t code, const std::string& reason, bool abnormal) {
  if (close_queued_) return;
  if (abnormal) queue_event(R"({"type":"error"})");
  state_ = State::kClosed;
  close_queued_ = true;
  queue_event(close_event(code, reason));
  // Sends waiting for the target will never be taken.
  for (auto& pending : sends_) reply_(pending.handshake, 403, error_json("socket closed"), kJson);
  sends_.clear();
}

void Session::queue_event(std::string json_text) {
  event_bytes_ += json_text.size();
  events_.push_back(std::move(json_text));
  if (receiver_ && receiver_->stream) return feed_stream();
  if (receiver_) answer_receiver(true);
}

void Session::feed_stream() {
  constexpr std::size_t kStreamBacklog = std::size_t{64} * 1024;
  if (!receiver_ || !receiver_->stream) return;
  auto& stream = *receiver_->stream;
  while (!events_.empty() && stream.pending() < kStreamBacklog) {
    const bool last = close_queued_ && events_.size() == 1;
    stream.write_event(events_.front());
    event_bytes_ -= events_.front().size();
    events_.pop_front();
    if (last) {
      end_stream();
      return destroy();  // R6
    }
    // XHR keeps the whole response text: a new stream after the cap (section 7.5).
    if (receiver_->kind == ReceiveKind::kXhr && stream.event_bytes() >= settings_.stream_cap) {
      end_stream();
      break;
    }
  }
  if (target_ && event_bytes_ < settings_.buffer / 2) target_->resume();
}

void Session::end_stream() {
  if (!receiver_ || !receiver_->stream) return;
  receiver_->stream->end();
  receiver_.reset();
  arm_expiry();
}

// Answers the pending receive call: with buffered events (up to the batch size, at least one),
// or, without, an empty list (superseded) or a heartbeat (timed out).
void Session::answer_receiver(bool with_events) {
  if (!receiver_) return;
  if (receiver_->stream) return end_stream();
  Receiver receiver = std::move(*receiver_);
  receiver_.reset();
  poll_timer_.cancel();
  const bool s0 = receiver.kind == ReceiveKind::kS0Poll;
  std::string body = s0 ? R"({"events":[)" : R"({"ok":true,"events":[)";
  bool delivered_close = false;
  if (with_events && !events_.empty()) {
    std::size_t bytes = 0;
    bool first = true;
    while (!events_.empty() && (bytes == 0 || bytes + events_.front().size() <= settings_.batch)) {
      bytes += events_.front().size();
      if (const auto converted = s0 ? s0_event(events_.front()) : std::optional<std::string>()) {
        if (!first) body += ',';
        body += *converted;
        first = false;
      } else if (!s0) {
        if (!first) body += ',';
        body += events_.front();
        first = false;
      }
      delivered_close = close_queued_ && events_.size() == 1;
      event_bytes_ -= events_.front().size();
      events_.pop_front();
    }
  } else if (with_events) {
    body += s0 ? std::string_view(R"({"event":"heartbeat"})") : kHeartbeat;
  }
  body += "]}";
  if (receiver.kind == ReceiveKind::kJsonp) {
    reply_(receiver.handshake, 200, jsonp_body(receiver.callback, body), kJavascript);
  } else {
    reply_(receiver.handshake, 200, std::move(body), kJson);
  }
  if (target_ && event_bytes_ < settings_.buffer / 2) target_->resume();
  // R6: once the close event is out, the socket is gone.
  if (delivered_close) return destroy();
  arm_expiry();
}

void Session::receive(const std::shared_ptr<core::Handshake>& request, ReceiveKind kind,
                      core::Duration timeout, std::string callback,
                      std::vector<core::Header> stream_headers) {
  if (gone_) {
    if (kind == ReceiveKind::kS0Poll) {
      reply_(request, 400, R"({"error":"unknown socket"})", kJson);
    } else {
      reply_(request, 403, error_json("unknown socket"), kJson);
    }
    return;
  }
  // R1: a new receive call supersedes the pending one, which gets no events.
  answer_receiver(false);
  expiry_.cancel();
  request->ticket.release();  // a parked poll is not a handshake in progress
  receiver_ = Receiver{request, kind, std::move(callback), nullptr};
  if (kind == ReceiveKind::kXhr || kind == ReceiveKind::kSse) {
    auto stream = std::make_shared<EventStream>(
        request,
        kind == ReceiveKind::kXhr ? EventStream::Format::kNdjson : EventStream::Format::kSse,
        std::move(stream_headers), settings_.heartbeat);
    std::weak_ptr<Session> weak = weak_from_this();
    stream->on_progress = [weak] {
      if (auto self = weak.lock()) self->feed_stream();
    };
    stream->on_lost = [weak, raw = stream.get()] {
      auto self = weak.lock();
      if (!self || !self->receiver_ || self->receiver_->stream.get() != raw) return;
      self->receiver_.reset();
      self->arm_expiry();
    };
    receiver_->stream = stream;
    stream->start();
    return feed_stream();
  }
  if (!events_.empty()) return answer_receiver(true);
  if (timeout <= core::Duration::zero()) return answer_receiver(true);
  poll_timer_.expires_after(timeout);
  poll_timer_.async_wait([weak = weak_from_this()](boost::system::error_code ec) {
    if (auto self = weak.lock(); self && !ec) self->answer_receiver(true);
  });
}

void Session::send(const std::shared_ptr<core::Handshake>& request,
                   std::vector<OutgoingEvent> events, bool s0) {
  if (gone_ || state_ != State::kOpen) {
    const std::string_view error = gone_ ? "unknown socket" : "socket closed";
    if (s0) {
      reply_(request, 400, json::serialize(json::object{{"error", error}}), kJson);
    } else {
      reply_(request, 403, error_json(error), kJson);
    }
    return;
  }
  sends_.push_back({request, std::move(events), s0});
  if (sends_.size() == 1) process_sends();
}

// Sends go out strictly one after another; each one's 201 waits until the target's queue is
// below its high-water mark (the client's flow control).
void Session::process_sends() {
  while (!sends_.empty() && target_) {
    PendingSend& front = sends_.front();
    for (auto& event : front.events) target_->send(event.text, std::move(event.data));
    front.events.clear();
    if (target_->queued() >= settings_.target_high_water) return;
    if (front.s0) {
      reply_(front.handshake, 201, "Created", "text/plain; charset=utf-8");
    } else {
      reply_(front.handshake, 201, {}, {});
    }
    sends_.pop_front();
  }
}

void Session::close(const std::shared_ptr<core::Handshake>& request, std::uint16_t code,
                    std::string reason) {
  if (gone_) {
    reply_(request, 403, error_json("unknown socket"), kJson);
    return;
  }
  reply_(request, 204, {}, {});
  if (state_ != State::kOpen) return;
  state_ = State::kClosing;
  if (target_) target_->close(code, std::move(reason));
}

void Session::shut_down() {
  if (gone_) return;
  if (!close_queued_) {
    close_queued_ = true;
    state_ = State::kClosed;
    queue_event(close_event(1001, "going away"));
  }
  if (target_) target_->close(1001, "going away");
}

void Session::arm_expiry() {
  if (gone_ || receiver_) return;
  expiry_.expires_after(settings_.expiry);
  expiry_.async_wait([weak = weak_from_this()](boost::system::error_code ec) {
    auto self = weak.lock();
    if (ec || !self || self->receiver_) return;
    spdlog::debug("polling: socket expired without a receive call");
    self->destroy();
  });
}

void Session::destroy() {
  if (gone_) return;
  gone_ = true;
  poll_timer_.cancel();
  expiry_.cancel();
  if (target_) {
    target_->on_drained = nullptr;
    if (!close_queued_) target_->close(1001, "going away");
  }
  for (auto& pending : sends_) reply_(pending.handshake, 403, error_json("unknown socket"), kJson);
  sends_.clear();
  if (receiver_) answer_receiver(false);
  if (destroyed_) destroyed_(id_);
}

}  // namespace switchboard::polling
