#include "bridge/frontend.hpp"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <set>

#include <spdlog/spdlog.h>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/json/object.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include "bridge/instant.hpp"
#include "bridge/webhook.hpp"
#include "core/encoding.hpp"
#include "core/random_id.hpp"
#include "core/text.hpp"
#include "core/ws_channel.hpp"

namespace switchboard::bridge {
namespace asio = boost::asio;
using core::CloseNotice;
using core::Handshake;

namespace {

constexpr std::string_view kPrefix = "/bridge";
constexpr std::size_t kMaxCloseReason = 123;
const CloseNotice kGoingAway{1001, "going away"};
const CloseNotice kException{1011, "exception"};
const CloseNotice kAnswered{1000, "ok"};  // the requester's own Close was already answered

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// At most `max` bytes of UTF-8, cut at a character boundary.
std::string utf8_prefix(std::string_view text, std::size_t max) {
  if (text.size() <= max) return std::string(text);
  std::size_t end = max;
  while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) --end;
  return std::string(text.substr(0, end));
}

bool has_control_characters(std::string_view text) {
  return std::any_of(text.begin(), text.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return u < 0x20 || u == 0x7F;
  });
}

std::string bridge_message(std::string_view accept_url,
                           const std::optional<std::string>& request_data) {
  boost::json::object inner;
  inner["acceptUrl"] = accept_url;
  if (request_data) {
    inner["requestData"] = *request_data;
  } else {
    inner["requestData"] = nullptr;
  }
  boost::json::object message;
  message["bridge"] = std::move(inner);
  return boost::json::serialize(message);
}

std::string cancel_message(std::string_view token, std::string_view reason) {
  boost::json::object inner;
  inner["bridgeToken"] = token;
  inner["reason"] = reason;
  boost::json::object message;
  message["cancel"] = std::move(inner);
  return boost::json::serialize(message);
}

CloseNotice declined(std::string_view reason) {
  return {4403, reason.empty() ? std::string("declined")
                               : utf8_prefix("declined: " + std::string(reason), kMaxCloseReason)};
}

// Section 2: every endpoint but getSignedUrl takes WebSocket upgrades only.
bool refuse_unless_upgrade(const std::shared_ptr<Handshake>& handshake) {
  const auto& head = handshake->request;
  if (!head.is_websocket_upgrade()) {
    core::refuse(handshake, {426,
                             "Upgrade Required: this endpoint takes WebSocket upgrades only.",
                             {{"Upgrade", "websocket"}}});
    return true;
  }
  if (auto check = core::check_websocket_upgrade(head); check.status != 0) {
    core::refuse(handshake, {check.status, std::move(check.reason), std::move(check.headers)});
    return true;
  }
  return false;
}

}  // namespace

bool owns_path(std::string_view path) {
  return core::iequals(path, kPrefix) ||
         (path.size() > kPrefix.size() && core::istarts_with(path, kPrefix) &&
          path[kPrefix.size()] == '/');
}

// A requester's bridge while it waits for the device (section 8, WAITING), then the pump of the
// active bridge. Lives on the requester's thread; other threads reach it by posting there.
class PendingBridge : public std::enable_shared_from_this<PendingBridge> {
 public:
  PendingBridge(Frontend& frontend, std::shared_ptr<Handshake> handshake, auth::BridgeId id,
                std::string device_id, std::optional<std::string> request_data, std::string token,
                std::string accept_url)
      : id(id),
        device_id(std::move(device_id)),
        frontend_(frontend),
        handshake_(std::move(handshake)),
        context_(handshake_->context),
        request_data_(std::move(request_data)),
        token_(std::move(token)),
        accept_url_(std::move(accept_url)),
        deadline_(context_, frontend.settings_.accept_timeout) {}

  const auth::BridgeId id;
  const std::string device_id;
  asio::io_context& context() { return context_; }

