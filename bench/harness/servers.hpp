// The servers a benchmark run measures, each started as its own process pinned to one core
// (taskset), on 127.0.0.1 and a port it picks itself, and stopped by the harness.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include <sys/types.h>

#include "bench/harness/upgrade.hpp"

namespace switchboard::bench {

enum class ServerKind { kSwitchboard, kReference, kDirect, kHttpService, kForwarder };
// "switchboard", "reference", "direct", "http-service", "forwarder"
const char* server_kind_name(ServerKind kind);

struct ServerPaths {
  std::string switchboard;    // the switchboard binary
  std::string self;           // switchboard-bench, for its direct-server subcommand
  std::string reference_dir;  // bench/localfirst with node_modules installed
  std::string node = "node";
  std::string log_dir;  // each server's output goes to LOG_DIR/NAME.log
  int core = -1;        // -1: not pinned
  // Where a server that did not exit cleanly when stopped (a crash, a sanitizer report) is noted.
  std::vector<std::string>* exit_problems = nullptr;
};

class ServerProcess;

// `switchboard forward` as the Hybrid Connections HTTP listener on `entity` of `relay` (a running
// Switchboard), making each relayed request again to `service`.
struct ForwardTo {
  const ServerProcess* relay = nullptr;
  std::string entity;
  Endpoint service;
};

class ServerProcess {
 public:
  ServerProcess(ServerKind kind, const ServerPaths& paths);
  // A forwarder (kForwarder), pinned like the servers; ready once it reports the entity
  // connected. Its endpoint() is the relay's.
  ServerProcess(const ForwardTo& forward, const ServerPaths& paths);
  ~ServerProcess();
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;

  pid_t pid() const { return pid_; }
  const Endpoint& endpoint() const { return endpoint_; }
  ServerKind kind() const { return kind_; }
  const std::string& sas_key() const { return sas_key_; }
  // Switchboard's bridge: a requester API key and the secret device keys derive from.
  std::string bridge_api_key() const { return "bench-api-" + sas_key_; }
  std::string bridge_device_secret() const { return "bench-device-secret-" + sas_key_; }
  // SIGTERM, then SIGKILL if it has not exited within five seconds. An exit other than 0 or by
  // that SIGTERM is noted in `exit_problems`.
  void stop();

 private:
  // Starts `argv` with its output in LOG_DIR/NAME.log and waits for `ready` to accept what it
  // printed since (it may set endpoint_).
  void launch(const std::vector<std::string>& argv, const std::string& log_dir,
              const std::function<bool(const std::string& output)>& ready);

  ServerKind kind_;
  std::string log_;
  std::vector<std::string>* exit_problems_ = nullptr;
  pid_t pid_ = -1;
  Endpoint endpoint_;
  std::string sas_key_;
};

// Makes SIGINT, SIGTERM and SIGHUP stop the servers this process started before it exits, so an
// interrupted run leaves nothing behind.
void stop_servers_on_signals();

// Runs a program with arguments; returns its pid. stdin, stdout and stderr are the given
// descriptors (-1: /dev/null for stdin, inherited for the others).
pid_t spawn(const std::vector<std::string>& argv, int in = -1, int out = -1, int err = -1);

// What a command prints on stdout (first line), or empty.
std::string command_output(const std::string& command);

}  // namespace switchboard::bench
