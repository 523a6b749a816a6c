#include "bench/harness/servers.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <random>
#include <regex>
#include <stdexcept>
#include <thread>

#include "bench/harness/stats.hpp"
#include "core/encoding.hpp"

namespace switchboard::bench {

const char* server_kind_name(ServerKind kind) {
  switch (kind) {
    case ServerKind::kSwitchboard:
      return "switchboard";
    case ServerKind::kReference:
      return "reference";
    case ServerKind::kDirect:
      return "direct";
    case ServerKind::kHttpService:
      return "http-service";
    case ServerKind::kForwarder:
      return "forwarder";
  }
  return "?";
}

pid_t spawn(const std::vector<std::string>& argv, int in, int out, int err) {
  const pid_t pid = fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    const int null = open("/dev/null", O_RDWR);
    dup2(in >= 0 ? in : null, STDIN_FILENO);
    if (out >= 0) dup2(out, STDOUT_FILENO);
    if (err >= 0) dup2(err, STDERR_FILENO);
    for (int fd = 3; fd < 1024; ++fd) close(fd);
    std::vector<char*> args;
    args.reserve(argv.size() + 1);
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execvp(args[0], args.data());
    std::fprintf(stderr, "cannot run %s\n", args[0]);
    _exit(127);
  }
  return pid;
}

std::string command_output(const std::string& command) {
  FILE* pipe = popen(command.c_str(), "r");
  if (!pipe) return {};
  char line[512] = {0};
  const bool got = std::fgets(line, sizeof line, pipe) != nullptr;
  pclose(pipe);
  if (!got) return {};
  std::string text(line);
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  return text;
}

namespace {

// The servers alive now, for the signal handler (plain stores and loads: async-signal-safe).
std::array<std::atomic<pid_t>, 16> live_servers{};

void remember(pid_t pid) {
  for (auto& slot : live_servers) {
    pid_t empty = 0;
    if (slot.compare_exchange_strong(empty, pid)) return;
  }
}

void forget(pid_t pid) {
  for (auto& slot : live_servers) {
    pid_t expected = pid;
    if (slot.compare_exchange_strong(expected, 0)) return;
  }
}

void on_fatal_signal(int signal) {
  for (auto& slot : live_servers) {
    const pid_t pid = slot.load();
    if (pid > 0) kill(pid, SIGTERM);
  }
  ::signal(signal, SIG_DFL);
  raise(signal);
}

std::string random_key() {
  std::random_device random;
  unsigned char bytes[32];
  for (auto& b : bytes) b = static_cast<unsigned char>(random());
  return core::base64_encode(bytes, sizeof bytes);
}

}  // namespace

ServerProcess::ServerProcess(ServerKind kind, const ServerPaths& paths)
    : kind_(kind), exit_problems_(paths.exit_problems) {
  std::vector<std::string> argv;
  if (paths.core >= 0) argv = {"taskset", "-c", std::to_string(paths.core)};
  std::string cwd;
  switch (kind) {
    case ServerKind::kSwitchboard:
      sas_key_ = random_key();
      {
        // All load comes from 127.0.0.1: the per-source handshake cap would otherwise be the
        // limit being measured.
        const std::string config = paths.log_dir + "/switchboard-bench.toml";
        std::ofstream(config) << "[limits]\nmax_pending_handshakes = 16384\n"
                                 "max_pending_handshakes_per_source = 16384\n"
                                 "[bridge]\nmax_pending_per_device = 16384\n";
        for (const auto& a :
             {paths.switchboard, std::string("serve"), std::string("--listen"),
              std::string("127.0.0.1:0"), std::string("--threads"), std::string("1"),
              std::string("--config"), config, std::string("--shutdown-grace"), std::string("1s"),
              std::string("--sas-key"), "bench=" + sas_key_, std::string("--bridge-api-key"),
              bridge_api_key(), std::string("--bridge-device-key-secret"),
              bridge_device_secret()}) {
          argv.push_back(a);
        }
      }
      break;
    case ServerKind::kReference:
      argv.push_back(paths.node);
      argv.push_back(paths.reference_dir + "/reference-server.mjs");
      argv.push_back("0");
      break;
    case ServerKind::kDirect:
    case ServerKind::kHttpService:
      argv.push_back(paths.self);
      argv.push_back(kind == ServerKind::kDirect ? "direct-server" : "http-service");
      argv.push_back("--listen");
      argv.push_back("127.0.0.1:0");
      break;
    case ServerKind::kForwarder:
      throw std::invalid_argument("a forwarder is started with ForwardTo");
  }
  // Each server names its port on a "listening on HOST:PORT" line.
  const std::regex listening("listening on ([0-9.]+):([0-9]+)");
  launch(argv, paths.log_dir, [this, &listening](const std::string& output) {
    std::smatch match;
    if (!std::regex_search(output, match, listening)) return false;
    endpoint_.host = match[1];
    endpoint_.port = static_cast<unsigned short>(std::stoi(match[2]));
    return true;
  });
}

