#include "bench/harness/suite.hpp"

#include <poll.h>
#include <signal.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <deque>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <sstream>
#include <thread>

#include <fmt/format.h>
#include <boost/json.hpp>

#include "bench/harness/loads.hpp"
#include "bench/harness/stats.hpp"

namespace switchboard::bench {

namespace json = boost::json;
namespace fs = std::filesystem;

const std::vector<std::string>& all_scenarios() {
  static const std::vector<std::string> names{"bulk", "messages",   "rendezvous", "latency",
                                              "idle", "localfirst", "http"};
  return names;
}

namespace {

// One measured point: a target under one load, run several times.
struct Point {
  std::string target;    // switchboard, direct, reference
  std::string protocol;  // hybrid, localfirst, websocket
  std::string load;      // e.g. "pairs=10"
  double x = 0;          // the load as a number, for plots
  std::vector<Metrics> runs;
  std::string error;  // why a run failed, if one did

  std::vector<double> values(const std::string& name) const {
    std::vector<double> out;
    for (const auto& run : runs) {
      for (const auto& [key, value] : run) {
        if (key == name) out.push_back(value);
      }
    }
    return out;
  }
  Summary summary(const std::string& name) const { return summarize(values(name)); }
  double median(const std::string& name) const { return summary(name).median; }
};

struct Goal {
  std::string name;
  std::string measured;  // how it was judged, in words
  double value = 0;
  std::string target;
  bool met = false;
};

struct ScenarioResult {
  std::string name;
  std::deque<Point> points;  // stable references while points are added
  std::vector<Goal> goals;
  std::vector<std::string> columns;  // metrics shown in the summary table
  std::vector<std::string> notes;
};

std::string fmt_number(double v) {
  if (v == 0) return "0";
  const double a = std::abs(v);
  if (a >= 100) return fmt::format("{:L}", static_cast<long long>(std::llround(v)));
  if (a >= 10) return fmt::format("{:.1f}", v);
  if (a >= 0.1) return fmt::format("{:.2f}", v);
  return fmt::format("{:.3g}", v);
}

class Suite {
 public:
  explicit Suite(const SuiteOptions& options) : o_(options) {
    o_.servers.exit_problems = &exit_problems_;
    fs::create_directories(o_.out_dir);
    fs::remove_all(o_.servers.log_dir);
    fs::create_directories(o_.servers.log_dir);
  }

  int run() {
    const auto& wanted = o_.scenarios.empty() ? all_scenarios() : o_.scenarios;
    planned_ = 0;
    for (const auto& name : wanted) planned_ += planned_runs(name);
    std::vector<ScenarioResult> results;
    for (const auto& name : wanted) {
      ScenarioResult result;
      result.name = name;
      if (name == "bulk") bulk(result);
      if (name == "messages") messages(result);
      if (name == "rendezvous") rendezvous(result);
      if (name == "latency") latency(result);
      if (name == "idle") idle(result);
      if (name == "localfirst") localfirst(result);
      if (name == "http") http(result);
      write_json(result);
      results.push_back(std::move(result));
    }
    std::fprintf(stderr, "\r\033[K");
    write_summary(results);
    plot(results);
    int failures = 0;
    for (const auto& r : results) {
      for (const auto& p : r.points) {
        const bool empty = p.runs.empty();
        const bool errors = !p.values("errors").empty() && p.summary("errors").max > 0;
        if (!p.error.empty() || empty || (o_.smoke && errors)) {
          ++failures;
          std::fprintf(stderr, "%s: %s %s %s: %s\n", r.name.c_str(), p.target.c_str(),
                       p.protocol.c_str(), p.load.c_str(),
                       !p.error.empty() ? p.error.c_str()
                       : empty          ? "no run"
                                        : "errors");
        }
      }
    }
    for (const auto& problem : exit_problems_) {
      ++failures;
      std::fprintf(stderr, "%s\n", problem.c_str());
    }
    std::fprintf(stderr, "results: %s/summary.md\n", o_.out_dir.c_str());
    return failures == 0 ? 0 : 1;
  }

 private:
  int runs() const { return o_.smoke ? 1 : o_.runs; }
  int warmups() const { return o_.smoke ? 0 : 1; }

  int planned_runs(const std::string& name) const {
    const int per_point = runs() + warmups();
    if (name == "bulk") return 3 * per_point;
    if (name == "messages") return 3 * static_cast<int>(pair_counts().size()) * per_point;
    if (name == "rendezvous") return 5 * per_point;
    if (name == "latency")
      return per_point + 2 * static_cast<int>(load_shares().size()) * per_point;
    if (name == "idle") return runs();
    if (name == "localfirst") return 4 * per_point;
    if (name == "http") return 2 * per_point;
    return 0;
  }

