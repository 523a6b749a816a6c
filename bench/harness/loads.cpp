#include "bench/harness/loads.hpp"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <functional>
#include <stdexcept>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <msgpack.hpp>

#include "auth/sas.hpp"
#include "bench/harness/http_load.hpp"
#include "bench/harness/stats.hpp"

namespace switchboard::bench {

namespace ws = core::ws;
using std::chrono::duration;
using std::chrono::duration_cast;
using std::chrono::nanoseconds;

namespace {

const std::string& payload_of(std::size_t size) {
  thread_local std::string bytes;
  if (bytes.size() < size) {
    bytes.resize(size);
    for (std::size_t i = 0; i < size; ++i) bytes[i] = static_cast<char>('a' + i % 26);
  }
  return bytes;
}

nanoseconds seconds(double s) {
  return duration_cast<nanoseconds>(duration<double>(s));
}

// Runs the loop until `done` holds; throws after `timeout` seconds.
void run_until(asio::io_context& io, const std::function<bool()>& done, double timeout,
               const char* what) {
  const auto deadline = std::chrono::steady_clock::now() + seconds(timeout);
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) {
      throw std::runtime_error(std::string("timed out: ") + what);
    }
    io.run_one_for(std::chrono::milliseconds(50));
  }
}

// Runs what is ready, such as the callback releases of closed connections, which break the
// reference cycles between flows and their connections.
void settle(asio::io_context& io) {
  for (int i = 0; i < 8 && io.poll() > 0; ++i) {
  }
}

void prepare(asio::io_context& io, Target& target) {
  bool ready = false;
  std::string failure;
  target.prepare([&](const std::string& error) {
    failure = error;
    ready = true;
  });
  run_until(
      io, [&] { return ready; }, 10, "target preparation");
  if (!failure.empty()) throw std::runtime_error(failure);
}

// Opens `count` pairs, at most `parallel` at a time.
std::vector<Pair> open_pairs(asio::io_context& io, Target& target, int count, Purpose purpose,
                             int parallel = 64) {
  std::vector<Pair> pairs;
  std::string failure;
  int started = 0, in_flight = 0;
  std::function<void()> more = [&] {
    while (failure.empty() && started < count && in_flight < parallel) {
      ++started;
      ++in_flight;
      target.open_pair(purpose, [&](Pair pair, const std::string& error) {
        --in_flight;
        if (!error.empty()) {
          failure = error;
          return;
        }
        pairs.push_back(std::move(pair));
        more();
      });
    }
  };
  more();
  run_until(
      io, [&] { return !failure.empty() || static_cast<int>(pairs.size()) == count; },
      10 + count / 100.0, "opening pairs");
  if (!failure.empty()) throw std::runtime_error("opening a pair: " + failure);
  return pairs;
}

void abort_all(std::vector<Pair>& pairs) {
  for (auto& p : pairs) {
    if (p.a) p.a->abort();
    if (p.b) p.b->abort();
  }
}

// One load's loop, its target (prepared) and its pairs; on the way out the pairs are dropped,
// the target stopped and what is ready run, so nothing outlives the loop.
struct Session {
  Session(const LoadSpec& spec, int pair_count, Purpose purpose, int parallel = 64)
      : target(make_target(io, spec.target)) {
    prepare(io, *target);
    pairs = open_pairs(io, *target, pair_count, purpose, parallel);
  }
  ~Session() {
    abort_all(pairs);
    target->stop();
    settle(io);
  }
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  asio::io_context io{1};
  // The loop waits for the clock, never for work.
  asio::executor_work_guard<asio::io_context::executor_type> busy = asio::make_work_guard(io);
  std::unique_ptr<Target> target;
  std::vector<Pair> pairs;
};

void echo_on(const std::shared_ptr<WsConn>& conn) {
  WsConn* raw = conn.get();
  conn->on_message = [raw](std::uint8_t opcode, std::string_view payload, std::size_t) {
    raw->send(opcode, payload);
  };
}

struct Snapshot {
  std::int64_t t = 0;
  double server_cpu = 0;
  double own_cpu = 0;
};

Snapshot snapshot(pid_t server) {
  return {now_ns(), server > 0 ? process_cpu_seconds(server) : 0, own_cpu_seconds()};
}

