// switchboard-bench: the load generator and benchmark suite (bench/README.md).
#include <sched.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <iostream>

#include <CLI/CLI.hpp>

#include "bench/harness/direct_server.hpp"
#include "bench/harness/http_load.hpp"
#include "bench/harness/loads.hpp"
#include "bench/harness/stats.hpp"
#include "bench/harness/suite.hpp"

namespace {

using namespace switchboard::bench;

std::string self_path() {
  std::error_code ec;
  auto path = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? std::string("switchboard-bench") : path.string();
}

void pin_to(int core) {
  if (core < 0) return;
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(core, &set);
  sched_setaffinity(0, sizeof set, &set);
}

int print_metrics(const Metrics& metrics) {
  for (const auto& [name, value] : metrics) std::printf("%s %.6g\n", name.c_str(), value);
  return 0;
}

int run(int argc, char** argv) {
  CLI::App app{"switchboard-bench: Switchboard against a direct connection and @localfirst/relay"};
  app.require_subcommand(1);

  SuiteOptions suite;
  const std::string root = std::filesystem::current_path().string();
  suite.out_dir = root + "/bench/results";
  suite.servers.switchboard = root + "/build/release/switchboard";
  suite.servers.reference_dir = root + "/bench/localfirst";
  suite.servers.core = 0;
  suite.generator_core = 1;
  auto* s = app.add_subcommand("suite", "Run scenarios against every target and write results");
  s->add_option("scenarios", suite.scenarios,
                "bulk, messages, rendezvous, latency, idle, localfirst, http (default: all)")
      ->check(CLI::IsMember(all_scenarios()));
  s->add_option("--runs", suite.runs, "Measured runs per point (default 5)")
      ->check(CLI::Range(1, 100));
  s->add_option("--duration", suite.duration, "Seconds per run (default 3)");
  s->add_option("--warmup", suite.warmup, "Seconds of warm-up before each window (default 1)");
  s->add_flag("--smoke", suite.smoke, "One short run per point with small populations");
  s->add_option("--out", suite.out_dir, "Results folder (default bench/results)");
  s->add_option("--switchboard", suite.servers.switchboard, "The switchboard binary");
  s->add_option("--reference", suite.servers.reference_dir,
                "Folder with reference-server.mjs and its node_modules");
  s->add_option("--node", suite.servers.node, "Node.js for the reference server");
  s->add_option("--server-core", suite.servers.core, "Core for the servers (-1: no pinning)");
  s->add_option("--generator-core", suite.generator_core, "Core for the load generator");
  s->add_option("--revision", suite.revision, "What is being measured, for the record");

  std::string listen = "127.0.0.1:0";
  auto* direct = app.add_subcommand("direct-server", "The direct WebSocket echo/bulk server");
  direct->add_option("--listen", listen, "HOST:PORT");
  auto* service = app.add_subcommand("http-service", "The HTTP service of the http scenario");
  service->add_option("--listen", listen, "HOST:PORT");

  LoadSpec spec;
  std::string scenario = "messages", kind = "hybrid";
  auto* one = app.add_subcommand("run", "One run of one scenario against a running server");
  one->add_option("scenario", scenario, "bulk, messages, rendezvous, latency, pairing, http")
      ->check(CLI::IsMember({"bulk", "messages", "rendezvous", "latency", "pairing", "http"}));
  one->add_option("--target", kind, "hybrid, localfirst, bridge or direct")
      ->check(CLI::IsMember({"hybrid", "localfirst", "bridge", "direct"}));
  one->add_option("--port", spec.target.endpoint.port, "The server's port on 127.0.0.1")
      ->required();
  one->add_option("--server-pid", spec.server_pid, "Server process, for its CPU time");
  one->add_option("--key-name", spec.target.sas_key_name, "SAS rule name (hybrid)");
  one->add_option("--key", spec.target.sas_key, "SAS key (hybrid)");
  one->add_option("--path", spec.target.path,
                  "Entity path (hybrid; http: the entity of a running 'switchboard forward -H')");
  one->add_option("--bridge-api-key", spec.target.bridge_api_key, "Requester API key (bridge)");
  one->add_option("--bridge-device-key-secret", spec.target.bridge_device_secret,
                  "The server's device key secret (bridge)");
  one->add_option("--pairs", spec.pairs, "Pairs");
  one->add_option("--window", spec.window, "Echoes in flight per pair");
  one->add_option("--size", spec.size, "Message size in bytes");
  one->add_option("--concurrency", spec.concurrency, "Set-ups in flight (http: connections)");
  one->add_option("--rate", spec.rate, "Offered messages per second (latency)");
  one->add_option("--duration", spec.duration, "Seconds measured");
  one->add_option("--warmup", spec.warmup, "Seconds of warm-up");

  LoadSpec idle;
  auto* idle_client = app.add_subcommand("idle-client", "Hold idle pairs (used by the suite)");
  idle_client->add_option("--port", idle.target.endpoint.port)->required();
  idle_client->add_option("--pairs", idle.pairs)->required();
  idle_client->add_option("--key", idle.target.sas_key)->required();
  idle_client->add_option("--path", idle.target.path)->required();

  CLI11_PARSE(app, argc, argv);
  raise_open_file_limit();

  if (*s) {
    suite.servers.self = self_path();
    suite.servers.log_dir = suite.out_dir + "/logs";
    if (sysconf(_SC_NPROCESSORS_ONLN) < 2) suite.servers.core = suite.generator_core = -1;
    pin_to(suite.generator_core);
    stop_servers_on_signals();
    return run_suite(suite);
  }
  if (*direct) return run_direct_server(listen);
  if (*service) return run_http_service(listen);
  if (*one) {
    spec.target.kind = parse_target_kind(kind);
    if (scenario == "bulk") {
      if (spec.size == 1024) spec.size = kBulkMessage;
      return print_metrics(run_bulk(spec));
    }
    if (scenario == "messages") return print_metrics(run_messages(spec));
    if (scenario == "rendezvous") return print_metrics(run_rendezvous(spec));
    if (scenario == "latency") return print_metrics(run_latency(spec));
    if (scenario == "http") return print_metrics(run_http(spec));
    return print_metrics(run_localfirst_pairing(spec));
  }
  idle.target.kind = TargetKind::kHybrid;
  return run_idle_client(idle);
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "switchboard-bench: " << e.what() << "\n";
    return 1;
  }
}
