#include "bench/harness/targets.hpp"

#include <atomic>
#include <chrono>
#include <random>
#include <stdexcept>
#include <unordered_map>

#include <boost/json.hpp>
#include <boost/url/parse.hpp>

#include "auth/bridge_token.hpp"
#include "auth/sas.hpp"

namespace switchboard::bench {

namespace json = boost::json;

void open_ws(asio::io_context& io, const Endpoint& to, std::string target, Headers headers,
             OpenDone done) {
  connect_websocket(
      io, to, std::move(target), std::move(headers),
      [done = std::move(done)](Socket socket, Upgraded result) {
        if (result.status != 101) {
          done(nullptr, result.status == 0 ? result.reason
                                           : std::to_string(result.status) + " " + result.reason);
          return;
        }
        done(std::make_shared<WsConn>(std::move(socket), Role::kClient, std::move(result.leftover)),
             {});
      });
}

TargetKind parse_target_kind(const std::string& name) {
  if (name == "direct") return TargetKind::kDirect;
  if (name == "hybrid") return TargetKind::kHybrid;
  if (name == "localfirst") return TargetKind::kLocalfirst;
  if (name == "bridge") return TargetKind::kBridge;
  throw std::invalid_argument("unknown target kind '" + name + "'");
}

const char* target_kind_name(TargetKind kind) {
  switch (kind) {
    case TargetKind::kDirect:
      return "direct";
    case TargetKind::kHybrid:
      return "hybrid";
    case TargetKind::kLocalfirst:
      return "localfirst";
    case TargetKind::kBridge:
      return "bridge";
  }
  return "?";
}

std::string unique_tag() {
  static std::atomic<unsigned> counter{0};
  thread_local std::mt19937 random(std::random_device{}());
  return std::to_string(random() % 1000000) + "x" + std::to_string(counter++);
}

namespace {

class DirectTarget : public Target {
 public:
  DirectTarget(asio::io_context& io, Endpoint to) : io_(io), to_(std::move(to)) {}

  void open_pair(Purpose purpose, PairDone done) override {
    open_ws(io_, to_, purpose == Purpose::kBulk ? "/bulk" : "/echo", {},
            [done = std::move(done)](std::shared_ptr<WsConn> conn, const std::string& error) {
              done(Pair{std::move(conn), nullptr}, error);
            });
  }

 private:
  asio::io_context& io_;
  Endpoint to_;
};

// A control message (JSON; null when it does not parse) and its object member `name`, if any.
json::value parse_control(std::string_view text) {
  boost::system::error_code ec;
  json::value message = json::parse(text, ec);
  return ec ? json::value() : message;
}
const json::object* member_object(const json::value& message, std::string_view name) {
  const json::object* object = message.if_object();
  const json::value* member = object ? object->if_contains(name) : nullptr;
  return member ? member->if_object() : nullptr;
}

// A target whose pairs come together from two legs opened independently: the caller's and the
// one the far end opens when told about it (by a control message naming the pair's id).
class TwoLegTarget : public Target {
 protected:
  explicit TwoLegTarget(asio::io_context& io) : io_(io) {}

  struct PendingPair {
    PairDone done;
    std::shared_ptr<WsConn> sender;
    std::shared_ptr<WsConn> listener;
  };
  using Iterator = std::unordered_map<std::string, PendingPair>::iterator;

  // A new pending pair: its id, and the callback for its first leg.
  std::pair<std::string, OpenDone> begin_pair(PairDone done) {
    std::string id = std::to_string(next_id_++);
    pending_[id].done = std::move(done);
    return {id, leg_arrived(id, &PendingPair::sender, "sender")};
  }

  // The far end was told about pair `id`: it opens its leg on `url` (ws://host:port/target).
  void open_far_leg(const std::string& id, std::string_view url, const char* what) {
    auto it = pending_.find(id);
    if (it == pending_.end()) return;
    const auto parsed = boost::urls::parse_uri(url);
    if (!parsed) return fail(it, "unparsable address");
    std::string target = std::string(parsed->encoded_path());
    if (parsed->has_query()) target += "?" + std::string(parsed->encoded_query());
    open_ws(io_, endpoint(), target, {}, leg_arrived(id, &PendingPair::listener, what));
  }