// Elapsed seconds and CPU shares between two snapshots.
struct Window {
  double seconds = 0;
  double server_cpu = 0;  // CPU seconds
  double own_cpu = 0;
};

Window between(const Snapshot& a, const Snapshot& b) {
  return {static_cast<double>(b.t - a.t) / 1e9, b.server_cpu - a.server_cpu, b.own_cpu - a.own_cpu};
}

void add_cpu(Metrics& m, const Window& w) {
  m.emplace_back("server_cpu_share", w.server_cpu / w.seconds);
  m.emplace_back("generator_cpu_share", w.own_cpu / w.seconds);
}

// Runs the warm-up, then the window; `start` and `stop` mark its ends for the scenario.
Window measure(asio::io_context& io, const LoadSpec& spec, const std::function<void()>& start,
               const std::function<void()>& stop) {
  io.run_for(seconds(spec.warmup));
  start();
  const Snapshot a = snapshot(spec.server_pid);
  io.run_for(seconds(spec.duration));
  const Snapshot b = snapshot(spec.server_pid);
  stop();
  return between(a, b);
}

std::string join_message(const std::string& document) {
  msgpack::sbuffer buffer;
  msgpack::packer<msgpack::sbuffer> pack(buffer);
  pack.pack_map(2);
  pack.pack(std::string("type"));
  pack.pack(std::string("Join"));
  pack.pack(std::string("documentIds"));
  pack.pack_array(1);
  pack.pack(document);
  return {buffer.data(), buffer.size()};
}

// Whether a localfirst message is an Introduction of `peer`.
bool introduces(std::string_view bytes, const std::string& peer) {
  try {
    const auto handle = msgpack::unpack(bytes.data(), bytes.size());
    const auto fields = handle.get().as<std::map<std::string, msgpack::object>>();
    const auto type = fields.find("type");
    const auto id = fields.find("peerId");
    return type != fields.end() && id != fields.end() &&
           type->second.as<std::string>() == "Introduction" && id->second.as<std::string>() == peer;
  } catch (const std::exception&) {
    return false;
  }
}

}  // namespace

void keep_sending(WsConn& conn, std::size_t size) {
  WsConn* raw = &conn;
  const std::string& payload = payload_of(size);
  conn.on_drained = [raw, size, &payload] {
    while (raw->queued() < 4 * size && !raw->closed()) raw->send(ws::kBinary, payload.data(), size);
  };
  conn.on_drained();
}

Metrics run_bulk(const LoadSpec& spec) {
  Session session(spec, 1, Purpose::kBulk);
  auto& io = session.io;
  auto& pairs = session.pairs;
  Pair& p = pairs.front();
  for (auto* c : {p.a.get(), p.b.get()}) {
    if (!c) continue;
    c->keep_payload = false;
    c->start();
    keep_sending(*c, spec.size);
  }
  // Toward the far end: what b received, or, for the direct server, what a got into the kernel.
  const auto moved = [&] {
    return p.a->bytes_received() + (p.b ? p.b->bytes_received() : p.a->bytes_written());
  };
  std::uint64_t from = 0, to = 0;
  const Window w = measure(
      io, spec, [&] { from = moved(); }, [&] { to = moved(); });
  Metrics m{{"mb_per_s", static_cast<double>(to - from) / 1e6 / w.seconds}};
  add_cpu(m, w);
  return m;
}

Metrics run_messages(const LoadSpec& spec) {
  Session session(spec, spec.pairs, Purpose::kEcho);
  auto& io = session.io;
  auto& pairs = session.pairs;
  std::uint64_t echoes = 0;
  const std::string& payload = payload_of(spec.size);
  for (auto& p : pairs) {
    WsConn* a = p.a.get();
    const std::size_t size = spec.size;
    a->on_message = [a, &echoes, &payload, size](std::uint8_t, std::string_view, std::size_t) {
      ++echoes;
      a->send(ws::kBinary, payload.data(), size);
    };
    if (p.b) {
      echo_on(p.b);
      p.b->start();
    }
    a->start();
    for (int i = 0; i < spec.window; ++i) a->send(ws::kBinary, payload.data(), size);
  }
  std::uint64_t from = 0, to = 0;
  const Window w = measure(
      io, spec, [&] { from = echoes; }, [&] { to = echoes; });
  const double per_s = static_cast<double>(to - from) / w.seconds;
  // Through a relay each echo is two relayed messages; the direct server handles each once.
  const double relayed = spec.target.kind == TargetKind::kDirect ? per_s : 2 * per_s;
  Metrics m{{"echoes_per_s", per_s},
            {"messages_per_s", relayed},
            {"messages_per_server_cpu_s", relayed * w.seconds / std::max(w.server_cpu, 1e-9)}};
  add_cpu(m, w);
  return m;
}

