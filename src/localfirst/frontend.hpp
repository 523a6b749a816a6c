// localfirst: peer discovery on /introduction/:peerId (section 4) and pairing on
// /connection/:local/:remote/:documentId (section 5), wire-compatible with @localfirst/relay v4.
#pragma once

#include <atomic>
#include <cstddef>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "core/handshake.hpp"
#include "core/relay_pump.hpp"
#include "core/services.hpp"
#include "localfirst/directory.hpp"
#include "localfirst/holding_table.hpp"
#include "localfirst/settings.hpp"

namespace switchboard::localfirst {

class IntroSocket;
class HeldPipe;

class Frontend {
 public:
  Frontend(const Settings& settings, core::Services& services);

  // Whether this front end answers the request: any request on one of its routes (plain ones
  // get 404).
  bool owns(const core::RequestHead& request) const;
  void handle(const std::shared_ptr<core::Handshake>& handshake);
  // Closes every introduction socket and held pipe with 1001 (server shutdown).
  void shutdown();

  struct Status {
    Directory::Snapshot directory;
    std::size_t held = 0;
    std::size_t paired = 0;
  };
  Status status() const;

 private:
  friend class IntroSocket;
  friend class HeldPipe;

  void introduction(const std::shared_ptr<core::Handshake>& handshake, std::string peer);
  void connection(const std::shared_ptr<core::Handshake>& handshake, const PipeKey& key);
  void on_message(IntroSocket& socket, bool text, const std::string& payload);
  void send_introduction(const Introduction& introduction);
  void on_intro_end(IntroSocket& socket);

  const Settings& settings_;
  core::Services& services_;
  core::Limits pipe_limits_;  // the server's limits with the localfirst pipe values
  core::PumpOptions pipe_options_;

  mutable std::mutex directory_mutex_;
  Directory directory_;
  std::unordered_map<SocketId, std::weak_ptr<IntroSocket>> intro_sockets_;
  SocketId next_socket_id_ = 1;

  mutable std::mutex pipes_mutex_;
  HoldingTable<HeldPipe> held_;
  std::atomic<std::size_t> paired_{0};
};

}  // namespace switchboard::localfirst
