// The no-relay ceiling: a single-threaded WebSocket server in the harness that plays the far end
// itself. `/echo` sends every message back; `/bulk` discards what it reads and keeps sending
// 64 KiB binary messages; any other path is echoed too.
#pragma once

#include <string>

namespace switchboard::bench {

// Serves on `listen` (HOST:PORT) until SIGINT/SIGTERM; returns the exit code.
int run_direct_server(const std::string& listen);

}  // namespace switchboard::bench