namespace {

// Starts one set-up; calls `done` once, with an error or an empty string, when it has ended.
using SetupFn = std::function<void(std::function<void(const std::string& error)> done)>;

// Keeps spec.concurrency set-ups in flight, replacing each as it ends, and counts those that end
// inside the window; `name` names the rate (name_per_s, name_per_server_cpu_s).
Metrics run_setups(asio::io_context& io, const LoadSpec& spec, const SetupFn& begin,
                   const std::string& name) {
  std::uint64_t completed = 0, failed = 0, errors_before = 0;
  bool running = true, counting = false;
  int in_flight = 0;
  std::string last_error;
  Histogram times;  // from the first connect to the last socket closed
  std::function<void()> start_one = [&] {
    ++in_flight;
    const std::int64_t begun = now_ns();
    begin([&, begun](const std::string& error) {
      --in_flight;
      if (!error.empty()) {
        ++failed;
        last_error = error;
      } else if (counting) {
        ++completed;
        times.record(static_cast<std::uint64_t>(now_ns() - begun));
      }
      if (running) start_one();
    });
  };
  for (int i = 0; i < spec.concurrency; ++i) start_one();
  const Window w = measure(
      io, spec,
      [&] {
        counting = true;
        errors_before = failed;
      },
      [&] { counting = false; });
  running = false;
  run_until(
      io, [&] { return in_flight == 0; }, 10, "set-ups in flight to finish");
  if (completed == 0) throw std::runtime_error("no " + name + " completed: " + last_error);
  Metrics m{
      {name + "_per_s", static_cast<double>(completed) / w.seconds},
      {name + "_per_server_cpu_s", static_cast<double>(completed) / std::max(w.server_cpu, 1e-9)},
      {"setup_p50_us", static_cast<double>(times.quantile(0.5)) / 1e3},
      {"setup_p99_us", static_cast<double>(times.quantile(0.99)) / 1e3},
      {"errors", static_cast<double>(failed - errors_before)}};
  add_cpu(m, w);
  return m;
}

}  // namespace

Metrics run_rendezvous(const LoadSpec& spec) {
  Session session(spec, 0, Purpose::kEcho);
  auto& io = session.io;
  auto& target = session.target;
  // One pair: a sends a byte, b echoes it, a closes; done once both legs have closed.
  const SetupFn one_pair = [&](std::function<void(const std::string&)> done) {
    target->open_pair(Purpose::kEcho, [done](const Pair& pair, const std::string& error) {
      if (!error.empty()) return done(error);
      auto open = std::make_shared<int>(pair.b ? 2 : 1);
      auto echoed = std::make_shared<bool>(false);
      const auto closed = [open, echoed, done](std::uint16_t) {
        if (--*open == 0) done(*echoed ? "" : "the pair closed before its byte came back");
      };
      WsConn* a = pair.a.get();
      // The legs keep themselves alive through their pending operations and these captures.
      a->on_closed = [closed, keep = pair.a](std::uint16_t code) { closed(code); };
      a->on_message = [a, echoed](std::uint8_t, std::string_view, std::size_t) {
        *echoed = true;
        a->close();
      };
      if (pair.b) {
        WsConn* b = pair.b.get();
        b->on_closed = [closed, keep = pair.b](std::uint16_t code) { closed(code); };
        echo_on(pair.b);
        b->start();
      }
      a->start();
      a->send(ws::kBinary, "x", 1);
    });
  };
  return run_setups(io, spec, one_pair, "pairs");
}