ServerProcess::ServerProcess(const ForwardTo& forward, const ServerPaths& paths)
    : kind_(ServerKind::kForwarder), exit_problems_(paths.exit_problems) {
  std::vector<std::string> argv;
  if (paths.core >= 0) argv = {"taskset", "-c", std::to_string(paths.core)};
  endpoint_ = forward.relay->endpoint();
  const std::string relay = endpoint_.host + ":" + std::to_string(endpoint_.port);
  const std::string service = forward.service.host + ":" + std::to_string(forward.service.port);
  for (const auto& a :
       {paths.switchboard, std::string("forward"), std::string("--endpoint"), "ws://" + relay,
        std::string("--key-name"), std::string("bench"), std::string("--key"),
        forward.relay->sas_key(), std::string("-H"), forward.entity + ":http://" + service}) {
    argv.push_back(a);
  }
  // Its listener reports "...ENTITY: connected" once the relay holds its control channel.
  const std::string connected = forward.entity + ": connected\n";
  launch(argv, paths.log_dir, [&connected](const std::string& output) {
    return output.find(connected) != std::string::npos;
  });
}

void ServerProcess::launch(const std::vector<std::string>& argv, const std::string& log_dir,
                           const std::function<bool(const std::string&)>& ready) {
  log_ = log_dir + "/" + server_kind_name(kind_) + ".log";
  const std::string& log = log_;
  // Appended to: a log keeps every server of its kind that the run started.
  const int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  const std::size_t start = read_text_file(log).size();
  pid_ = spawn(argv, -1, fd, fd);
  remember(pid_);
  close(fd);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
  while (std::chrono::steady_clock::now() < deadline) {
    const std::string all = read_text_file(log);
    if (ready(all.size() > start ? all.substr(start) : std::string())) return;
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      forget(pid_);
      pid_ = -1;
      throw std::runtime_error(std::string(server_kind_name(kind_)) +
                               " server exited at start; see " + log);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  stop();
  throw std::runtime_error(std::string(server_kind_name(kind_)) + " server did not start; see " +
                           log);
}

ServerProcess::~ServerProcess() {
  stop();
}

void stop_servers_on_signals() {
  for (int signal : {SIGINT, SIGTERM, SIGHUP}) ::signal(signal, on_fatal_signal);
}

void ServerProcess::stop() {
  if (pid_ <= 0) return;
  forget(pid_);
  kill(pid_, SIGTERM);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  int status = 0;
  bool killed = false;
  while (waitpid(pid_, &status, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() > deadline) {
      kill(pid_, SIGKILL);
      waitpid(pid_, &status, 0);
      killed = true;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  pid_ = -1;
  const bool clean = !killed && ((WIFEXITED(status) && WEXITSTATUS(status) == 0) ||
                                 (WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM));
  if (!clean && exit_problems_) {
    exit_problems_->push_back(std::string(server_kind_name(kind_)) + " server " +
                              (killed ? "did not stop on SIGTERM"
                               : WIFEXITED(status)
                                   ? "exited with status " + std::to_string(WEXITSTATUS(status))
                                   : "died of signal " + std::to_string(WTERMSIG(status))) +
                              "; see " + log_);
  }
}

}  // namespace switchboard::bench
