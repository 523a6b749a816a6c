#include "hybrid/listener.hpp"

#include <spdlog/spdlog.h>
#include <boost/json.hpp>

#include "hybrid/tracking.hpp"

namespace switchboard::hybrid {

Listener::Listener(asio::io_context& context, Identity identity, std::chrono::seconds token_grace)
    : context_(context),
      identity_(std::move(identity)),
      token_grace_(token_grace),
      expiry_timer_(context) {}

void Listener::start(std::shared_ptr<core::WsChannel> channel, std::int64_t expiry, RenewFn renew,
                     ResponseFn respond, GoneFn gone) {
  channel_ = std::move(channel);
  expiry_ = expiry;
  renew_ = std::move(renew);
  respond_ = std::move(respond);
  channel_->reason_suffix = tracking_suffix(identity_.host, identity_.entity_path);
  started_.store(true, std::memory_order_release);
  channel_->start([self = shared_from_this()](
                      bool text, std::string& payload) { self->on_message(text, payload); },
                  [self = shared_from_this(), gone = std::move(gone)](std::uint16_t code,
                                                                      std::string_view reason) {
                    spdlog::info("listener {} on {} closed: {} {}", self->identity_.id,
                                 self->identity_.entity_path, code, reason);
                    self->open_.store(false, std::memory_order_release);
                    self->expiry_timer_.cancel();
                    gone(*self);
                  });
  arm_expiry();
  for (const auto& frames : queued_) channel_->send_frames(frames);
  queued_.clear();
  if (queued_close_) close_with(queued_close_->first, queued_close_->second);
}

void Listener::post_message(std::string_view json) {
  post_frames(core::ws::make_data_frame(core::ws::kText, json));
}

void Listener::post_frames(std::string frames) {
  asio::post(context_, [self = shared_from_this(), frames = std::move(frames)]() mutable {
    if (self->channel_) {
      self->channel_->send_frames(frames);
    } else {
      self->queued_.push_back(std::move(frames));
    }
  });
}

void Listener::post_close(std::uint16_t code, std::string reason) {
  asio::post(context_, [self = shared_from_this(), code, reason = std::move(reason)] {
    self->close_with(code, reason);
  });
}

void Listener::close_with(std::uint16_t code, std::string_view reason) {
  if (!channel_) {
    queued_close_.emplace(code, std::string(reason));
    return;
  }
  channel_->close(code, with_tracking(reason, identity_.host, identity_.entity_path));
}

void Listener::on_message(bool text, std::string& payload) {
  if (!text) {
    if (awaiting_body_) {
      auto response = std::move(*awaiting_body_);
      awaiting_body_.reset();
      response.body = std::move(payload);
      respond_(*this, std::move(response));
    } else if (!payload.empty()) {  // empty ones follow every body:false response of hyco-https
      spdlog::info("listener {}: ignoring a binary message no response announced", identity_.id);
    }
    return;
  }
  if (awaiting_body_) {  // section 5.4: a text message where a body was due aborts that response
    auto response = std::move(*awaiting_body_);
    awaiting_body_.reset();
    response.aborted = true;
    respond_(*this, std::move(response));
  }
  boost::system::error_code ec;
  const auto value = boost::json::parse(payload, ec);
  const auto* object = value.if_object();
  if (ec || object == nullptr) {
    spdlog::info("listener {}: ignoring a control message that is not a JSON object", identity_.id);
    return;
  }
  ControlResponse response;
  switch (parse_response(*object, response.head)) {
    case ResponseParse::kOk:
      if (response.head.body) {
        awaiting_body_ = std::move(response);
      } else {
        respond_(*this, std::move(response));
      }
      return;
    case ResponseParse::kInvalid:
      response.invalid = true;
      respond_(*this, std::move(response));
      return;
    case ResponseParse::kNoRequestId:
      spdlog::info("listener {}: ignoring a response without a requestId", identity_.id);
      return;
    case ResponseParse::kNotResponse:
      break;
  }
  const auto* renew = object->if_contains("renewToken");
  if (renew == nullptr || !renew->is_object()) {
    spdlog::info("listener {}: ignoring an unknown control message", identity_.id);
    return;
  }
  const auto* token = renew->as_object().if_contains("token");
  if (token == nullptr || !token->is_string()) {
    close_with(1008, "renewToken rejected: Unauthorized: no security token was supplied.");
    return;
  }
  const auto result = renew_(std::string_view(token->as_string()));
  if (result.status() != 0) {
    close_with(1008, "renewToken rejected: " + std::string(result.reason()));
    return;
  }
  expiry_ = result.expiry;
  arm_expiry();
  spdlog::debug("listener {} renewed its token until {}", identity_.id, expiry_);
}

void Listener::arm_expiry() {
  // Clamped: a far-future se must not overflow the clock's nanoseconds.
  const auto now_s = std::chrono::duration_cast<std::chrono::seconds>(
      std::chrono::system_clock::now().time_since_epoch());
  const auto expiry =
      std::min(std::chrono::seconds(expiry_), now_s + std::chrono::hours(24 * 365 * 10));
  const auto deadline =
      std::chrono::system_clock::time_point(expiry) + token_grace_ + std::chrono::seconds(1);
  const auto wait = std::max(deadline - std::chrono::system_clock::now(),
                             std::chrono::system_clock::duration::zero());
  expiry_timer_.expires_after(std::chrono::duration_cast<std::chrono::milliseconds>(wait));
  expiry_timer_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
    if (ec) return;
    spdlog::info("listener {}: token expired", self->identity_.id);
    self->close_with(1008, "The token has expired.");
  });
}

}  // namespace switchboard::hybrid