Metrics run_latency(const LoadSpec& spec) {
  if (spec.rate <= 0) throw std::invalid_argument("latency needs a rate");
  Session session(spec, spec.pairs, Purpose::kEcho);
  auto& io = session.io;
  auto& pairs = session.pairs;
  Histogram latency;
  std::int64_t window_start = INT64_MAX, window_end = INT64_MAX;
  std::uint64_t sent = 0, received = 0;
  for (auto& p : pairs) {
    p.a->on_message = [&](std::uint8_t, std::string_view payload, std::size_t) {
      std::int64_t due = 0;
      if (payload.size() < sizeof due) return;
      std::memcpy(&due, payload.data(), sizeof due);
      if (due >= window_start && due < window_end) {
        latency.record(static_cast<std::uint64_t>(now_ns() - due));
        ++received;
      }
    };
    if (p.b) {
      echo_on(p.b);
      p.b->start();
    }
    p.a->start();
  }
  // Open loop: message k is due at start + k / rate whatever happened to the earlier ones, and its
  // latency counts from when it was due (no coordinated omission).
  std::string message = payload_of(spec.size).substr(0, spec.size);
  const double interval = 1e9 / spec.rate;
  const std::int64_t origin = now_ns();
  std::uint64_t k = 0;
  bool sending = true;
  const auto send_due = [&](std::int64_t now) {
    std::int64_t due = origin + static_cast<std::int64_t>(static_cast<double>(k) * interval);
    if (!sending || due > now) return false;
    for (auto& p : pairs) p.a->cork();  // what is due goes out in one write per connection
    while (due <= now) {
      std::memcpy(message.data(), &due, sizeof due);
      pairs[k % pairs.size()].a->send(ws::kBinary, message);
      if (due >= window_start && due < window_end) ++sent;
      ++k;
      due = origin + static_cast<std::int64_t>(static_cast<double>(k) * interval);
    }
    for (auto& p : pairs) p.a->uncork();
    return true;
  };
  // The generator spins instead of sleeping between messages, so that waking its own core (tens of
  // microseconds here) is not part of what is measured; the server sleeps as it always does. The
  // time spent in rounds that did something is the generator's real load.
  std::int64_t busy_ns = 0;
  const auto spin_for = [&](double length) {
    const std::int64_t end = now_ns() + seconds(length).count();
    for (std::int64_t now = now_ns(); now < end;) {
      const bool worked = io.poll() > 0;
      const bool sent_some = send_due(now_ns());
      const std::int64_t after = now_ns();
      if (worked || sent_some) busy_ns += after - now;
      now = after;
    }
  };
  spin_for(spec.warmup);
  window_start = now_ns();
  busy_ns = 0;
  const Snapshot a = snapshot(spec.server_pid);
  spin_for(spec.duration);
  const Snapshot b = snapshot(spec.server_pid);
  const std::int64_t window_busy = busy_ns;
  window_end = now_ns();
  sending = false;
  spin_for(0.3);  // replies still in flight
  const Window w = between(a, b);
  const auto us = [&](double q) { return static_cast<double>(latency.quantile(q)) / 1e3; };
  Metrics m{{"offered_per_s", spec.rate},
            {"answered_per_s", static_cast<double>(received) / w.seconds},
            {"lost", static_cast<double>(sent - std::min(sent, received))},
            {"p50_us", us(0.5)},
            {"p90_us", us(0.9)},
            {"p99_us", us(0.99)},
            {"p999_us", us(0.999)},
            {"max_us", static_cast<double>(latency.max()) / 1e3},
            {"server_cpu_share", w.server_cpu / w.seconds},
            {"generator_busy_share", static_cast<double>(window_busy) / 1e9 / w.seconds}};
  return m;
}

namespace {

// What a Client does for one shared document: peers p and q open introduction sockets and join a
// new document; each, once introduced to the other, dials its pipe and sends one byte; once both
// pipes received one, all four sockets close.
class PairingFlow : public std::enable_shared_from_this<PairingFlow> {
 public:
  using Done = std::function<void(const std::string& error)>;
  PairingFlow(asio::io_context& io, Endpoint to, const std::string& n, Done done)
      : io_(io),
        to_(std::move(to)),
        p_("p" + n),
        q_("q" + n),
        doc_("d" + n),
        done_(std::move(done)) {}

