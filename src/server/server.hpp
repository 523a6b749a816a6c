// Start-up, the accept loop, routing of request heads to the protocol that owns them, and the
// orderly shutdown on SIGINT/SIGTERM.
#pragma once

#include "server/config.hpp"

namespace switchboard::server {

// Runs until SIGINT/SIGTERM; returns the process exit code.
int serve(Config config);

// Sets up spdlog for "text" or "json" output; false on an unknown format or level.
bool configure_logging(const std::string& level, const std::string& format);

}  // namespace switchboard::server
