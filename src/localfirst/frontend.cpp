#include "localfirst/frontend.hpp"

#include <algorithm>
#include <optional>
#include <utility>

#include <spdlog/spdlog.h>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include "core/ws_channel.hpp"
#include "localfirst/messages.hpp"
#include "localfirst/routes.hpp"

namespace switchboard::localfirst {
namespace asio = boost::asio;
using core::Handshake;

namespace {

constexpr std::string_view kShuttingDown = "Server shutting down.";
constexpr std::uint16_t kGoingAway = 1001;
constexpr std::uint16_t kPolicyViolation = 1008;

}  // namespace

// An open /introduction socket. Owned by its channel's end callback; the directory refers to it
// by id.
class IntroSocket {
 public:
  IntroSocket(asio::io_context& context, std::string peer, std::weak_ptr<core::WsChannel> channel)
      : context(context), peer(std::move(peer)), channel(std::move(channel)) {}

  asio::io_context& context;
  const std::string peer;
  const std::weak_ptr<core::WsChannel> channel;
  SocketId id = 0;
  bool too_slow = false;  // guarded by the directory mutex
};

// A /connection socket that arrived first, waiting for its reciprocal. Lives on its own thread;
// other threads reach it only by posting there.
class HeldPipe : public std::enable_shared_from_this<HeldPipe> {
 public:
  HeldPipe(Frontend& frontend, std::shared_ptr<Handshake> handshake, PipeKey key)
      : frontend_(frontend),
        handshake_(std::move(handshake)),
        context_(handshake_->context),
        key_(std::move(key)),
        linger_(context_) {}

  asio::io_context& context() { return context_; }

  // The 101 went out (or could not): the socket starts being held.
  void begin(bool ok) {
    pump_ = std::make_shared<core::RelayPump>(
        context_, frontend_.pipe_limits_, std::move(handshake_->socket),
        std::move(handshake_->leftover), frontend_.pipe_options_);
    handshake_.reset();
    pump_->on_held_closed = [weak = weak_from_this()] {
      if (auto self = weak.lock()) self->on_closed_alone();
    };
    // A held pump can also finish without a tombstone (it died mid-frame): leave the table then.
    pump_->on_finished = [weak = weak_from_this()] {
      if (auto self = weak.lock()) {
        const std::lock_guard lock(self->frontend_.pipes_mutex_);
        self->frontend_.held_.remove(self->key_, self.get());
      }
    };
    pump_->start();
    if (!ok) {
      const std::lock_guard lock(frontend_.pipes_mutex_);
      frontend_.held_.remove(key_, this);
      if (!close_) close_ = core::CloseNotice{kGoingAway, {}};
    }
    if (close_) pump_->close_held(close_->code, close_->reason);
    if (partner_) {
      auto [socket, leftover] = std::move(*partner_);
      partner_.reset();
      pair(socket, std::move(leftover));  // a pump that was closed tells the partner so
    }
  }

  // The reciprocal socket, upgraded on another worker and moved here.
  void pair(core::DetachedSocket partner, std::string leftover) {
    if (!pump_) {
      partner_.emplace(partner, std::move(leftover));
      return;
    }
    linger_.cancel();
    if (pump_->awaiting_partner()) {
      frontend_.paired_.fetch_add(1, std::memory_order_relaxed);
      pump_->on_finished = [&frontend = frontend_] {
        frontend.paired_.fetch_sub(1, std::memory_order_relaxed);
      };
    }
    pump_->pair_with(core::attach(context_, partner), std::move(leftover));
  }

  // Replaced, evicted, shut down, or its tombstone expired: closed without a partner.
  void close(std::uint16_t code, std::string reason) {
    linger_.cancel();
    if (!pump_) {
      close_ = core::CloseNotice{code, std::move(reason)};
      return;
    }
    pump_->close_held(code, reason);
  }

 private:
  // The held socket closed: what it sent, and its close, wait for the linger period (section 5.6).
  void on_closed_alone() {
    {
      const std::lock_guard lock(frontend_.pipes_mutex_);
      if (!frontend_.held_.mark_tombstone(key_, this)) return;  // already taken by a partner
    }
    linger_.expires_after(frontend_.settings_.tombstone_linger);
    linger_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
      if (ec) return;
      bool mine = false;
      {
        const std::lock_guard lock(self->frontend_.pipes_mutex_);
        mine = self->frontend_.held_.remove(self->key_, self.get());
      }
      if (mine) self->pump_->close_held(kGoingAway, {});
    });
  }

  Frontend& frontend_;
  std::shared_ptr<Handshake> handshake_;  // until begin()
  asio::io_context& context_;
  const PipeKey key_;
  std::shared_ptr<core::RelayPump> pump_;
  std::optional<std::pair<core::DetachedSocket, std::string>> partner_;  // arrived before begin()
  std::optional<core::CloseNotice> close_;                               // asked before begin()
  asio::steady_timer linger_;
};

