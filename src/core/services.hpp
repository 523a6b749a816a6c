// What every connection may reach: limits, the per-source guard, the workers.
#pragma once

#include <atomic>

#include "core/limits.hpp"
#include "core/source_guard.hpp"
#include "core/worker_pool.hpp"

namespace switchboard::core {

struct Services {
  const Limits& limits;
  SourceGuard& guard;
  WorkerPool& workers;
  std::atomic<bool> stopping{false};
};

}  // namespace switchboard::core
