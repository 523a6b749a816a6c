// `switchboard-bench suite`: every scenario against every target in one run, repeated, with
// medians, goals, JSON results, a markdown summary and gnuplot plots.
#pragma once

#include <string>
#include <vector>

#include "bench/harness/servers.hpp"

namespace switchboard::bench {

struct SuiteOptions {
  std::vector<std::string>
      scenarios;  // empty = all: bulk messages rendezvous latency idle localfirst http
  int runs = 5;
  double warmup = 1.0;
  double duration = 3.0;
  bool smoke = false;  // one short run per point, small populations; checks that all of it works
  std::string out_dir;
  ServerPaths servers;
  int generator_core = -1;
  std::string revision;  // what was measured (git describe), for the record
};

const std::vector<std::string>& all_scenarios();

// Returns 0 when every point produced results (and, in smoke mode, without errors).
int run_suite(const SuiteOptions& options);

}  // namespace switchboard::bench