  std::vector<int> pair_counts() const {
    return o_.smoke ? std::vector<int>{1, 4} : std::vector<int>{1, 10, 100};
  }
  std::vector<double> load_shares() const {
    return o_.smoke ? std::vector<double>{0.25, 0.5}
                    : std::vector<double>{0.1, 0.25, 0.5, 0.75, 0.9};
  }
  int latency_pairs() const { return o_.smoke ? 2 : 16; }

  LoadSpec spec_for(const ServerProcess& server, TargetKind kind) const {
    LoadSpec spec;
    spec.target.kind = kind;
    spec.target.endpoint = server.endpoint();
    spec.target.sas_key = server.sas_key();
    spec.target.bridge_api_key = server.bridge_api_key();
    spec.target.bridge_device_secret = server.bridge_device_secret();
    spec.server_pid = server.pid();
    spec.warmup = o_.smoke ? 0.3 : o_.warmup;
    spec.duration = o_.smoke ? 1.0 : o_.duration;
    return spec;
  }

  void progress(const std::string& scenario, const Point& p, const std::string& what) {
    ++done_;
    std::fprintf(stderr, "\r\033[K[%3d/%3d] %-10s %-11s %-10s %-14s %s", done_, planned_,
                 scenario.c_str(), p.target.c_str(), p.protocol.c_str(), p.load.c_str(),
                 what.c_str());
    std::fflush(stderr);
  }

  // One load on one point.
  struct Job {
    Point* point;
    LoadSpec spec;
    Metrics (*load)(const LoadSpec&);
    std::string headline;  // the metric the progress line shows
  };

  // Warm-up round(s), then the measured rounds; each round runs every job once, in turn, so that
  // the targets compared see the same moments of a noisy machine. A failing run ends its point
  // with its error.
  void measure_side_by_side(const std::string& scenario, const std::vector<Job>& jobs) {
    for (int i = 0; i < warmups() + runs(); ++i) {
      const bool warm = i < warmups();
      for (const auto& job : jobs) {
        Point& point = *job.point;
        if (!point.error.empty()) continue;
        try {
          Metrics m = job.load(job.spec);
          if (!warm) point.runs.push_back(m);
          std::string shown;
          for (const auto& [k, v] : m) {
            if (k == job.headline) shown = k + " " + fmt_number(v);
          }
          progress(scenario, point,
                   (warm ? std::string("warm-up ")
                         : fmt::format("run {}/{} ", i - warmups() + 1, runs())) +
                       shown);
        } catch (const std::exception& e) {
          point.error = e.what();
          progress(scenario, point, std::string("failed: ") + e.what());
          std::fprintf(stderr, "\n");
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(o_.smoke ? 50 : 300));
      }
    }
  }

  Point& add_point(ScenarioResult& r, const ServerProcess& server, const std::string& protocol,
                   const std::string& load, double x) {
    r.points.push_back({server_kind_name(server.kind()), protocol, load, x, {}, {}});
    return r.points.back();
  }

  const Point* find(const ScenarioResult& r, const std::string& target, const std::string& protocol,
                    double x = -1) const {
    for (const auto& p : r.points) {
      if (p.target == target && p.protocol == protocol && (x < 0 || p.x == x) && !p.runs.empty()) {
        return &p;
      }
    }
    return nullptr;
  }

  static void ratio_goal(ScenarioResult& r, const std::string& name, const Point* ours,
                         const Point* base, const std::string& metric, double at_least) {
    if (!ours || !base) return;
    const double value = ours->median(metric) / base->median(metric);
    r.goals.push_back(
        {name,
         fmt::format("{} / {} ({}: {} / {})", ours->target, base->target, metric,
                     fmt_number(ours->median(metric)), fmt_number(base->median(metric))),
         value, fmt::format(">= {}", at_least), value >= at_least});
  }

  // Switchboard's Hybrid Connections and the direct server, the pair most scenarios compare.
  static std::vector<std::pair<ServerProcess*, TargetKind>> against_direct(ServerProcess& ours,
                                                                           ServerProcess& direct) {
    return {{&ours, TargetKind::kHybrid}, {&direct, TargetKind::kDirect}};
  }
  // The same with Switchboard's bridge as well, for the scenarios that carry plain streams.
  static std::vector<std::pair<ServerProcess*, TargetKind>> relays_and_direct(
      ServerProcess& ours, ServerProcess& direct) {
    return {
        {&ours, TargetKind::kHybrid}, {&ours, TargetKind::kBridge}, {&direct, TargetKind::kDirect}};
  }

