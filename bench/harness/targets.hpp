// What a scenario connects to. Every target hands out relayed pairs of WebSocket connections the
// same way, so a scenario runs unchanged against Switchboard's Hybrid Connections, a localfirst
// server (Switchboard's or the reference one) and the harness's direct server.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include <boost/asio/io_context.hpp>

#include "bench/harness/conn.hpp"
#include "bench/harness/upgrade.hpp"

namespace switchboard::bench {

// `a` speaks first; `b` is the far end's connection, or null when the target itself is the far
// end (the direct server).
struct Pair {
  std::shared_ptr<WsConn> a;
  std::shared_ptr<WsConn> b;
};

// The load a pair will carry: the direct server picks its behaviour from it.
enum class Purpose { kEcho, kBulk };

using PairDone =
    std::function<void(Pair pair, const std::string& error)>;  // error empty on success
using OpenDone = std::function<void(std::shared_ptr<WsConn> conn, const std::string& error)>;

// Upgrades a connection to `target` and wraps it (not started: set callbacks, then start()).
void open_ws(asio::io_context& io, const Endpoint& to, std::string target, Headers headers,
             OpenDone done);

enum class TargetKind { kDirect, kHybrid, kLocalfirst, kBridge };
// "direct", "hybrid", "localfirst", "bridge"
TargetKind parse_target_kind(const std::string& name);
const char* target_kind_name(TargetKind kind);

struct TargetOptions {
  TargetKind kind = TargetKind::kHybrid;
  Endpoint endpoint;
  std::string sas_key_name = "bench";  // Hybrid Connections: a rule with Manage rights
  std::string sas_key;
  std::string path;  // Hybrid Connections entity path; unique per run if empty
  int control_channels = 1;
  std::string bridge_api_key;        // bridge: X-Api-Key of the requesters
  std::string bridge_device_secret;  // bridge: the secret the device's key derives from
};

class Target {
 public:
  virtual ~Target() = default;
  // Opens whatever the target needs before pairs (control channels); `ready` gets an error text
  // or an empty string.
  virtual void prepare(std::function<void(const std::string& error)> ready) { ready({}); }
  virtual void open_pair(Purpose purpose, PairDone done) = 0;
  // Closes what prepare() opened.
  virtual void stop() {}
};

std::unique_ptr<Target> make_target(asio::io_context& io, const TargetOptions& options);

// A unique tag for names on a shared server (paths, peer ids) so runs do not meet each other.
std::string unique_tag();

}  // namespace switchboard::bench