  void start() {
    introduce(p_, q_);
    introduce(q_, p_);
  }

 private:
  void introduce(const std::string& self, const std::string& other) {
    open_ws(io_, to_, "/introduction/" + self, {},
            [flow = shared_from_this(), self, other](const std::shared_ptr<WsConn>& intro,
                                                     const std::string& error) {
              if (!error.empty()) return flow->end("introduction: " + error);
              flow->track(intro);
              auto introduced = std::make_shared<bool>(false);
              intro->on_message = [flow, self, other, introduced](
                                      std::uint8_t, std::string_view bytes, std::size_t) {
                if (*introduced) return;
                if (!introduces(bytes, other)) return flow->end("unexpected introduction");
                *introduced = true;
                flow->dial(self, other);
              };
              intro->start();
              intro->send(ws::kBinary, join_message(flow->doc_));
            });
  }

  void dial(const std::string& self, const std::string& other) {
    open_ws(
        io_, to_, "/connection/" + self + "/" + other + "/" + doc_, {},
        [flow = shared_from_this()](const std::shared_ptr<WsConn>& pipe, const std::string& error) {
          if (!error.empty()) return flow->end("pipe: " + error);
          flow->track(pipe);
          pipe->on_message = [flow](std::uint8_t, std::string_view, std::size_t) {
            if (++flow->received_ < 2) return;
            for (auto& s : flow->sockets_) s->close();
          };
          pipe->start();
          pipe->send(ws::kBinary, "x", 1);
        });
  }

  void track(const std::shared_ptr<WsConn>& conn) {
    sockets_.push_back(conn);
    ++open_;
    conn->on_closed = [flow = shared_from_this()](std::uint16_t) {
      if (--flow->open_ > 0) return;
      flow->end(flow->received_ >= 2 ? "" : "the sockets closed before both bytes arrived");
    };
  }

  void end(const std::string& error) {
    if (ended_) return;
    ended_ = true;
    if (!error.empty()) {
      for (auto& s : sockets_) s->abort();
    }
    done_(error);
  }

  asio::io_context& io_;
  Endpoint to_;
  std::string p_, q_, doc_;
  Done done_;
  std::vector<std::shared_ptr<WsConn>> sockets_;
  int open_ = 0;
  int received_ = 0;
  bool ended_ = false;
};

}  // namespace

Metrics run_localfirst_pairing(const LoadSpec& spec) {
  asio::io_context io(1);
  const auto busy = asio::make_work_guard(io);  // the loop waits for the clock, never for work
  const std::string tag = unique_tag();
  std::uint64_t next = 0;
  const SetupFn one_pairing = [&](std::function<void(const std::string&)> done) {
    const std::string n = tag + "-" + std::to_string(next++);
    std::make_shared<PairingFlow>(io, spec.target.endpoint, n, std::move(done))->start();
  };
  Metrics m = run_setups(io, spec, one_pairing, "pairings");
  settle(io);
  return m;
}

namespace {

// The request run_http sends: the same GET either way; through Switchboard it names the entity
// and carries a Send token.
std::string http_request(const TargetOptions& target) {
  if (target.kind == TargetKind::kDirect) return render_get(target.endpoint, "/x", {});
  if (target.path.empty()) throw std::invalid_argument("http through a relay needs its entity");
  const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
  const std::string token =
      auth::create_token("http://" + target.endpoint.host + ":" +
                             std::to_string(target.endpoint.port) + "/" + target.path,
                         target.sas_key_name, target.sas_key, now + std::int64_t{24} * 3600);
  return render_get(target.endpoint, "/" + target.path + "/x",
                    {{"ServiceBusAuthorization", token}});
}

// The generator's clients, closed on the way out, failure or not.
struct HttpClients {
  asio::io_context& io;
  std::vector<std::shared_ptr<HttpClient>> all;
  ~HttpClients() {
    for (auto& c : all) c->abort();
    settle(io);
  }
};

double cpu_of(pid_t pid) {
  return pid > 0 ? process_cpu_seconds(pid) : 0;
}

}  // namespace