  void bulk(ScenarioResult& r) {
    r.columns = {"mb_per_s", "server_cpu_share", "generator_cpu_share"};
    r.notes.push_back(
        "One pair, 64 KiB binary messages sent continuously in both directions; MB/s counts both "
        "directions (10^6 bytes of payload per second). The direct server sends and discards "
        "itself.");
    ServerProcess ours(ServerKind::kSwitchboard, o_.servers);
    ServerProcess direct(ServerKind::kDirect, o_.servers);
    std::vector<Job> jobs;
    for (auto [server, target] : relays_and_direct(ours, direct)) {
      auto spec = spec_for(*server, target);
      spec.size = kBulkMessage;
      jobs.push_back({&add_point(r, *server, target_kind_name(target), "1 pair", 1), spec, run_bulk,
                      "mb_per_s"});
    }
    measure_side_by_side(r.name, jobs);
    ratio_goal(r, "bulk: >= 0.6 x direct", find(r, "switchboard", "hybrid"),
               find(r, "direct", "direct"), "mb_per_s", 0.6);
    ratio_goal(r, "bulk through a bridge: >= 0.6 x direct", find(r, "switchboard", "bridge"),
               find(r, "direct", "direct"), "mb_per_s", 0.6);
  }

  void messages(ScenarioResult& r) {
    r.columns = {"messages_per_s", "messages_per_server_cpu_s", "server_cpu_share",
                 "generator_cpu_share"};
    r.notes.push_back(
        "N pairs, 1 KiB binary messages echoed by the listener, 16 in flight per pair. A relayed "
        "message is one message carried one way by the relay (an echo is two); for the direct "
        "server, one message it echoed.");
    ServerProcess ours(ServerKind::kSwitchboard, o_.servers);
    ServerProcess direct(ServerKind::kDirect, o_.servers);
    for (int pairs : pair_counts()) {
      std::vector<Job> jobs;
      for (auto [server, target] : relays_and_direct(ours, direct)) {
        auto spec = spec_for(*server, target);
        spec.pairs = pairs;
        jobs.push_back({&add_point(r, *server, target_kind_name(target),
                                   fmt::format("pairs={}", pairs), pairs),
                        spec, run_messages, "messages_per_s"});
      }
      measure_side_by_side(r.name, jobs);
    }
    const double most = static_cast<double>(pair_counts().back());
    if (const Point* p = find(r, "switchboard", "hybrid", most)) {
      const double v = p->median("messages_per_server_cpu_s");
      r.goals.push_back({"messages: >= 250,000 relayed 1 KiB messages per relay CPU-second",
                         fmt::format("switchboard, {}", p->load), v, ">= 250000", v >= 250000});
    }
  }

  void rendezvous(ScenarioResult& r) {
    r.columns = {"pairs_per_s",      "pairs_per_server_cpu_s", "setup_p50_us", "setup_p99_us",
                 "server_cpu_share", "generator_cpu_share",    "errors"};
    r.notes.push_back(
        "New relayed pairs per second, 16 set-ups in flight: connect, accept, one byte each way, "
        "closing handshake. Hybrid Connections: sender, accept message on the listener's control "
        "channel, rendezvous leg. localfirst: two pipe sockets on reciprocal keys (the second "
        "dials once the first is held). Bridge: requester, notification on the device's control "
        "channel, accept socket (a new sealed token each). Direct: one connection, one byte "
        "echoed.");
    ServerProcess ours(ServerKind::kSwitchboard, o_.servers);
    ServerProcess reference(ServerKind::kReference, o_.servers);
    ServerProcess direct(ServerKind::kDirect, o_.servers);
    std::vector<Job> jobs;
    for (auto [server, target] :
         {std::pair{&ours, TargetKind::kHybrid}, std::pair{&ours, TargetKind::kLocalfirst},
          std::pair{&ours, TargetKind::kBridge}, std::pair{&reference, TargetKind::kLocalfirst},
          std::pair{&direct, TargetKind::kDirect}}) {
      auto spec = spec_for(*server, target);
      spec.concurrency = o_.smoke ? 4 : 16;
      jobs.push_back({&add_point(r, *server, target_kind_name(target),
                                 fmt::format("in flight={}", spec.concurrency), spec.concurrency),
                      spec, run_rendezvous, "pairs_per_s"});
    }
    measure_side_by_side(r.name, jobs);
    const Point* ref = find(r, "reference", "localfirst");
    ratio_goal(r, "rendezvous: >= 10 x @localfirst/relay (Hybrid Connections pairs)",
               find(r, "switchboard", "hybrid"), ref, "pairs_per_s", 10);
    ratio_goal(r, "rendezvous: >= 10 x @localfirst/relay (same protocol: localfirst pipes)",
               find(r, "switchboard", "localfirst"), ref, "pairs_per_s", 10);
    ratio_goal(r, "rendezvous per server CPU-second: >= 10 x @localfirst/relay (localfirst pipes)",
               find(r, "switchboard", "localfirst"), ref, "pairs_per_server_cpu_s", 10);
  }