Frontend::Frontend(const Settings& settings, core::Services& services)
    : settings_(settings),
      services_(services),
      pipe_limits_(services.limits),
      held_(settings.max_held_per_peer, settings.max_held) {
  pipe_limits_.relay_buffer_high_water = settings.partner_high_water;
  pipe_limits_.relay_max_message = settings.max_pipe_message;
  pipe_limits_.close_timeout = settings.close_timeout;
  pipe_options_.partner_lost = core::CloseNotice{kGoingAway, "peer connection lost"};
  pipe_options_.half_close = false;
  pipe_options_.hold_high_water = settings.held_buffer;
}

bool Frontend::owns(const core::RequestHead& request) const {
  return settings_.enabled &&
         match_route(request.path(), settings_.path_prefix, settings_.max_param_length).outcome !=
             RouteMatch::kNone;
}

void Frontend::handle(const std::shared_ptr<Handshake>& handshake) {
  const auto& head = handshake->request;
  if (!head.is_websocket_upgrade()) {  // section 3.1: the routes take upgrades only
    core::refuse(handshake, {404, "Not Found"});
    return;
  }
  auto match = match_route(head.path(), settings_.path_prefix, settings_.max_param_length);
  if (match.outcome == RouteMatch::kBadEncoding) {
    core::refuse(handshake, {400, "Bad Request: malformed percent-encoding in the path."});
    return;
  }
  if (match.outcome == RouteMatch::kTooLong) {
    core::refuse(handshake, {414, "URI Too Long: a path parameter is longer than " +
                                      std::to_string(settings_.max_param_length) + " bytes."});
    return;
  }
  if (auto check = core::check_websocket_upgrade(head); check.status != 0) {
    core::refuse(handshake, {check.status, std::move(check.reason), std::move(check.headers)});
    return;
  }
  if (!settings_.allowed_origins.empty()) {
    const auto origin = head.find("Origin");
    if (origin && std::find(settings_.allowed_origins.begin(), settings_.allowed_origins.end(),
                            *origin) == settings_.allowed_origins.end()) {
      core::refuse(handshake, {403, "Forbidden: this Origin is not allowed."});
      return;
    }
  }
  if (match.outcome == RouteMatch::kIntroduction) {
    introduction(handshake, std::move(match.params[0]));
  } else {
    connection(handshake, {std::move(match.params[0]), std::move(match.params[1]),
                           std::move(match.params[2])});
  }
}

void Frontend::introduction(const std::shared_ptr<Handshake>& handshake, std::string peer) {
  core::switch_protocols(handshake, {}, [this, handshake, peer = std::move(peer)](bool ok) {
    if (!ok) return;
    auto channel = std::make_shared<core::WsChannel>(
        handshake->context, services_.limits, std::move(handshake->socket),
        std::move(handshake->leftover), settings_.max_message);
    auto socket = std::make_shared<IntroSocket>(handshake->context, peer, channel);
    {
      const std::lock_guard lock(directory_mutex_);
      socket->id = next_socket_id_++;
      intro_sockets_.emplace(socket->id, socket);
      directory_.connect(peer, socket->id);
    }
    spdlog::debug("localfirst: peer '{}' connected from {}:{}", peer, handshake->remote.address,
                  handshake->remote.port);
    channel->start(
        [this, weak = std::weak_ptr<IntroSocket>(socket)](bool text, std::string& payload) {
          if (auto s = weak.lock()) on_message(*s, text, payload);
        },
        [this, socket](std::uint16_t, std::string_view) { on_intro_end(*socket); });
  });
}

void Frontend::on_message(IntroSocket& socket, bool text, const std::string& payload) {
  // Anything but a valid message is ignored without a reply (sections 4.1, 4.7, 4.8).
  if (text) return;
  const auto message = decode_client_message(payload);
  if (!message) {
    spdlog::debug("localfirst: peer '{}' sent a malformed message ({} bytes), ignored", socket.peer,
                  payload.size());
    return;
  }
  if (message->type == MessageType::kLeave) {
    const std::lock_guard lock(directory_mutex_);
    directory_.leave(socket.peer, message->document_ids);
    return;
  }
  if (message->type != MessageType::kJoin) return;
  for (const auto& id : message->document_ids) {
    if (id.size() > settings_.max_param_length) {
      spdlog::debug("localfirst: peer '{}' joined a documentId longer than {} bytes; ignored",
                    socket.peer, settings_.max_param_length);
      return;  // it could never be dialled on /connection anyway
    }
  }
  const std::lock_guard lock(directory_mutex_);
  if (directory_.set_size(socket.peer) + message->document_ids.size() >
      settings_.max_documents_per_peer) {
    spdlog::warn("localfirst: peer '{}' would join more than {} documents; Join ignored",
                 socket.peer, settings_.max_documents_per_peer);
    return;
  }
  for (const auto& introduction : directory_.join(socket.peer, socket.id, message->document_ids)) {
    send_introduction(introduction);
  }
}

