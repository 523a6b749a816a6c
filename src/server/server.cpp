#include "server/server.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <thread>

#include <openssl/rand.h>
#include <spdlog/spdlog.h>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>

#include "admin/status.hpp"
#include "bridge/frontend.hpp"
#include "core/encoding.hpp"
#include "core/handshake.hpp"
#include "core/relay_pump.hpp"
#include "core/services.hpp"
#include "hybrid/frontend.hpp"
#include "localfirst/frontend.hpp"
#include "polling/frontend.hpp"

namespace switchboard::server {
namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {

void raise_open_file_limit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return;
  const auto before = limit.rlim_cur;
  limit.rlim_cur = limit.rlim_max;
  if (setrlimit(RLIMIT_NOFILE, &limit) != 0) {
    spdlog::warn("could not raise the open-file limit from {}", before);
    return;
  }
  spdlog::info("open-file limit: {} (raised from {})", limit.rlim_cur, before);
}

std::string random_key() {
  unsigned char bytes[32];
  RAND_bytes(bytes, sizeof bytes);
  return core::base64_encode(bytes, sizeof bytes);
}

// The examples are shell commands in double quotes, so "$hc" is written "\$hc".
void print_banner(const std::string& key, const std::string& base) {
  const std::string listen = base + "/\\$hc/demo?sb-hc-action=listen";
  const std::string send = base + "/\\$hc/demo?sb-hc-action=connect";
  std::printf(
      "\nNo SAS rule configured: generated one for this run.\n"
      "  rule name: RootManageSharedAccessKey\n"
      "  key:       %s\n\n"
      "Try it (Node; in a folder with hyco-ws and ws installed, see README):\n"
      "  listener: node -e \"const WS=require('hyco-ws');const u='%s';"
      "WS.createRelayedServer({server:u,token:()=>WS.createRelayToken(u,'RootManageSharedAccessKey'"
      ",'%s')},"
      "s=>s.on('message',m=>s.send(m))).on('listening',()=>console.log('listening on demo'))"
      ".on('error',e=>console.error('listener:',e.message||e))\"\n"
      "  sender:   node -e \"const W=require('ws');const "
      "{createRelayToken}=require('hyco-ws');const u='%s';"
      "const w=new "
      "W(u,{headers:{ServiceBusAuthorization:createRelayToken(u,'RootManageSharedAccessKey','%s')}}"
      ");"
      "w.on('open',()=>w.send('hello through the "
      "relay'));w.on('message',m=>{console.log(String(m));w.close()});"
      "w.on('error',e=>console.error('sender:',e.message))\"\n\n",
      key.c_str(), listen.c_str(), key.c_str(), send.c_str(), key.c_str());
  std::fflush(stdout);
}

class Server {
 public:
  explicit Server(Config config)
      : config_(std::move(config)),
        guard_(config_.limits),
        workers_(config_.threads == 0 ? std::max(1u, std::thread::hardware_concurrency())
                                      : config_.threads),
        services_{config_.limits, guard_, workers_},
        hybrid_(config_.hybrid, services_),
        localfirst_(config_.localfirst, services_),
        bridge_(config_.bridge, services_),
        polling_(config_.polling, services_),
        status_sources_{hybrid_.registry(), localfirst_, bridge_, std::chrono::steady_clock::now()},
        signals_(main_, SIGINT, SIGTERM),
        drain_timer_(main_) {
    services_.route = [this](std::shared_ptr<core::Handshake> h) { route(std::move(h)); };
  }