  // The requester's 101 went out (or could not).
  void begin(bool ok) {
    if (!ok) {
      if (frontend_.take(id)) waiting_ = false;
      return;
    }
    pump_ = std::make_shared<core::RelayPump>(
        context_, frontend_.pipe_limits_, std::move(handshake_->socket),
        std::move(handshake_->leftover), frontend_.pipe_options_);
    handshake_.reset();
    auto requester_closed = [weak = weak_from_this()] {
      if (auto self = weak.lock()) self->cancel();
    };
    pump_->on_held_close = requester_closed;
    pump_->on_held_closed = requester_closed;
    pump_->start();
    if (ended_) {  // shut down before the 101 was written
      pump_->close_held(ended_->code, ended_->reason);
      return;
    }
    deadline_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
      if (!ec) self->expire();
    });
    notify(0);
  }

  // Called on this thread by whoever took the bridge out of the pending table.
  void end_wait(const CloseNotice& notice, std::string_view cancel_reason = {}) {
    if (!waiting_) return;
    waiting_ = false;
    deadline_.cancel();
    spdlog::debug("bridge to '{}' ended before accept: {} {}", device_id, notice.code,
                  notice.reason);
    if (!cancel_reason.empty()) {
      frontend_.send_to_channel(device_id, cancel_message(token_, cancel_reason), context_,
                                [](bool) {});
    }
    if (!pump_) {
      ended_ = notice;
      return;
    }
    pump_->close_held(notice.code, notice.reason);
  }

  // The device's accept socket, upgraded on another worker and moved here (section 2.3).
  void pair(core::DetachedSocket device, std::string leftover) {
    waiting_ = false;
    deadline_.cancel();
    if (!pump_ || !pump_->awaiting_partner()) {
      auto socket = core::attach(context_, device);
      core::turn_away(socket, kException.code, kException.reason);
      return;
    }
    spdlog::debug("bridge to '{}' accepted", device_id);
    frontend_.active_.fetch_add(1, std::memory_order_relaxed);
    pump_->on_finished = [&frontend = frontend_] {
      frontend.active_.fetch_sub(1, std::memory_order_relaxed);
    };
    pump_->pair_with(core::attach(context_, device), std::move(leftover));
  }

 private:
  void cancel() {
    if (frontend_.take(id)) end_wait(kAnswered, "requester closed");
  }

  void expire() {
    if (frontend_.take(id)) end_wait({4408, "accept timeout"}, "timeout");
  }

  void not_reachable() {
    spdlog::info("bridge: device '{}' is not reachable by any notifier", device_id);
    if (frontend_.take(id)) end_wait({4404, "device not reachable"});
  }

  // Section 7.2: the configured notifiers in order until one delivers.
  void notify(std::size_t index) {
    if (!waiting_) return;
    const auto& settings = frontend_.settings_;
    if (index >= settings.notifiers.size()) return not_reachable();
    const std::string message = bridge_message(accept_url_, request_data_);
    if (settings.notifiers[index] == "channel") {
      frontend_.send_to_channel(device_id, message, context_,
                                [self = shared_from_this(), index](bool delivered) {
                                  if (!delivered) self->notify(index + 1);
                                });
      return;
    }
    if (settings.webhook.url.empty()) return notify(index + 1);
    call_webhook(index, settings.webhook.retries, message);
  }

  void call_webhook(std::size_t index, unsigned retries_left, const std::string& message) {
    frontend_.webhook_.post(
        context_, device_id, message,
        [self = shared_from_this(), index, retries_left, message](WebhookOutcome outcome) {
          self->on_webhook(index, retries_left, message, std::move(outcome));
        });
  }

  void on_webhook(std::size_t index, unsigned retries_left, const std::string& message,
                  WebhookOutcome outcome) {
    if (!waiting_) return;
    const auto& webhook = frontend_.settings_.webhook;
    switch (outcome.kind) {
      case WebhookOutcome::kDelivered:
        return;
      case WebhookOutcome::kDeclined:
        if (frontend_.take(id))
          end_wait(declined(utf8_prefix(outcome.detail, frontend_.settings_.max_decline_reason)));
        return;
      case WebhookOutcome::kFailed:
        break;
    }
    spdlog::warn("bridge: webhook for device '{}' not delivered: {}", device_id, outcome.detail);
    // Retries only while another full attempt fits in the accept wait.
    if (retries_left > 0 &&
        deadline_.expiry() - std::chrono::steady_clock::now() > webhook.timeout) {
      return call_webhook(index, retries_left - 1, message);
    }
    notify(index + 1);
  }

  Frontend& frontend_;
  std::shared_ptr<Handshake> handshake_;  // until begin()
  asio::io_context& context_;
  const std::optional<std::string> request_data_;
  const std::string token_;
  const std::string accept_url_;
  asio::steady_timer deadline_;
  std::shared_ptr<core::RelayPump> pump_;
  std::optional<CloseNotice> ended_;  // the wait ended before begin()
  bool waiting_ = true;
};