// Called under directory_mutex_, so each socket gets its introductions in the order computed.
void Frontend::send_introduction(const Introduction& introduction) {
  const auto it = intro_sockets_.find(introduction.to);
  if (it == intro_sockets_.end()) return;
  const auto target = it->second.lock();
  const auto channel = target ? target->channel.lock() : nullptr;
  if (!channel || target->too_slow) return;
  // A peer that does not read its introductions cannot make the server keep them without end:
  // once the kernel has stopped taking them, the next one closes it. (What one burst of Joins
  // posts before the target's thread runs is not counted: a reading peer takes it.)
  if (channel->backlog() >= services_.limits.control_buffer_high_water) {
    target->too_slow = true;
    spdlog::warn("localfirst: peer '{}' does not read its introductions; closing it", target->peer);
    asio::post(target->context, [channel] {
      channel->abort(kPolicyViolation, "Introductions are not being read.");
    });
    return;
  }
  asio::post(target->context,
             [weak = target->channel,
              frame = encode_introduction(introduction.peer_id, introduction.document_ids)] {
               if (auto c = weak.lock()) c->send_binary(frame);
             });
}

void Frontend::on_intro_end(IntroSocket& socket) {
  const std::lock_guard lock(directory_mutex_);
  directory_.disconnect(socket.peer, socket.id);
  intro_sockets_.erase(socket.id);
}

void Frontend::connection(const std::shared_ptr<Handshake>& handshake, const PipeKey& key) {
  // Decided before the 101 goes out: a client that has seen its 101 may make its partner dial at
  // once, and that dial must find this socket.
  std::shared_ptr<HeldPipe> partner;
  std::shared_ptr<HeldPipe> pipe;
  std::vector<HoldingTable<HeldPipe>::Displaced> displaced;
  {
    const std::lock_guard lock(pipes_mutex_);
    partner = held_.take(key.reciprocal());
    if (!partner) {
      pipe = std::make_shared<HeldPipe>(*this, handshake, key);
      displaced = held_.hold(key, pipe);
    }
  }
  for (auto& d : displaced) {
    asio::post(d.pipe->context(), [old = d.pipe, reason = std::string(d.reason)] {
      old->close(kPolicyViolation, reason);
    });
  }
  if (pipe) {
    core::switch_protocols(handshake, {}, [pipe](bool ok) { pipe->begin(ok); });
    return;
  }
  core::switch_protocols(handshake, {}, [handshake, partner](bool ok) {
    if (!ok) {
      asio::post(partner->context(),
                 [partner] { partner->close(kGoingAway, "peer connection lost"); });
      return;
    }
    const auto detached = core::detach(handshake->socket);
    asio::post(partner->context(),
               [partner, detached, leftover = std::move(handshake->leftover)]() mutable {
                 partner->pair(detached, std::move(leftover));
               });
  });
}

void Frontend::shutdown() {
  std::vector<std::shared_ptr<IntroSocket>> sockets;
  {
    const std::lock_guard lock(directory_mutex_);
    for (auto& [id, weak] : intro_sockets_) {
      if (auto socket = weak.lock()) sockets.push_back(std::move(socket));
    }
  }
  for (auto& socket : sockets) {
    asio::post(socket->context, [channel = socket->channel] {
      if (auto c = channel.lock()) c->close(kGoingAway, kShuttingDown);
    });
  }
  std::vector<std::shared_ptr<HeldPipe>> pipes;
  {
    const std::lock_guard lock(pipes_mutex_);
    pipes = held_.take_all();
  }
  for (auto& pipe : pipes) {
    asio::post(pipe->context(), [pipe] { pipe->close(kGoingAway, std::string(kShuttingDown)); });
  }
}

Frontend::Status Frontend::status() const {
  Status status;
  {
    const std::lock_guard lock(directory_mutex_);
    status.directory = directory_.snapshot();
  }
  {
    const std::lock_guard lock(pipes_mutex_);
    status.held = held_.held();
  }
  status.paired = paired_.load(std::memory_order_relaxed);
  return status;
}

}  // namespace switchboard::localfirst
