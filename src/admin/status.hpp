// The plain-HTTP pages of the server: the dashboard at GET / and the status API at
// GET /api/status (localfirst protocol section 9 for its `localfirst` object).
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "core/handshake.hpp"

namespace switchboard::hybrid {
class Registry;
}
namespace switchboard::localfirst {
class Frontend;
}
namespace switchboard::bridge {
class Frontend;
}

namespace switchboard::admin {

struct Sources {
  const hybrid::Registry& hybrid;
  const localfirst::Frontend& localfirst;
  const bridge::Frontend& bridge;
  std::chrono::steady_clock::time_point started;
};

std::string status_json(const Sources& sources);

// Answers GET / and GET /api/status; false if the request is for neither.
bool handle(const std::shared_ptr<core::Handshake>& handshake, const Sources& sources);

}  // namespace switchboard::admin