Metrics run_http(const LoadSpec& spec) {
  asio::io_context io(1);
  const auto busy = asio::make_work_guard(io);  // the loop waits for the clock, never for work
  const std::string request = http_request(spec.target);
  HttpClients clients{io, {}};
  for (int i = 0; i < spec.concurrency; ++i) {
    clients.all.push_back(make_http_client(io, spec.target.endpoint, request));
  }
  std::uint64_t completed = 0, failed = 0, errors_before = 0, connects_before = 0;
  bool running = true, counting = false;
  int in_flight = 0;
  std::string last_error;
  Histogram times;  // from the request's first byte written to its response's last byte read
  std::function<void(HttpClient&)> ask = [&](HttpClient& client) {
    ++in_flight;
    const std::int64_t begun = now_ns();
    client.send([&, begun, c = &client](const std::string& error, const HttpResponse& response) {
      --in_flight;
      if (error.empty() && response.status == 200 && response.body_size == kHttpBody) {
        if (counting) {
          ++completed;
          times.record(static_cast<std::uint64_t>(now_ns() - begun));
        }
      } else {
        ++failed;
        last_error = !error.empty() ? error
                                    : "status " + std::to_string(response.status) + " with " +
                                          std::to_string(response.body_size) + " body bytes";
      }
      if (running) ask(*c);
    });
  };
  const auto connects = [&] {
    std::uint64_t n = 0;
    for (const auto& c : clients.all) n += c->connects();
    return n;
  };
  for (auto& c : clients.all) ask(*c);
  double forwarder_cpu = 0, service_cpu = 0;
  std::uint64_t reconnects = 0;
  const Window w = measure(
      io, spec,
      [&] {
        counting = true;
        errors_before = failed;
        connects_before = connects();
        forwarder_cpu = -cpu_of(spec.forwarder_pid);
        service_cpu = -cpu_of(spec.service_pid);
      },
      [&] {
        counting = false;
        reconnects = connects() - connects_before;
        forwarder_cpu += cpu_of(spec.forwarder_pid);
        service_cpu += cpu_of(spec.service_pid);
      });
  running = false;
  run_until(
      io, [&] { return in_flight == 0; }, 10, "requests in flight to finish");
  if (completed == 0) throw std::runtime_error("no request completed: " + last_error);
  const auto us = [&](double q) { return static_cast<double>(times.quantile(q)) / 1e3; };
  Metrics m{
      {"requests_per_s", static_cast<double>(completed) / w.seconds},
      {"requests_per_server_cpu_s", static_cast<double>(completed) / std::max(w.server_cpu, 1e-9)},
      {"p50_us", us(0.5)},
      {"p99_us", us(0.99)},
      {"errors", static_cast<double>(failed - errors_before)},
      {"reconnects", static_cast<double>(reconnects)}};
  add_cpu(m, w);
  if (spec.forwarder_pid > 0) m.emplace_back("forwarder_cpu_share", forwarder_cpu / w.seconds);
  if (spec.service_pid > 0) m.emplace_back("service_cpu_share", service_cpu / w.seconds);
  return m;
}

int run_idle_client(const LoadSpec& spec) {
  Session session(spec, spec.pairs, Purpose::kEcho, 128);
  auto& io = session.io;
  auto& pairs = session.pairs;
  int answered = 0;
  for (auto& p : pairs) {
    p.a->on_message = [&](std::uint8_t, std::string_view, std::size_t) { ++answered; };
    if (p.b) {
      echo_on(p.b);
      p.b->start();
    }
    p.a->start();
    p.a->send(ws::kBinary, "x", 1);
  }
  run_until(
      io, [&] { return answered == spec.pairs; }, 30, "a message each way on every pair");
  std::printf("ready %d\n", spec.pairs);
  std::fflush(stdout);
  asio::posix::stream_descriptor input(io, ::dup(STDIN_FILENO));
  char sink[64];
  std::function<void()> wait_input = [&] {
    input.async_read_some(asio::buffer(sink), [&](boost::system::error_code ec, std::size_t) {
      if (ec) {
        io.stop();
        return;
      }
      wait_input();
    });
  };
  wait_input();
  io.run();
  return 0;
}

}  // namespace switchboard::bench
