// What every connection may reach: limits, the per-source guard, the workers.
#pragma once

#include <atomic>
#include <functional>
#include <memory>

#include "core/limits.hpp"
#include "core/source_guard.hpp"
#include "core/worker_pool.hpp"

namespace switchboard::core {

class Handshake;

struct Services {
  const Limits& limits;
  SourceGuard& guard;
  WorkerPool& workers;
  std::atomic<bool> stopping{false};
  // Routes a request head to the protocol that owns it: the next request of a kept-alive
  // connection goes through here again.
  std::function<void(std::shared_ptr<Handshake>)> route = {};
};

}  // namespace switchboard::core