  int run() {
    std::string host;
    unsigned short port = 0;
    if (!split_host_port(config_.listen, host, port)) {
      spdlog::error("--listen expects HOST:PORT, got '{}'", config_.listen);
      return 2;
    }
    boost::system::error_code ec;
    const auto address = asio::ip::make_address(host, ec);
    if (ec) {
      spdlog::error("--listen: '{}' is not an IP address", host);
      return 2;
    }
    const tcp::endpoint endpoint(address, port);
    // Every worker accepts on its own copy of the listening socket: a connection starts on the
    // thread that accepted it, with no hand-off between threads.
    Acceptor* first =
        acceptors_.emplace_back(std::make_unique<Acceptor>(workers_.context(0))).get();
    ec = core::listen_on(first->socket, endpoint);
    for (std::size_t i = 1; i < workers_.size() && !ec; ++i) {
      auto& copy = acceptors_.emplace_back(std::make_unique<Acceptor>(workers_.context(i)));
      const int fd = ::dup(first->socket.native_handle());
      if (fd < 0) {
        ec.assign(errno, boost::system::system_category());
        break;
      }
      copy->socket.assign(endpoint.protocol(), fd, ec);
      if (ec) ::close(fd);
    }
    if (ec) {
      spdlog::error("cannot listen on {}: {}", config_.listen, ec.message());
      return 1;
    }
    raise_open_file_limit();
    const auto bound = first->socket.local_endpoint();
    std::string shown_host =
        bound.address().is_unspecified() ? "127.0.0.1" : bound.address().to_string();
    if (bound.address().is_v6()) shown_host = "[" + shown_host + "]";
    const std::string authority = shown_host + ":" + std::to_string(bound.port());
    if (generated_key_) print_banner(*generated_key_, "ws://" + authority);
    workers_.start();
    spdlog::info("listening on {}:{} with {} worker threads", bound.address().to_string(),
                 bound.port(), workers_.size());
    spdlog::info("dashboard: http://{}/  status: http://{}/api/status", authority, authority);
    if (config_.localfirst.enabled) {
      spdlog::info("@localfirst/relay clients: new Client({{ url: 'ws://{}{}' }})", authority,
                   config_.localfirst.path_prefix);
    }
    signals_.async_wait([this](boost::system::error_code e, int signal) {
      if (!e) begin_shutdown(signal);
    });
    for (auto& a : acceptors_) {
      asio::post(a->context, [this, acceptor = a.get()] { do_accept(*acceptor); });
    }
    main_.run();
    workers_.stop();
    workers_.join();
    spdlog::info("stopped");
    return 0;
  }

  void use_generated_key(std::string key) { generated_key_ = std::move(key); }

 private:
  // A worker's listening socket, used only on that worker's thread.
  struct Acceptor {
    explicit Acceptor(asio::io_context& worker) : context(worker), socket(worker), retry(worker) {}
    asio::io_context& context;
    tcp::acceptor socket;
    asio::steady_timer retry;
  };

  void do_accept(Acceptor& acceptor) {
    acceptor.socket.async_accept(
        [this, &acceptor](boost::system::error_code ec, tcp::socket socket) {
          on_accept(ec, std::move(socket), acceptor);
        });
  }

  void on_accept(boost::system::error_code ec, tcp::socket socket, Acceptor& acceptor) {
    if (ec == asio::error::operation_aborted || !acceptor.socket.is_open()) return;
    if (ec) {
      // Out of descriptors and the like: log, pause briefly, keep serving.
      spdlog::warn("accept failed: {}", ec.message());
      acceptor.retry.expires_after(std::chrono::milliseconds(50));
      acceptor.retry.async_wait(
          [this, &acceptor](boost::system::error_code) { do_accept(acceptor); });
      return;
    }
    do_accept(acceptor);
    boost::system::error_code ignored;
    socket.set_option(tcp::no_delay(true), ignored);
    const auto remote = socket.remote_endpoint(ignored);
    core::RemoteEndpoint peer{remote.address().to_string(), remote.port()};
    core::SourceTicket ticket;
    const auto admission = guard_.admit(peer.address, ticket);
    const int family = remote.protocol().family();
    const int fd = socket.release(ignored);
    auto& worker = acceptor.context;
    auto handshake = std::make_shared<core::Handshake>(
        services_, worker, core::attach(worker, {family, fd}), std::move(peer), std::move(ticket));
    if (admission == core::SourceGuard::Admission::kServerBusy) {
      core::refuse(handshake,
                   {503, "Service Unavailable: too many connections in their handshake."},
                   core::Blame::kNone);
      return;
    }
    if (admission == core::SourceGuard::Admission::kSourceBusy) {
      core::refuse(handshake,
                   {429, "Too Many Requests: too many pending handshakes from this address."});
      return;
    }
    core::read_request_head(std::move(handshake), services_.route);
  }