  void latency(ScenarioResult& r) {
    r.columns = {"offered_per_s", "answered_per_s", "p50_us",           "p99_us",
                 "p999_us",       "max_us",         "server_cpu_share", "generator_busy_share"};
    r.notes.push_back(fmt::format(
        "Open loop: {} pairs, 1 KiB messages sent at a fixed total rate whatever the replies do, "
        "echoed by the far end; latency counts from when a message was due. The maximum is the "
        "closed-loop echo rate of the same pairs through Switchboard with one message in flight "
        "per pair; both targets are offered the same rates. The generator spins rather than "
        "sleeps (waking its core would add tens of microseconds to every message); "
        "generator_busy_share is the share of its time spent doing something.",
        latency_pairs()));
    ServerProcess ours(ServerKind::kSwitchboard, o_.servers);
    auto calibration = spec_for(ours, TargetKind::kHybrid);
    calibration.pairs = latency_pairs();
    calibration.window = 1;  // one message at a time per pair, as the open loop sends them
    Point& maximum = add_point(r, ours, "hybrid", "closed loop (maximum)", 0);
    measure_side_by_side(r.name, {{&maximum, calibration, run_messages, "echoes_per_s"}});
    const double max_rate = maximum.median("echoes_per_s");
    if (max_rate <= 0) return;
    r.notes.push_back(fmt::format("Measured maximum: {} echoes/s.", fmt_number(max_rate)));
    ServerProcess direct(ServerKind::kDirect, o_.servers);
    for (double share : load_shares()) {
      std::vector<Job> jobs;
      for (auto [server, target] : against_direct(ours, direct)) {
        auto spec = spec_for(*server, target);
        spec.pairs = latency_pairs();
        spec.rate = std::max(1.0, std::round(max_rate * share));
        jobs.push_back(
            {&add_point(r, *server, target_kind_name(target),
                        fmt::format("{:.0f}% ({} /s)", share * 100, fmt_number(spec.rate)),
                        share * 100),
             spec, run_latency, "p99_us"});
      }
      measure_side_by_side(r.name, jobs);
    }
    const Point* mine = find(r, "switchboard", "hybrid", 50);
    const Point* base = find(r, "direct", "direct", 50);
    if (mine && base) {
      const double v = mine->median("p99_us") - base->median("p99_us");
      r.goals.push_back(
          {"latency: p99 at 50% load <= direct p99 + 100 us",
           fmt::format("switchboard p99 {} us - direct p99 {} us",
                       fmt_number(mine->median("p99_us")), fmt_number(base->median("p99_us"))),
           v, "<= 100 (us)", v <= 100});
    }
  }

  // Children of this process, each holding part of the idle population (the open-file limit of
  // one process cannot hold both ends of every pair).
  struct IdleChild {
    pid_t pid = -1;
    int in = -1;   // its stdin: closing it lets it go
    int out = -1;  // its stdout: "ready N"
  };

