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

  Listener(asio::io_context& context, Identity identity, std::chrono::seconds token_grace);

  // On the listener's thread, once its 101 is written. Until then the listener already takes
  // work: a client may connect a sender the moment it reads its 101, before this runs.
  void start(std::shared_ptr<core::WsChannel> channel, std::int64_t expiry, RenewFn renew,
             GoneFn gone);
  // From any thread.
  void post_message(std::string json);
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
  void on_message(bool text, const std::string& payload);
  void arm_expiry();
  void close_with(std::uint16_t code, std::string_view reason);

  asio::io_context& context_;
  Identity identity_;
  std::chrono::seconds token_grace_;
  std::shared_ptr<core::WsChannel> channel_;
  std::atomic<bool> open_{true};      // takes new work
  std::atomic<bool> started_{false};  // channel_ is set (published for backlogged())
  std::vector<std::string> queued_;   // messages that came before the channel
  std::optional<std::pair<std::uint16_t, std::string>> queued_close_;
  std::int64_t expiry_ = 0;  // se of the newest accepted token
  asio::steady_timer expiry_timer_;
  RenewFn renew_;
};

}  // namespace switchboard::hybrid
