// The load patterns of switchboard-bench. Each runs on one thread against one target for a
// warm-up and a measured window and returns what it measured in that window; the server's CPU
// time comes from /proc (utime + stime of `server_pid`).
#pragma once

#include <cstddef>
#include <string>
#include <utility>
#include <vector>

#include <sys/types.h>

#include "bench/harness/conn.hpp"
#include "bench/harness/targets.hpp"

namespace switchboard::bench {

constexpr std::size_t kBulkMessage = std::size_t{64} * 1024;

// Sends `size`-byte binary messages whenever less than four are queued, for as long as the
// connection lives.
void keep_sending(WsConn& conn, std::size_t size);

struct LoadSpec {
  TargetOptions target;
  pid_t server_pid = 0;
  double warmup = 1.0;    // seconds before the window
  double duration = 3.0;  // the measured window, seconds
  int pairs = 1;
  int window = 16;  // messages: echoes in flight per pair
  std::size_t size = 1024;
  int concurrency = 16;     // rendezvous and pairing: set-ups in flight; http: connections
  double rate = 0;          // latency: messages per second offered, all pairs together
  pid_t forwarder_pid = 0;  // http through Switchboard: `switchboard forward`, for its CPU time
  pid_t service_pid = 0;    // http through Switchboard: the HTTP service, for its CPU time
};

// Named results of one run, in a fixed order per scenario.
using Metrics = std::vector<std::pair<std::string, double>>;

Metrics run_bulk(const LoadSpec& spec);
Metrics run_messages(const LoadSpec& spec);
Metrics run_rendezvous(const LoadSpec& spec);
Metrics run_latency(const LoadSpec& spec);
Metrics run_localfirst_pairing(const LoadSpec& spec);
// spec.concurrency keep-alive connections, one GET in flight each (closed loop): GET /x straight
// to the HTTP service (kDirect), or GET /PATH/x with a Send token to Switchboard (kHybrid), whose
// `switchboard forward -H PATH:...` listener asks the service.
Metrics run_http(const LoadSpec& spec);

// The idle scenario's client process: opens `spec.pairs` Hybrid Connections pairs, passes one
// message each way on each, prints "ready N" and holds them until standard input closes.
int run_idle_client(const LoadSpec& spec);

}  // namespace switchboard::bench