// A device's control channel (section 7.3). Owned by its channel's end callback.
class DeviceChannel {
 public:
  DeviceChannel(asio::io_context& context, std::string device_id,
                std::weak_ptr<core::WsChannel> channel)
      : context(context), device_id(std::move(device_id)), channel(std::move(channel)) {}

  asio::io_context& context;
  const std::string device_id;
  const std::weak_ptr<core::WsChannel> channel;
};

std::size_t Frontend::IdHash::operator()(const auth::BridgeId& id) const {
  std::size_t h = 0;
  std::memcpy(&h, id.data(), sizeof h);  // CSPRNG bytes: already uniform
  return h;
}

Frontend::Frontend(Settings settings, core::Services& services)
    : settings_(std::move(settings)),
      services_(services),
      webhook_(settings_.webhook),
      pipe_limits_(services.limits) {
  if (settings_.token_keys.empty()) {
    auth::SealingKey key;
    const auto bytes = core::random_bytes(key.key.size());
    std::copy(bytes.begin(), bytes.end(), key.key.begin());
    settings_.token_keys.push_back(key);
  }
  if (settings_.url_signing_keys.empty()) {
    const auto bytes = core::random_bytes(32);
    settings_.url_signing_keys.push_back(std::string(bytes.begin(), bytes.end()));
    if (settings_.enabled && !settings_.api_keys.empty()) {
      spdlog::info("bridge: no url_signing_keys configured; signed URLs are valid until restart");
    }
  }
  pipe_limits_.relay_buffer_high_water = settings_.in_flight;
  pipe_limits_.relay_max_message = 0;
  pipe_options_.byte_stream = true;
  pipe_options_.half_close = false;
  pipe_options_.partner_lost = kException;
  pipe_options_.hold_high_water = settings_.early_data;
  pipe_options_.shutdown = kGoingAway;
}

void Frontend::handle(const std::shared_ptr<Handshake>& handshake) {
  if (!settings_.enabled) {
    core::refuse(handshake, {404, "Not Found"});
    return;
  }
  const auto path = handshake->request.path();
  std::string lower = core::ascii_lowered(path);
  if (lower.size() > kPrefix.size() + 1 && lower.ends_with('/')) lower.pop_back();
  if (lower == "/bridge/connect") return connect(handshake, false);
  if (lower == "/bridge/connectsigned") return connect(handshake, true);
  if (lower == "/bridge/getsignedurl") return signed_url(handshake);
  if (lower == "/bridge/accept") return accept(handshake);
  constexpr std::string_view kDevice = "/bridge/device/";
  if (lower.starts_with(kDevice) && lower.size() > kDevice.size() &&
      lower.find('/', kDevice.size()) == std::string::npos) {
    return device(handshake, path.substr(kDevice.size(), lower.size() - kDevice.size()));
  }
  core::refuse(handshake, {404, "Not Found"});
}

bool Frontend::api_key_valid(const Handshake& handshake) const {
  const auto key = handshake.request.find("X-Api-Key");
  return key && !key->empty() && auth::matches_any(settings_.api_keys, *key);
}

std::optional<std::string> Frontend::device_id_problem(
    const std::optional<std::string>& device_id,
    const std::optional<std::string>& request_data) const {
  if (!device_id || device_id->empty()) return "Bad Request: deviceId is required.";
  if (device_id->size() > settings_.max_device_id) {
    return "Bad Request: deviceId is longer than " + std::to_string(settings_.max_device_id) +
           " bytes.";
  }
  if (has_control_characters(*device_id)) return "Bad Request: deviceId has control characters.";
  if (request_data && request_data->size() > settings_.max_request_data) {
    return "Bad Request: requestData is longer than " + std::to_string(settings_.max_request_data) +
           " bytes.";
  }
  return std::nullopt;
}

std::string Frontend::base_url(const Handshake& handshake) const {
  return core::websocket_base_url(settings_.public_url, handshake.request, handshake.secure);
}