  // Control channels, opened in prepare() and closed by stop().
  void open_controls(int count, const std::string& target, const Headers& headers,
                     std::function<void(const std::string&)> ready) {
    auto remaining = std::make_shared<int>(count);
    auto failed = std::make_shared<bool>(false);
    for (int i = 0; i < count; ++i) {
      open_ws(
          io_, endpoint(), target, headers,
          [this, remaining, failed, ready](std::shared_ptr<WsConn> conn, const std::string& error) {
            if (!error.empty() && !*failed) {
              *failed = true;
              ready("control channel: " + error);
              return;
            }
            if (conn) {
              conn->on_message = [this](std::uint8_t, std::string_view text, std::size_t) {
                on_control(text);
              };
              conn->start();
              controls_.push_back(std::move(conn));
            }
            if (--*remaining == 0 && !*failed) ready({});
          });
    }
  }

  void stop() override {
    for (auto& c : controls_) c->abort();
    controls_.clear();
  }

  virtual const Endpoint& endpoint() const = 0;
  virtual void on_control(std::string_view text) = 0;

  asio::io_context& io_;

 private:
  // What to do when one leg of pending pair `id` is upgraded (or failed): keep it in `leg`, and
  // hand the pair out once both are there.
  OpenDone leg_arrived(const std::string& id, std::shared_ptr<WsConn> PendingPair::*leg,
                       const char* what) {
    return [this, id, leg, what](std::shared_ptr<WsConn> conn, const std::string& error) {
      auto it = pending_.find(id);
      if (it == pending_.end()) return;
      if (!error.empty()) return fail(it, std::string(what) + ": " + error);
      it->second.*leg = std::move(conn);
      complete(it);
    };
  }

  void complete(Iterator it) {
    if (!it->second.sender || !it->second.listener) return;
    auto done = std::move(it->second.done);
    Pair pair{std::move(it->second.sender), std::move(it->second.listener)};
    pending_.erase(it);
    done(std::move(pair), {});
  }

  void fail(Iterator it, const std::string& error) {
    auto done = std::move(it->second.done);
    if (it->second.sender) it->second.sender->abort();
    if (it->second.listener) it->second.listener->abort();
    pending_.erase(it);
    done({}, error);
  }

  std::vector<std::shared_ptr<WsConn>> controls_;
  std::unordered_map<std::string, PendingPair> pending_;
  std::uint64_t next_id_ = 0;
};

// Hybrid Connections: listeners hold control channels on one path; each pair is a sender (E5)
// and the listener's rendezvous leg (E2) opened on the accept message.
class HybridTarget : public TwoLegTarget {
 public:
  HybridTarget(asio::io_context& io, const TargetOptions& options)
      : TwoLegTarget(io),
        options_(options),
        path_(options.path.empty() ? "bench-" + unique_tag() : options.path) {
    const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count();
    token_ =
        auth::create_token("http://" + options.endpoint.host + ":" +
                               std::to_string(options.endpoint.port) + "/" + path_,
                           options.sas_key_name, options.sas_key, now + std::int64_t{24} * 3600);
  }

  void prepare(std::function<void(const std::string&)> ready) override {
    open_controls(options_.control_channels, "/$hc/" + path_ + "?sb-hc-action=listen",
                  {{"ServiceBusAuthorization", token_}}, std::move(ready));
  }

  void open_pair(Purpose, PairDone done) override {
    auto [id, sender] = begin_pair(std::move(done));
    open_ws(io_, options_.endpoint, "/$hc/" + path_ + "?sb-hc-action=connect&sb-hc-id=" + id,
            {{"ServiceBusAuthorization", token_}}, std::move(sender));
  }

 private:
  const Endpoint& endpoint() const override { return options_.endpoint; }

