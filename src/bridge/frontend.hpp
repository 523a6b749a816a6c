// Bridge (protocol bridge.md): requesters on /bridge/connect and /bridge/connectSigned wait in a
// pending bridge while the device is notified (control channel on /bridge/device/:deviceId, or a
// webhook), then the device's /bridge/accept socket is joined to them as one byte stream.
#pragma once

#include <atomic>
#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "bridge/settings.hpp"
#include "bridge/webhook.hpp"
#include "core/handshake.hpp"
#include "core/relay_pump.hpp"
#include "core/services.hpp"

namespace switchboard::bridge {

class PendingBridge;
class DeviceChannel;

// Whether a request path belongs to this front end: "/bridge" and everything under it
// (case-insensitive).
bool owns_path(std::string_view path);

class Frontend {
 public:
  // Missing token or URL-signing keys are generated (single node: tokens die with the process).
  Frontend(Settings settings, core::Services& services);

  void handle(const std::shared_ptr<core::Handshake>& handshake);
  // Closes pending bridges and control channels with 1001 "going away".
  void shutdown();

  struct Status {
    std::size_t pending = 0;
    std::size_t active = 0;
    std::size_t channels = 0;
  };
  Status status() const;

 private:
  friend class PendingBridge;
  friend class DeviceChannel;
  struct Requester;

  void connect(const std::shared_ptr<core::Handshake>& handshake, bool signed_url);
  void signed_url(const std::shared_ptr<core::Handshake>& handshake);
  void accept(const std::shared_ptr<core::Handshake>& handshake);
  void device(const std::shared_ptr<core::Handshake>& handshake, std::string_view raw_id);

  // Pre-upgrade checks shared by the requester endpoints; false when refused.
  bool api_key_valid(const core::Handshake& handshake) const;
  std::optional<std::string> device_id_problem(
      const std::optional<std::string>& device_id,
      const std::optional<std::string>& request_data) const;
  bool device_key_valid(const core::RequestHead& head, std::string_view device_id) const;
  std::string base_url(const core::Handshake& handshake) const;

  // The pending table: whoever takes a bridge out of it decides how its wait ends.
  // With `device_id`, only a bridge for that device is taken.
  std::shared_ptr<PendingBridge> take(const auth::BridgeId& id,
                                      std::optional<std::string_view> device_id = std::nullopt);
  void on_decline(const DeviceChannel& channel, std::string_view token, std::string_view reason);
  // Queues `text` on the device's control channel; `done(delivered)` runs on `reply_to`.
  void send_to_channel(const std::string& device_id, std::string text,
                       core::asio::io_context& reply_to, std::function<void(bool)> done);
  void register_channel(const std::shared_ptr<DeviceChannel>& channel);
  void unregister_channel(const DeviceChannel& channel);

  Settings settings_;
  core::Services& services_;
  WebhookClient webhook_;
  core::Limits pipe_limits_;  // the server's limits with the bridge's in-flight bound
  core::PumpOptions pipe_options_;

  struct IdHash {
    std::size_t operator()(const auth::BridgeId& id) const;
  };
  mutable std::mutex pending_mutex_;
  std::unordered_map<auth::BridgeId, std::shared_ptr<PendingBridge>, IdHash> pending_;
  std::unordered_map<std::string, std::size_t> pending_per_device_;
  std::atomic<std::size_t> active_{0};

  mutable std::mutex channels_mutex_;
  std::unordered_map<std::string, std::shared_ptr<DeviceChannel>> channels_;
};

}  // namespace switchboard::bridge