void Frontend::connect(const std::shared_ptr<Handshake>& handshake, bool signed_url) {
  if (refuse_unless_upgrade(handshake)) return;
  const auto query = handshake->request.query();
  const auto device_id = core::form_param(query, "deviceId");
  const auto request_data = core::form_param(query, "requestData");
  if (!signed_url && !api_key_valid(*handshake)) {
    core::refuse(handshake, {401, "Unauthorized: missing or unknown X-Api-Key."});
    return;
  }
  if (signed_url) {
    const auto expiration = core::form_param(query, "expirationUtc");
    const auto signature = core::form_param(query, "signature");
    if (!expiration || !signature ||
        !auth::verify_connect_url(settings_.url_signing_keys, device_id.value_or(""), request_data,
                                  *expiration, *signature)) {
      core::refuse(handshake, {400, "Bad Request: the URL signature is not valid."});
      return;
    }
    const auto expires = parse_instant(*expiration);
    if (!expires || *expires <= now_ms() * kTicksPerMs) {
      core::refuse(handshake, {400, "Bad Request: this signed URL has expired."});
      return;
    }
  }
  if (auto problem = device_id_problem(device_id, request_data)) {
    core::refuse(handshake, {400, std::move(*problem)});
    return;
  }
  auth::BridgeId id{};
  const auto bytes = core::random_bytes(id.size());
  std::copy(bytes.begin(), bytes.end(), id.begin());
  const auth::BridgeTokenFields fields{
      now_ms() +
          std::chrono::duration_cast<std::chrono::milliseconds>(settings_.accept_timeout).count(),
      id, settings_.node_id};
  std::string token = auth::seal_bridge_token(settings_.token_keys.front(), fields);
  std::string accept_url = base_url(*handshake) + "/bridge/accept?bridgeToken=" + token;
  // Reserved before the 101: the limits hold however fast requesters arrive.
  auto bridge = std::make_shared<PendingBridge>(*this, handshake, id, *device_id, request_data,
                                                std::move(token), std::move(accept_url));
  int refusal = 0;
  {
    const std::lock_guard lock(pending_mutex_);
    const auto it = pending_per_device_.find(*device_id);
    const std::size_t waiting = it == pending_per_device_.end() ? 0 : it->second;
    if (waiting >= settings_.max_pending_per_device) {
      refusal = 429;
    } else if (pending_.size() >= settings_.max_pending) {
      refusal = 503;
    } else {
      pending_.emplace(id, bridge);
      ++pending_per_device_[*device_id];
    }
  }
  if (refusal == 429) {
    core::refuse(handshake, {429, "Too Many Requests: too many pending bridges for this device."},
                 core::Blame::kNone);
    return;
  }
  if (refusal == 503) {
    core::refuse(handshake, {503, "Service Unavailable: too many pending bridges."},
                 core::Blame::kNone);
    return;
  }
  spdlog::debug("bridge requested for device '{}' from {}", *device_id, handshake->remote.address);
  core::switch_protocols(handshake, {}, [bridge](bool ok) { bridge->begin(ok); });
}

void Frontend::signed_url(const std::shared_ptr<Handshake>& handshake) {
  if (!api_key_valid(*handshake)) {
    core::refuse(handshake, {401, "Unauthorized: missing or unknown X-Api-Key."});
    return;
  }
  const auto query = handshake->request.query();
  const auto device_id = core::form_param(query, "deviceId");
  const auto request_data = core::form_param(query, "requestData");
  if (auto problem = device_id_problem(device_id, request_data)) {
    core::refuse(handshake, {400, std::move(*problem)});
    return;
  }
  const Ticks now = now_ms() * kTicksPerMs;
  const auto ticks_of = [](Duration d) { return static_cast<Ticks>(d.count()) * kTicksPerMs; };
  Ticks expires = now + ticks_of(settings_.signed_url_default_ttl);
  if (const auto given = core::form_param(query, "expirationUtc")) {
    const auto parsed = parse_instant(*given);
    if (!parsed) {
      core::refuse(handshake, {400, "Bad Request: expirationUtc is not an ISO 8601 instant."});
      return;
    }
    if (*parsed <= now || *parsed > now + ticks_of(settings_.signed_url_max_ttl)) {
      core::refuse(
          handshake,
          {400, "Bad Request: expirationUtc must lie in the future, at most " +
                    std::to_string(settings_.signed_url_max_ttl.count() / 1000) + " s ahead."});
      return;
    }
    expires = *parsed;
  }
  const std::string expiration = format_round_trip(expires);
  std::string url =
      base_url(*handshake) + "/bridge/connectSigned?deviceId=" + core::percent_encode(*device_id);
  if (request_data) url += "&requestData=" + core::percent_encode(*request_data);
  url += "&expirationUtc=" + core::percent_encode(expiration) + "&signature=" +
         auth::sign_connect_url(settings_.url_signing_keys.front(), *device_id, request_data,
                                expiration);
  core::respond(
      handshake,
      {200, "OK", {{"Cache-Control", "no-store"}}, std::move(url), "text/plain; charset=utf-8"});
}