  void idle(ScenarioResult& r) {
    r.columns = {"pairs", "rss_before_bytes", "rss_growth_bytes", "bytes_per_pair",
                 "bytes_per_connection"};
    const int procs = o_.smoke ? 2 : 4;
    for (int run = 0; run < runs(); ++run) {
      ServerProcess server(ServerKind::kSwitchboard, o_.servers);
      const long long limit = process_open_file_limit(server.pid());
      // Two descriptors per pair, one per control channel, and a margin for the server's own.
      const int pairs = o_.smoke ? 200 : static_cast<int>((limit - 64 - procs) / 2);
      if (r.points.empty()) {
        r.points.push_back({"switchboard",
                            "hybrid",
                            fmt::format("pairs={}", pairs),
                            static_cast<double>(pairs),
                            {},
                            {}});
        r.notes.push_back(fmt::format(
            "Relayed Hybrid Connections pairs held open and idle after one message each way; the "
            "server's open-file limit is {}, so {} pairs (two sockets each). Bytes per pair = "
            "growth of the server's VmRSS over its idle baseline, divided by the pairs. The "
            "clients are {} processes. Kernel socket memory is not in RSS.",
            limit, pairs, procs));
      }
      Point& point = r.points.front();
      try {
        const long long before = process_rss_bytes(server.pid());
        std::vector<IdleChild> children;
        for (int k = 0; k < procs; ++k) {
          const int share = pairs / procs + (k < pairs % procs ? 1 : 0);
          int in[2], out[2];
          if (pipe(in) != 0 || pipe(out) != 0) throw std::runtime_error("pipe failed");
          const std::vector<std::string> argv{
              o_.servers.self, "idle-client",
              "--port",        std::to_string(server.endpoint().port),
              "--pairs",       std::to_string(share),
              "--key",         server.sas_key(),
              "--path",        fmt::format("idle-{}-{}", run, k)};
          IdleChild child;
          child.pid = spawn(argv, in[0], out[1], -1);
          close(in[0]);
          close(out[1]);
          child.in = in[1];
          child.out = out[0];
          children.push_back(child);
        }
        int ready = 0;
        std::string failure;
        const auto deadline =
            std::chrono::steady_clock::now() + std::chrono::seconds(60 + pairs / 200);
        std::vector<std::string> lines(children.size());
        std::vector<bool> seen(children.size(), false);
        while (ready < procs && failure.empty() && std::chrono::steady_clock::now() < deadline) {
          std::vector<pollfd> fds;
          fds.reserve(children.size());
          for (const auto& c : children) fds.push_back({c.out, POLLIN, 0});
          poll(fds.data(), fds.size(), 200);
          for (std::size_t i = 0; i < children.size(); ++i) {
            if (!(fds[i].revents & (POLLIN | POLLHUP)) || seen[i]) continue;
            char buf[256];
            const ssize_t n = read(children[i].out, buf, sizeof buf);
            if (n <= 0) {
              failure = "an idle client exited before it was ready";
              continue;
            }
            lines[i].append(buf, static_cast<std::size_t>(n));
            if (lines[i].find("ready") != std::string::npos) {
              seen[i] = true;
              ++ready;
            }
          }
        }
        if (failure.empty() && ready < procs) failure = "idle clients were not ready in time";
        long long after = 0;
        if (failure.empty()) {
          std::this_thread::sleep_for(std::chrono::seconds(1));
          after = process_rss_bytes(server.pid());
        }
        for (auto& c : children) {
          close(c.in);
          close(c.out);
        }
        for (auto& c : children) {
          int status = 0;
          waitpid(c.pid, &status, 0);
        }
        if (!failure.empty()) throw std::runtime_error(failure);
        const double growth = static_cast<double>(after - before);
        point.runs.push_back({{"pairs", static_cast<double>(pairs)},
                              {"rss_before_bytes", static_cast<double>(before)},
                              {"rss_growth_bytes", growth},
                              {"bytes_per_pair", growth / pairs},
                              {"bytes_per_connection", growth / pairs / 2}});
        progress(r.name, point,
                 fmt::format("run {}/{} bytes_per_pair {}", run + 1, runs(),
                             fmt_number(growth / pairs)));
      } catch (const std::exception& e) {
        point.error = e.what();
        progress(r.name, point, std::string("failed: ") + e.what());
        std::fprintf(stderr, "\n");
        break;
      }
    }
    if (!r.points.empty() && !r.points.front().runs.empty()) {
      const double v = r.points.front().median("bytes_per_pair");
      r.goals.push_back({"idle: <= 6 KB of user-space memory per relayed connection",
                         "switchboard, RSS growth per relayed pair (both legs)", v,
                         "<= 6000 (bytes)", v <= 6000});
    }
  }