  void route(std::shared_ptr<core::Handshake> handshake) {
    const auto path = handshake->request.path();
    if (hybrid::owns_path(path)) {
      hybrid_.handle(std::move(handshake));
      return;
    }
    if (bridge::owns_path(path)) {
      bridge_.handle(handshake);
      return;
    }
    if (config_.polling.enabled && polling::owns_path(path)) {
      polling_.handle(handshake);
      return;
    }
    if (localfirst_.owns(handshake->request)) {
      localfirst_.handle(handshake);
      return;
    }
    if (admin::handle(handshake, status_sources_)) return;
    if (handshake->request.is_websocket_upgrade()) {
      core::refuse(handshake, {404, "Not Found: there is no WebSocket endpoint at this path."});
      return;
    }
    hybrid_.handle_http(std::move(handshake));  // every other plain request is an HTTP sender
  }

  void begin_shutdown(int signal) {
    spdlog::info("signal {}: stopping; relayed connections may drain for {} ms", signal,
                 config_.shutdown_grace.count());
    services_.stopping = true;
    for (auto& a : acceptors_) {
      asio::post(a->context, [acceptor = a.get()] {
        boost::system::error_code ignored;
        acceptor->socket.close(ignored);
        acceptor->retry.cancel();
      });
    }
    hybrid_.shutdown();
    localfirst_.shutdown();
    bridge_.shutdown();
    polling_.shutdown();
    // Each worker runs the closes posted above before this marker (one thread, FIFO).
    workers_pending_ = static_cast<int>(workers_.size());
    for (std::size_t i = 0; i < workers_.size(); ++i) {
      asio::post(workers_.context(i), [this] { workers_pending_.fetch_sub(1); });
    }
    deadline_ = std::chrono::steady_clock::now() + config_.shutdown_grace;
    wait_for_drain(false);
  }

  // Polls until no pair is left; past the grace period, closes the rest with 1001 and gives them
  // close_timeout to finish their closing handshakes.
  void wait_for_drain(bool closing) {
    const bool flushed = workers_pending_.load() == 0;
    if ((flushed && core::RelayPump::active_pairs() == 0) ||
        (closing && std::chrono::steady_clock::now() >= deadline_)) {
      main_.stop();
      return;
    }
    if (!closing && std::chrono::steady_clock::now() >= deadline_) {
      spdlog::info("closing {} relayed connections", core::RelayPump::active_pairs());
      for (std::size_t i = 0; i < workers_.size(); ++i) {
        asio::post(workers_.context(i), [] {
          core::RelayPump::close_all_on_this_thread(1001, "Server shutting down.");
        });
      }
      deadline_ = std::chrono::steady_clock::now() + config_.limits.close_timeout;
      closing = true;
    }
    drain_timer_.expires_after(std::chrono::milliseconds(50));
    drain_timer_.async_wait(
        [this, closing](boost::system::error_code) { wait_for_drain(closing); });
  }

  Config config_;
  core::SourceGuard guard_;
  core::WorkerPool workers_;
  core::Services services_;
  hybrid::Frontend hybrid_;
  localfirst::Frontend localfirst_;
  bridge::Frontend bridge_;
  polling::Frontend polling_;
  admin::Sources status_sources_;
  asio::io_context main_;
  std::vector<std::unique_ptr<Acceptor>> acceptors_;
  asio::signal_set signals_;
  asio::steady_timer drain_timer_;
  std::chrono::steady_clock::time_point deadline_;
  std::optional<std::string> generated_key_;
  std::atomic<int> workers_pending_{0};
};

}  // namespace

int serve(Config config) {
  std::vector<std::string> sas_secrets;
  for (const auto& rule : config.hybrid.rules) {
    for (const auto* key : {&rule.primary_key, &rule.secondary_key}) {
      if (!key->empty()) sas_secrets.push_back(*key);
    }
  }
  if (auto problem = bridge::check_secrets(config.bridge, sas_secrets)) {
    spdlog::error("refusing to start: {}", *problem);
    return 2;
  }
  std::optional<std::string> generated;
  if (config.hybrid.rules.empty()) {
    generated = random_key();
    config.hybrid.rules.push_back(
        {"RootManageSharedAccessKey", *generated, "", auth::kListen | auth::kSend | auth::kManage});
  }
  Server server(std::move(config));
  if (generated) server.use_generated_key(*generated);
  return server.run();
}

}  // namespace switchboard::server