void Frontend::accept(const std::shared_ptr<Handshake>& handshake) {
  if (refuse_unless_upgrade(handshake)) return;
  const auto token = core::form_param(handshake->request.query(), "bridgeToken").value_or("");
  const auto fields = auth::open_bridge_token(settings_.token_keys, token);
  if (!fields) {
    // One response for every cause (section 5.3 step 4).
    core::refuse(handshake, {400, "Bad Request: invalid bridge token."});
    return;
  }
  if (now_ms() > fields->expiry_ms + settings_.clock_skew.count()) {
    core::refuse(handshake, {410, "Gone: this bridge token has expired."});
    return;
  }
  // A single node is a cluster of one: any other owner is not a member.
  if (fields->owner != settings_.node_id) {
    core::refuse(handshake, {410, "Gone: the bridge's owner is not a member of this cluster."});
    return;
  }
  auto bridge = take(fields->bridge_id);
  if (!bridge) {
    core::refuse(handshake,
                 {410, "Gone: this bridge was already accepted, declined or cancelled."});
    return;
  }
  core::switch_protocols(handshake, {}, [handshake, bridge](bool ok) {
    if (!ok) {
      asio::post(bridge->context(), [bridge] { bridge->end_wait(kException); });
      return;
    }
    const auto detached = core::detach(handshake->socket);
    asio::post(bridge->context(),
               [bridge, detached, leftover = std::move(handshake->leftover)]() mutable {
                 bridge->pair(detached, std::move(leftover));
               });
  });
}

bool Frontend::device_key_valid(const core::RequestHead& head, std::string_view device_id) const {
  std::optional<std::string_view> key = head.find("X-Device-Key");
  if (!key) {
    const auto authorization = head.find("Authorization");
    if (authorization && core::istarts_with(*authorization, "Bearer ")) {
      key = core::trim(authorization->substr(7));
    }
  }
  if (!key || key->empty()) return false;
  const auth::Digest presented = auth::sha256(*key);
  // Both ways are always computed, so timing does not tell which devices are in the table.
  const auto entry = settings_.device_keys.find(std::string(device_id));
  const bool known = entry != settings_.device_keys.end();
  bool valid = auth::digests_equal(known ? entry->second : auth::Digest{}, presented) && known;
  if (!settings_.device_key_secret.empty()) {
    const auth::Digest derived =
        auth::sha256(auth::derive_device_key(settings_.device_key_secret, device_id));
    valid = auth::digests_equal(derived, presented) || valid;
  }
  return valid;
}

void Frontend::device(const std::shared_ptr<Handshake>& handshake, std::string_view raw_id) {
  if (refuse_unless_upgrade(handshake)) return;
  const auto device_id = core::percent_decode(raw_id);
  if (!device_id || !device_key_valid(handshake->request, *device_id)) {
    core::refuse(handshake, {401, "Unauthorized: missing or wrong device key."});
    return;
  }
  if (auto problem = device_id_problem(device_id, std::nullopt)) {
    core::refuse(handshake, {400, std::move(*problem)});
    return;
  }
  core::switch_protocols(handshake, {}, [this, handshake, id = *device_id](bool ok) {
    if (!ok) return;
    auto ws = std::make_shared<core::WsChannel>(
        handshake->context, services_.limits, std::move(handshake->socket),
        std::move(handshake->leftover), services_.limits.control_max_message);
    auto channel = std::make_shared<DeviceChannel>(handshake->context, id, ws);
    register_channel(channel);
    spdlog::info("bridge: device '{}' connected its control channel from {}", id,
                 handshake->remote.address);
    ws->start(
        [this, weak_ws = std::weak_ptr<core::WsChannel>(ws),
         weak = std::weak_ptr<DeviceChannel>(channel)](bool text, std::string& payload) {
          auto c = weak.lock();
          auto w = weak_ws.lock();
          if (!c || !w) return;
          if (!text) {
            w->close(1003, "text only");
            return;
          }
          // Unknown members and malformed JSON are ignored (section 7.3).
          boost::system::error_code ec;
          const auto value = boost::json::parse(payload, ec);
          const auto* object = ec ? nullptr : value.if_object();
          const auto* decline = object ? object->if_contains("decline") : nullptr;
          const auto* fields = decline ? decline->if_object() : nullptr;
          const auto* token = fields ? fields->if_contains("bridgeToken") : nullptr;
          if (token == nullptr || !token->is_string()) return;
          const auto* reason = fields->if_contains("reason");
          on_decline(*c, token->get_string(),
                     reason && reason->is_string() ? std::string(reason->get_string()) : "");
        },
        [this, channel](std::uint16_t, std::string_view) {
          spdlog::debug("bridge: control channel of device '{}' ended", channel->device_id);
          unregister_channel(*channel);
        });
  });
}

