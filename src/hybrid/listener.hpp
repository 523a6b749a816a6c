// A listener's control channel (protocol section 3): carries accept messages out, renewToken in,
// and closes with 1008 once the newest accepted token is past its grace period.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <boost/asio/steady_timer.hpp>

#include "auth/sas.hpp"
#include "core/ws_channel.hpp"
#include "hybrid/http_messages.hpp"

namespace switchboard::hybrid {

namespace asio = boost::asio;

class Listener : public std::enable_shared_from_this<Listener> {
 public:
  struct Identity {
    std::string entity_key;
    std::string entity_path;
    std::string id;        // section 6.3
    std::string base_url;  // ws(s)://authority for addresses handed to this listener
    std::string host;      // for tracking suffixes
  };
  using RenewFn = std::function<auth::AuthResult(std::string_view token)>;
  using GoneFn = std::function<void(Listener&)>;
  // A response that arrived on the control channel (section 5.4), with the body message that
  // followed it when it said body:true.
  struct ControlResponse {
    ResponseHead head;
    std::string body;
    bool invalid = false;  // unusable statusCode or body field
    bool aborted = false;  // a text message came where the body was due
  };
  using ResponseFn = std::function<void(Listener&, ControlResponse)>;

  Listener(asio::io_context& context, Identity identity, std::chrono::seconds token_grace);

  // On the listener's thread, once its 101 is written. Until then the listener already takes
  // work: a client may connect a sender the moment it reads its 101, before this runs.
  void start(std::shared_ptr<core::WsChannel> channel, std::int64_t expiry, RenewFn renew,
             ResponseFn respond, GoneFn gone);
  // From any thread.
  void post_message(std::string_view json);
  // Already framed messages that must go out together (a request and its body, section 3.6).
  void post_frames(std::string frames);
  void post_close(std::uint16_t code, std::string reason);

  // The 101 could not be written: no channel will come (call on the listener's thread).
  void abandon() { open_.store(false, std::memory_order_release); }

  bool open() const { return open_.load(std::memory_order_acquire); }
  // Open, but not reading its control channel: it gets no new work (protocol section 6.2).
  bool backlogged(std::size_t high_water) const {
    return open() && started_.load(std::memory_order_acquire) && channel_->backlog() >= high_water;
  }
  const std::string& id() const { return identity_.id; }
  const Identity& identity() const { return identity_; }
  asio::io_context& context() { return context_; }

 private:
  void on_message(bool text, std::string& payload);
  void arm_expiry();
  void close_with(std::uint16_t code, std::string_view reason);

  asio::io_context& context_;
  Identity identity_;
  std::chrono::seconds token_grace_;
  std::shared_ptr<core::WsChannel> channel_;
  std::atomic<bool> open_{true};      // takes new work
  std::atomic<bool> started_{false};  // channel_ is set (published for backlogged())
  std::vector<std::string> queued_;   // frames that came before the channel
  std::optional<std::pair<std::uint16_t, std::string>> queued_close_;
  std::int64_t expiry_ = 0;  // se of the newest accepted token
  asio::steady_timer expiry_timer_;
  RenewFn renew_;
  ResponseFn respond_;
  std::optional<ControlResponse> awaiting_body_;  // a body:true response whose body is next
};

}  // namespace switchboard::hybrid