  void localfirst(ScenarioResult& r) {
    r.columns = {"pairings_per_s",
                 "pairings_per_server_cpu_s",
                 "messages_per_s",
                 "messages_per_server_cpu_s",
                 "server_cpu_share",
                 "generator_cpu_share",
                 "errors"};
    r.notes.push_back(
        "Pairing: what a Client does for one shared document, 16 at a time: two introduction "
        "sockets, a Join each, both Introductions, two pipe sockets, one byte each way, all four "
        "closed. Messages: 10 pipe pairs, 1 KiB binary messages echoed, 16 in flight per pair.");
    ServerProcess ours(ServerKind::kSwitchboard, o_.servers);
    ServerProcess reference(ServerKind::kReference, o_.servers);
    std::vector<Job> pairing, messages;
    for (auto* server : {&ours, &reference}) {
      auto spec = spec_for(*server, TargetKind::kLocalfirst);
      spec.concurrency = o_.smoke ? 4 : 16;
      pairing.push_back({&add_point(r, *server, "localfirst", "pairing", 0), spec,
                         run_localfirst_pairing, "pairings_per_s"});
      spec.pairs = o_.smoke ? 2 : 10;
      messages.push_back(
          {&add_point(r, *server, "localfirst", fmt::format("messages, pairs={}", spec.pairs), 1),
           spec, run_messages, "messages_per_s"});
    }
    measure_side_by_side(r.name, pairing);
    measure_side_by_side(r.name, messages);
    ratio_goal(r, "localfirst pairing: >= 10 x @localfirst/relay",
               find(r, "switchboard", "localfirst", 0), find(r, "reference", "localfirst", 0),
               "pairings_per_s", 10);
    ratio_goal(r, "localfirst pairing per server CPU-second: >= 10 x @localfirst/relay",
               find(r, "switchboard", "localfirst", 0), find(r, "reference", "localfirst", 0),
               "pairings_per_server_cpu_s", 10);
    ratio_goal(r, "localfirst messages: >= 10 x @localfirst/relay",
               find(r, "switchboard", "localfirst", 1), find(r, "reference", "localfirst", 1),
               "messages_per_s", 10);
  }

  void http(ScenarioResult& r) {
    r.columns = {"requests_per_s",
                 "requests_per_server_cpu_s",
                 "p50_us",
                 "p99_us",
                 "server_cpu_share",
                 "forwarder_cpu_share",
                 "service_cpu_share",
                 "generator_cpu_share",
                 "errors"};
    const int connections = o_.smoke ? 4 : 16;
    r.notes.push_back(fmt::format(
        "{} keep-alive connections, one GET in flight each (closed loop), answered 200 with a "
        "1 KiB body by the harness's HTTP service. Switchboard: GET /ENTITY/x with a Send token, "
        "relayed to a `switchboard forward -H ENTITY:http://SERVICE` listener, which makes the "
        "request again to the service over kept-alive connections; the forwarder and the service "
        "are pinned like the server. Direct: the same requests straight to the service. "
        "server_cpu_share is Switchboard's (for direct, the service's); request latency is from "
        "the first byte written to the last byte read. The reference server has no HTTP "
        "relaying.",
        connections));
    ServerProcess ours(ServerKind::kSwitchboard, o_.servers);
    ServerProcess service(ServerKind::kHttpService, o_.servers);
    const std::string entity = "bench-http-" + unique_tag();
    ServerProcess forwarder(ForwardTo{&ours, entity, service.endpoint()}, o_.servers);
    const std::string load = fmt::format("connections={}", connections);
    auto relayed = spec_for(ours, TargetKind::kHybrid);
    relayed.target.path = entity;
    relayed.forwarder_pid = forwarder.pid();
    relayed.service_pid = service.pid();
    auto direct = spec_for(service, TargetKind::kDirect);
    relayed.concurrency = direct.concurrency = connections;
    Point& through = add_point(r, ours, "hybrid", load, connections);
    // The service itself is the direct target.
    r.points.push_back({"direct", "direct", load, static_cast<double>(connections), {}, {}});
    measure_side_by_side(r.name, {{&through, relayed, run_http, "requests_per_s"},
                                  {&r.points.back(), direct, run_http, "requests_per_s"}});
    const Point* mine = find(r, "switchboard", "hybrid");
    const Point* base = find(r, "direct", "direct");
    if (mine && base) {
      r.notes.push_back(fmt::format(
          "Switchboard / direct: {} (requests/s, medians: {} / {}).",
          fmt_number(mine->median("requests_per_s") / base->median("requests_per_s")),
          fmt_number(mine->median("requests_per_s")), fmt_number(base->median("requests_per_s"))));
    }
  }