void Frontend::register_channel(const std::shared_ptr<DeviceChannel>& channel) {
  std::shared_ptr<DeviceChannel> older;
  {
    const std::lock_guard lock(channels_mutex_);
    auto& slot = channels_[channel->device_id];
    older = std::exchange(slot, channel);
  }
  if (older) {
    asio::post(older->context, [ws = older->channel] {
      if (auto w = ws.lock()) w->close(4409, "superseded");
    });
  }
}

void Frontend::unregister_channel(const DeviceChannel& channel) {
  const std::lock_guard lock(channels_mutex_);
  const auto it = channels_.find(channel.device_id);
  if (it != channels_.end() && it->second.get() == &channel) channels_.erase(it);
}

void Frontend::send_to_channel(const std::string& device_id, std::string text,
                               asio::io_context& reply_to, std::function<void(bool)> done) {
  std::shared_ptr<DeviceChannel> target;
  {
    const std::lock_guard lock(channels_mutex_);
    if (const auto it = channels_.find(device_id); it != channels_.end()) target = it->second;
  }
  if (!target) {
    asio::post(reply_to, [done = std::move(done)] { done(false); });
    return;
  }
  asio::post(target->context, [target, text = std::move(text), &reply_to, done = std::move(done),
                               high_water = services_.limits.control_buffer_high_water]() mutable {
    const auto ws = target->channel.lock();
    // A device that does not read its channel cannot make the server keep notifications for it.
    const bool queued = ws && ws->open() && ws->backlog() < high_water;
    if (ws && ws->open() && !queued) {
      spdlog::warn("bridge: device '{}' does not read its control channel", target->device_id);
    }
    if (queued) ws->send_text(text);
    asio::post(reply_to, [done = std::move(done), queued] { done(queued); });
  });
}

void Frontend::on_decline(const DeviceChannel& channel, std::string_view token,
                          std::string_view reason) {
  const auto fields = auth::open_bridge_token(settings_.token_keys, token);
  if (!fields || fields->owner != settings_.node_id) return;
  // Only the device the bridge is for may decline it.
  const auto bridge = take(fields->bridge_id, channel.device_id);
  if (!bridge) return;
  spdlog::debug("bridge: device '{}' declined", channel.device_id);
  asio::post(bridge->context(),
             [bridge, notice = declined(utf8_prefix(reason, settings_.max_decline_reason))] {
               bridge->end_wait(notice);
             });
}

std::shared_ptr<PendingBridge> Frontend::take(const auth::BridgeId& id,
                                              std::optional<std::string_view> device_id) {
  const std::lock_guard lock(pending_mutex_);
  const auto it = pending_.find(id);
  if (it == pending_.end() || (device_id && it->second->device_id != *device_id)) return nullptr;
  auto bridge = std::move(it->second);
  pending_.erase(it);
  const auto count = pending_per_device_.find(bridge->device_id);
  if (count != pending_per_device_.end() && --count->second == 0) pending_per_device_.erase(count);
  return bridge;
}

void Frontend::shutdown() {
  std::vector<std::shared_ptr<PendingBridge>> bridges;
  {
    const std::lock_guard lock(pending_mutex_);
    for (auto& [id, bridge] : pending_) bridges.push_back(std::move(bridge));
    pending_.clear();
    pending_per_device_.clear();
  }
  for (auto& bridge : bridges) {
    asio::post(bridge->context(), [bridge] { bridge->end_wait(kGoingAway); });
  }
  const std::lock_guard lock(channels_mutex_);
  for (auto& [id, channel] : channels_) {
    asio::post(channel->context, [ws = channel->channel] {
      if (auto w = ws.lock()) w->close(kGoingAway.code, kGoingAway.reason);
    });
  }
}

Frontend::Status Frontend::status() const {
  Status status;
  {
    const std::lock_guard lock(pending_mutex_);
    status.pending = pending_.size();
  }
  {
    const std::lock_guard lock(channels_mutex_);
    status.channels = channels_.size();
  }
  status.active = active_.load(std::memory_order_relaxed);
  return status;
}

}  // namespace switchboard::bridge