  void on_control(std::string_view text) override {
    const json::value message = parse_control(text);
    const json::object* accept = member_object(message, "accept");
    if (!accept) return;
    const auto* address = accept->if_contains("address");
    const auto* id = accept->if_contains("id");
    if (!address || !address->is_string() || !id || !id->is_string()) return;
    const std::string full_id(id->as_string());
    open_far_leg(full_id.substr(0, full_id.find('_')), address->as_string(), "listener accept");
  }

  TargetOptions options_;
  std::string path_;
  std::string token_;
};

// Bridge: one device holds a control channel; each pair is a requester on /bridge/connect (its
// pair id in requestData) and the device's accept socket opened on the notification.
class BridgeTarget : public TwoLegTarget {
 public:
  BridgeTarget(asio::io_context& io, const TargetOptions& options)
      : TwoLegTarget(io), options_(options), device_("bench-" + unique_tag()) {}

  void prepare(std::function<void(const std::string&)> ready) override {
    open_controls(
        1, "/bridge/device/" + device_,
        {{"X-Device-Key", auth::derive_device_key(options_.bridge_device_secret, device_)}},
        std::move(ready));
  }

  void open_pair(Purpose, PairDone done) override {
    auto [id, requester] = begin_pair(std::move(done));
    open_ws(io_, options_.endpoint, "/bridge/connect?deviceId=" + device_ + "&requestData=" + id,
            {{"X-Api-Key", options_.bridge_api_key}}, std::move(requester));
  }

 private:
  const Endpoint& endpoint() const override { return options_.endpoint; }

  void on_control(std::string_view text) override {
    const json::value message = parse_control(text);
    const json::object* bridge = member_object(message, "bridge");
    if (!bridge) return;
    const auto* url = bridge->if_contains("acceptUrl");
    const auto* id = bridge->if_contains("requestData");
    if (!url || !url->is_string() || !id || !id->is_string()) return;
    open_far_leg(std::string(id->as_string()), url->as_string(), "device accept");
  }

  TargetOptions options_;
  std::string device_;
};

// localfirst pipes: one peer dials /connection/x/y/d and is held; once it is open the other dials
// the reciprocal key, which pairs them. The second one speaks first: what it sends is relayed
// as it arrives, never replayed from the holding table (where upstream re-encodes it).
class LocalfirstTarget : public Target {
 public:
  LocalfirstTarget(asio::io_context& io, Endpoint to)
      : io_(io), to_(std::move(to)), tag_(unique_tag()) {}

  void open_pair(Purpose, PairDone done) override {
    const std::string n = tag_ + "-" + std::to_string(next_id_++);
    const std::string x = "x" + n, y = "y" + n, doc = "d" + n;
    open_ws(io_, to_, "/connection/" + x + "/" + y + "/" + doc, {},
            [this, x, y, doc, done = std::move(done)](const std::shared_ptr<WsConn>& first,
                                                      const std::string& error) mutable {
              if (!error.empty()) return done({}, "first pipe: " + error);
              open_ws(io_, to_, "/connection/" + y + "/" + x + "/" + doc, {},
                      [first, done = std::move(done)](std::shared_ptr<WsConn> second,
                                                      const std::string& e) {
                        if (!e.empty()) {
                          first->abort();
                          return done({}, "second pipe: " + e);
                        }
                        done(Pair{std::move(second), first}, {});
                      });
            });
  }

 private:
  asio::io_context& io_;
  Endpoint to_;
  std::string tag_;
  std::uint64_t next_id_ = 0;
};

}  // namespace

std::unique_ptr<Target> make_target(asio::io_context& io, const TargetOptions& options) {
  switch (options.kind) {
    case TargetKind::kDirect:
      return std::make_unique<DirectTarget>(io, options.endpoint);
    case TargetKind::kHybrid:
      return std::make_unique<HybridTarget>(io, options);
    case TargetKind::kLocalfirst:
      return std::make_unique<LocalfirstTarget>(io, options.endpoint);
    case TargetKind::kBridge:
      return std::make_unique<BridgeTarget>(io, options);
  }
  return nullptr;
}

}  // namespace switchboard::bench