  json::object machine() const {
    utsname u{};
    uname(&u);
    std::string cpu;
    std::ifstream info("/proc/cpuinfo");
    for (std::string line; std::getline(info, line);) {
      if (line.rfind("model name", 0) == 0) {
        cpu = line.substr(line.find(':') + 2);
        break;
      }
    }
    const std::time_t now = std::time(nullptr);
    char date[32];
    std::strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&now));
    return {{"kernel", std::string(u.sysname) + " " + u.release},
            {"cpu", cpu},
            {"cores", sysconf(_SC_NPROCESSORS_ONLN)},
            {"memory_bytes",
             static_cast<std::int64_t>(sysconf(_SC_PHYS_PAGES)) * sysconf(_SC_PAGESIZE)},
            {"date", date},
            {"revision", o_.revision},
            {"node", command_output(o_.servers.node + " --version 2>/dev/null")},
            {"server_core", o_.servers.core},
            {"generator_core", o_.generator_core}};
  }

  json::object settings() const {
    return {{"runs", runs()},
            {"warmup_runs", warmups()},
            {"warmup_s", o_.smoke ? 0.3 : o_.warmup},
            {"duration_s", o_.smoke ? 1.0 : o_.duration},
            {"smoke", o_.smoke},
            {"switchboard",
             "switchboard serve --threads 1, max_pending_handshakes(_per_source) = 16384"},
            {"reference", "@localfirst/relay 4.2.2 Server on Node"},
            {"forwarder", "http: switchboard forward -H, pinned like the servers"}};
  }

  void write_json(const ScenarioResult& r) const {
    json::array points;
    for (const auto& p : r.points) {
      json::array runs;
      std::map<std::string, bool> names;
      for (const auto& run : p.runs) {
        json::object o;
        for (const auto& [k, v] : run) {
          o[k] = v;
          names[k] = true;
        }
        runs.push_back(std::move(o));
      }
      json::object summary;
      for (const auto& [name, _] : names) {
        const Summary s = p.summary(name);
        summary[name] = {{"median", s.median}, {"min", s.min}, {"max", s.max}};
      }
      json::object point{{"target", p.target}, {"protocol", p.protocol}, {"load", p.load},
                         {"x", p.x},           {"runs", runs},           {"summary", summary}};
      if (!p.error.empty()) point["error"] = p.error;
      points.push_back(std::move(point));
    }
    json::array goals;
    for (const auto& g : r.goals) {
      goals.push_back({{"goal", g.name},
                       {"measured", g.measured},
                       {"value", g.value},
                       {"target", g.target},
                       {"met", g.met}});
    }
    json::array notes;
    for (const auto& n : r.notes) notes.push_back(json::string(n));
    const json::object doc{{"scenario", r.name}, {"machine", machine()}, {"settings", settings()},
                           {"notes", notes},     {"points", points},     {"goals", goals}};
    std::ofstream(o_.out_dir + "/" + r.name + ".json") << json::serialize(doc) << "\n";
  }

  void write_summary(const std::vector<ScenarioResult>& results) const {
    std::ofstream md(o_.out_dir + "/summary.md");
    const json::object m = machine();
    md << "# Switchboard benchmark results\n\n";
    md << "Written by `scripts/bench` (`switchboard-bench suite`)"
       << (o_.smoke ? ", smoke run" : "")
       << ". Machine: " << json::value_to<std::string>(m.at("cpu")) << ", "
       << m.at("cores").as_int64() << " cores, " << json::value_to<std::string>(m.at("kernel"))
       << "; " << json::value_to<std::string>(m.at("date")) << "; revision "
       << json::value_to<std::string>(m.at("revision")) << ".\n\n";
    md << fmt::format(
        "Server pinned to core {} (`taskset`), load generator to core {}; {} warm-up and {} "
        "measured runs per point, {} s each after {} s of warm-up; the figures are medians with "
        "(min–max). Switchboard runs with `--threads 1`; the reference server is "
        "`@localfirst/relay` 4.2.2 on Node {}.\n\n",
        o_.servers.core, o_.generator_core, warmups(), runs(), o_.smoke ? 1.0 : o_.duration,
        o_.smoke ? 0.3 : o_.warmup, json::value_to<std::string>(m.at("node")));
    md << "## Goals\n\n| Goal | Measured | Value | Target | Met |\n|---|---|---|---|---|\n";
    for (const auto& r : results) {
      for (const auto& g : r.goals) {
        md << "| " << g.name << " | " << g.measured << " | " << fmt_number(g.value) << " | "
           << g.target << " | " << (g.met ? "yes" : "**no**") << " |\n";
      }
    }
    for (const auto& r : results) {
      md << "\n## " << r.name << "\n\n";
      for (const auto& n : r.notes) md << n << "\n\n";
      md << "| Target | Protocol | Load |";
      for (const auto& c : r.columns) md << " " << c << " |";
      md << "\n|---|---|---|";
      for (std::size_t i = 0; i < r.columns.size(); ++i) md << "---|";
      md << "\n";
      for (const auto& p : r.points) {
        md << "| " << p.target << " | " << p.protocol << " | " << p.load << " |";
        for (const auto& c : r.columns) {
          const auto values = p.values(c);
          if (values.empty()) {
            md << " |";
            continue;
          }
          const Summary s = summarize(values);
          md << " " << fmt_number(s.median);
          if (values.size() > 1) md << " (" << fmt_number(s.min) << "–" << fmt_number(s.max) << ")";
          md << " |";
        }
        if (!p.error.empty()) md << " failed: " << p.error;
        md << "\n";
      }
    }
  }

