// The client subcommands of `switchboard`: token, listen, connect, forward.
#pragma once

#include <functional>
#include <vector>

#include <CLI/CLI.hpp>

namespace switchboard::tools {

struct Subcommand {
  CLI::App* app;
  std::function<int()> run;  // the exit status
};

std::vector<Subcommand> add_stdio_commands(CLI::App& app);  // token, listen, connect
Subcommand add_forward_command(CLI::App& app);

}  // namespace switchboard::tools