  // Data files and a gnuplot script for throughput and latency against load.
  void plot(const std::vector<ScenarioResult>& results) const {
    std::ostringstream script;
    script << "set terminal pngcairo size 960,560 font 'sans,10'\nset grid\nset key top left\n";
    bool any = false;
    for (const auto& r : results) {
      if (r.name == "messages") {
        for (const char* t : {"switchboard", "direct"}) {
          std::ofstream dat(o_.out_dir + "/messages-" + t + ".dat");
          dat << "# pairs median min max (messages/s), median min max (messages per server "
                 "CPU-s)\n";
          for (const auto& p : r.points) {
            if (p.target != t || p.runs.empty()) continue;
            const Summary a = p.summary("messages_per_s"),
                          b = p.summary("messages_per_server_cpu_s");
            dat << p.x << " " << a.median << " " << a.min << " " << a.max << " " << b.median << " "
                << b.min << " " << b.max << "\n";
          }
        }
        script
            << "set output 'messages.png'\nset key bottom right\nset title '1 KiB messages: "
               "throughput against load "
               "(median, min-max)'\nset logscale x\nset xlabel 'pairs'\nset ylabel 'messages/s'\n"
               "plot 'messages-switchboard.dat' using 1:2:3:4 with yerrorlines title "
               "'Switchboard (relayed messages/s)', 'messages-direct.dat' using 1:2:3:4 with "
               "yerrorlines title 'direct echo server (messages/s)', "
               "'messages-switchboard.dat' using 1:5:6:7 with yerrorlines title "
               "'Switchboard (relayed messages per server CPU-second)'\nunset logscale x\n";
        any = true;
      }
      if (r.name == "latency") {
        for (const char* t : {"switchboard", "direct"}) {
          std::ofstream dat(o_.out_dir + "/latency-" + t + ".dat");
          dat << "# load% offered/s p50 p99 p99.9 (us, medians)\n";
          for (const auto& p : r.points) {
            if (p.target != t || p.runs.empty() || p.x == 0) continue;
            dat << p.x << " " << p.median("offered_per_s") << " " << p.median("p50_us") << " "
                << p.median("p99_us") << " " << p.median("p999_us") << "\n";
          }
        }
        script << "set output 'latency.png'\nset key top left\nset title 'Echo latency against "
                  "offered load (open "
                  "loop, medians of runs)'\nset logscale y\nset xlabel 'offered messages/s'\n"
                  "set ylabel 'latency (us)'\nplot "
                  "'latency-switchboard.dat' using 2:3 with linespoints title 'Switchboard p50', "
                  "'latency-switchboard.dat' using 2:4 with linespoints title 'Switchboard p99', "
                  "'latency-switchboard.dat' using 2:5 with linespoints title 'Switchboard p99.9', "
                  "'latency-direct.dat' using 2:3 with linespoints dt 2 title 'direct p50', "
                  "'latency-direct.dat' using 2:4 with linespoints dt 2 title 'direct p99', "
                  "'latency-direct.dat' using 2:5 with linespoints dt 2 title 'direct p99.9'\n"
                  "unset logscale y\n";
        any = true;
      }
    }
    if (!any) return;
    std::ofstream(o_.out_dir + "/plots.gp") << script.str();
    const std::string command = "cd '" + o_.out_dir + "' && gnuplot plots.gp";
    if (command_output("command -v gnuplot").empty()) {
      std::fprintf(stderr, "gnuplot not found: %s/plots.gp written, no PNG\n", o_.out_dir.c_str());
      return;
    }
    if (std::system(command.c_str()) != 0) std::fprintf(stderr, "gnuplot failed\n");
  }

  SuiteOptions o_;
  std::vector<std::string> exit_problems_;
  int planned_ = 0;
  int done_ = 0;
};

}  // namespace

int run_suite(const SuiteOptions& options) {
  return Suite(options).run();
}

}  // namespace switchboard::bench
