// switchboard forward: TCP and HTTP port forwarding over Hybrid Connections, with azbridge's
// bindings and stream preamble, so that either end could be azbridge.
//   -L [BIND:]PORT[/NAME]:ENTITY     local TCP port; each connection becomes a sender on ENTITY
//   -T ENTITY:[NAME/]HOST:PORT       listener on ENTITY; each stream connects to HOST:PORT
//   -H ENTITY:http://HOST:PORT[/P]   listener on ENTITY serving relayed HTTP from a local service
// Preamble (azbridge): the sender writes 01 00 00 LEN, then LEN bytes of port name (UTF-8); the
// listener answers 01 00 00 once the port name is known, or closes without an answer.
#include <charconv>
#include <csignal>
#include <map>
#include <memory>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>

#include "core/socket.hpp"
#include "switchboard/client.hpp"
#include "tools/switchboard/client_cli.hpp"
#include "tools/switchboard/client_commands.hpp"
#include "tools/switchboard/forward_http.hpp"
#include "tools/switchboard/link.hpp"

namespace switchboard::tools {

namespace {

using tcp = asio::ip::tcp;

struct LocalBinding {
  std::string bind = "127.0.0.1";
  unsigned short port = 0;
  std::string port_name;
  std::string entity;
  std::string text;
};

struct RemoteBinding {
  std::string entity;
  std::string port_name;
  std::string host;
  unsigned short port = 0;
};

bool parse_port(std::string_view text, unsigned short& port) {
  unsigned value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || end != text.data() + text.size() || value > 65535) return false;
  port = static_cast<unsigned short>(value);
  return true;
}

// "[BIND:]PORT[/NAME]:ENTITY"; BIND may be [v6].
std::optional<LocalBinding> parse_local(std::string_view text) {
  LocalBinding b;
  b.text = std::string(text);
  const auto last = text.rfind(':');
  if (last == std::string_view::npos || last + 1 == text.size()) return std::nullopt;
  b.entity = std::string(text.substr(last + 1));
  std::string_view rest = text.substr(0, last);
  std::string_view port = rest;
  if (rest.starts_with('[')) {
    const auto close = rest.find("]:");
    if (close == std::string_view::npos) return std::nullopt;
    b.bind = std::string(rest.substr(1, close - 1));
    port = rest.substr(close + 2);
  } else if (const auto colon = rest.rfind(':'); colon != std::string_view::npos) {
    b.bind = std::string(rest.substr(0, colon));
    port = rest.substr(colon + 1);
  }
  if (const auto slash = port.find('/'); slash != std::string_view::npos) {
    b.port_name = std::string(port.substr(slash + 1));
    port = port.substr(0, slash);
  }
  if (!parse_port(port, b.port) || b.port == 0 || b.bind.empty()) return std::nullopt;
  if (b.port_name.empty()) b.port_name = std::string(port);
  if (b.port_name.size() > 255) return std::nullopt;
  return b;
}

// "ENTITY:[NAME/]HOST:PORT"
std::optional<RemoteBinding> parse_remote(std::string_view text) {
  RemoteBinding b;
  const auto first = text.find(':');
  const auto last = text.rfind(':');
  if (first == std::string_view::npos || first == 0 || last == first) return std::nullopt;
  b.entity = std::string(text.substr(0, first));
  std::string_view host = text.substr(first + 1, last - first - 1);
  if (const auto slash = host.find('/'); slash != std::string_view::npos) {
    b.port_name = std::string(host.substr(0, slash));
    host = host.substr(slash + 1);
  }
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  if (host.empty() || !parse_port(text.substr(last + 1), b.port) || b.port == 0) {
    return std::nullopt;
  }
  b.host = std::string(host);
  if (b.port_name.empty()) b.port_name = std::string(text.substr(last + 1));
  return b;
}

// Reads from the WebSocket until `buffer` holds at least `n` bytes (message boundaries do not
// matter: azbridge reads the preamble as a byte stream).
void read_bytes(client::WebSocket socket, std::size_t n, const std::shared_ptr<std::string>& buffer,
                std::function<void(const client::Error&)> done) {
  if (buffer->size() >= n) return done({});
  socket.async_read_some(
      [socket, n, buffer, done = std::move(done)](const client::Error& error, client::Chunk chunk) {
        if (error) return done(error);
        buffer->append(chunk.data);
        read_bytes(socket, n, buffer, done);
      });
}

const std::string kPreambleOk("\x01\x00\x00", 3);

struct EntityListener {
  std::vector<RemoteBinding> streams;
  std::optional<HttpTarget> http;
  std::unique_ptr<client::HybridListener> listener;
};

class Forwarder {
 public:
  Forwarder(asio::io_context& io, ClientCli& cli) : io_(io), cli_(cli) {}

  bool start_local(const LocalBinding& binding) {
    const auto url = cli_.websocket_url(binding.entity);
    error_code ec;
    const auto address =
        asio::ip::make_address(binding.bind == "localhost" ? "127.0.0.1" : binding.bind, ec);
    if (ec) {
      cli_.say("-L " + binding.text + ": '" + binding.bind + "' is not an IP address");
      return false;
    }
    auto acceptor = std::make_shared<tcp::acceptor>(io_);
    tcp::endpoint endpoint(address, binding.port);
    ec = core::listen_on(*acceptor, endpoint);
    if (ec) {
      cli_.say("-L " + binding.text + ": cannot listen on " + binding.bind + ":" +
               std::to_string(binding.port) + ": " + ec.message());
      return false;
    }
    cli_.say("-L " + binding.bind + ":" + std::to_string(binding.port) + " -> " + *url +
             " (port name " + binding.port_name + "): listening");
    accept_next(acceptor, binding, *url);
    return true;
  }

  void add_remote(const RemoteBinding& binding) {
    entities_[binding.entity].streams.push_back(binding);
  }
  void add_http(const std::string& entity, HttpTarget target) {
    entities_[entity].http = std::move(target);
  }
  bool has_http(const std::string& entity) const {
    auto it = entities_.find(entity);
    return it != entities_.end() && it->second.http.has_value();
  }

  void start_listeners() {
    for (auto& [entity, e] : entities_) {
      const auto url = *cli_.websocket_url(entity);
      client::ListenerOptions options;
      options.token = cli_.token_provider();
      options.connect = cli_.connect_options();
      client::ListenerHandlers handlers;
      handlers.on_state = [this, url](client::ListenerState state, const client::Error& cause,
                                      std::chrono::seconds wait) {
        cli_.report_state(url, state, cause, wait);
      };
      handlers.on_warning = [this](std::string_view text) { cli_.say(text); };
      EntityListener* listener = &e;
      if (!e.streams.empty()) {
        handlers.on_connection = [this, listener](
                                     client::WebSocket socket,
                                     const std::shared_ptr<const client::AcceptRequest>& r) {
          serve_stream(*listener, std::move(socket),
                       r->remote_address() + ":" + std::to_string(r->remote_port()));
        };
      } else {
        handlers.on_accept = [](const std::shared_ptr<client::AcceptRequest>& request) {
          request->reject(404, "This listener serves HTTP only");
        };
      }
      if (e.http) {
        auto forwarder = std::make_shared<HttpForwarder>(
            io_, *e.http, [this](std::string_view line) { cli_.say(line); });
        handlers.on_request = [forwarder](std::shared_ptr<client::HttpExchange> exchange) {
          forwarder->handle(std::move(exchange));
        };
      }
      e.listener = std::make_unique<client::HybridListener>(io_, url, std::move(options),
                                                            std::move(handlers));
      e.listener->start();
    }
  }

  void stop() {
    for (auto& [entity, e] : entities_) {
      if (e.listener) e.listener->stop();
    }
  }

 private:
  void accept_next(const std::shared_ptr<tcp::acceptor>& acceptor, const LocalBinding& binding,
                   const std::string& url) {
    acceptor->async_accept([this, acceptor, binding, url](error_code ec, tcp::socket socket) {
      if (ec == asio::error::operation_aborted) return;
      if (!ec) open_stream(std::move(socket), binding, url);
      accept_next(acceptor, binding, url);
    });
  }

  // A local connection: a sender on the entity, the preamble, then the bytes.
  void open_stream(tcp::socket socket, const LocalBinding& binding, const std::string& url) {
    error_code ec;
    socket.set_option(tcp::no_delay(true), ec);
    const auto peer = socket.remote_endpoint(ec);
    const std::string from =
        ec ? "?" : peer.address().to_string() + ":" + std::to_string(peer.port());
    auto local = std::make_shared<tcp::socket>(std::move(socket));
    client::relayed_connect(
        io_, url, cli_.sender_options(url),
        [this, local, binding, from](const client::Error& error, client::WebSocket ws) {
          if (error) {
            cli_.say("connection from " + from + " to " + binding.entity + ": " + error.message());
            error_code ignored;
            local->close(ignored);
            return;
          }
          std::string header("\x01\x00\x00", 3);
          header += static_cast<char>(binding.port_name.size());
          ws.async_write(header, false);
          ws.async_write(binding.port_name, false);
          auto reply = std::make_shared<std::string>();
          read_bytes(ws, 3, reply, [this, ws, local, reply, binding, from](const client::Error& e) {
            if (e || reply->compare(0, 3, kPreambleOk) != 0) {
              cli_.say("connection from " + from + ": " + binding.entity +
                       " does not forward port name '" + binding.port_name + "'" +
                       (e ? " (" + e.message() + ")" : ""));
              client::WebSocket(ws).abort();
              error_code ignored;
              local->close(ignored);
              return;
            }
            cli_.say("connection from " + from + " forwarded to " + binding.entity + "/" +
                     binding.port_name);
            link(ws, tcp_stream(std::move(*local)), {false, reply->substr(3)},
                 [this, from](const LinkResult& result) { ended(from, result); });
          });
        });
  }

  // A relayed stream on a -T listener: read the preamble, connect the target, answer, join.
  void serve_stream(EntityListener& listener, const client::WebSocket& ws,
                    const std::string& from) {
    auto buffer = std::make_shared<std::string>();
    read_bytes(ws, 4, buffer, [this, &listener, ws, buffer, from](const client::Error& error) {
      if (error) return;
      if ((*buffer)[0] != 1 || (*buffer)[1] != 0 || (*buffer)[2] != 0) {
        cli_.say("stream from " + from + ": unsupported preamble, closed");
        client::WebSocket(ws).async_write(std::string("\x00\x00\xFF", 3), false);
        client::WebSocket(ws).async_close(1008, "unsupported preamble");
        return;
      }
      const auto length = static_cast<unsigned char>((*buffer)[3]);
      read_bytes(ws, 4 + length, buffer,
                 [this, &listener, ws, buffer, from, length](const client::Error& e) {
                   if (e) return;
                   const std::string name = buffer->substr(4, length);
                   const RemoteBinding* target = nullptr;
                   for (const auto& b : listener.streams) {
                     if (b.port_name == name) target = &b;
                   }
                   unsigned short numeric = 0;
                   if (!target && listener.streams.size() == 1 && parse_port(name, numeric)) {
                     target = &listener.streams.front();
                   }
                   if (!target) {
                     cli_.say("stream from " + from + ": unknown port name '" + name + "', closed");
                     client::WebSocket(ws).async_close(1000, "unknown port name");
                     return;
                   }
                   connect_target(ws, *target, buffer->substr(4 + length), from);
                 });
    });
  }

  void connect_target(const client::WebSocket& ws, const RemoteBinding& target,
                      const std::string& early, const std::string& from) {
    auto resolver = std::make_shared<tcp::resolver>(io_);
    auto socket = std::make_shared<tcp::socket>(io_);
    const std::string where = target.host + ":" + std::to_string(target.port);
    resolver->async_resolve(
        target.host, std::to_string(target.port),
        [this, resolver, socket, ws, early, from, where](
            error_code ec, const tcp::resolver::results_type& results) {
          auto failed = [this, ws, from, where](error_code e) {
            cli_.say("stream from " + from + ": cannot connect " + where + ": " + e.message());
            client::WebSocket(ws).async_close(1011, "target unreachable");
          };
          if (ec) return failed(ec);
          asio::async_connect(
              *socket, results,
              [this, socket, ws, early, from, where, failed](error_code e, const tcp::endpoint&) {
                if (e) return failed(e);
                error_code ignored;
                socket->set_option(tcp::no_delay(true), ignored);
                client::WebSocket(ws).async_write(kPreambleOk, false);
                cli_.say("stream from " + from + " connected to " + where);
                link(ws, tcp_stream(std::move(*socket)), {false, early},
                     [this, from](const LinkResult& r) { ended(from, r); });
              });
        });
  }

  void ended(const std::string& from, const LinkResult& result) {
    std::string line = "connection from " + from + " ended (" + std::to_string(result.to_remote) +
                       " bytes sent, " + std::to_string(result.to_local) + " received)";
    if (result.error) line += ": " + result.error.message();
    cli_.say(line);
  }

  asio::io_context& io_;
  ClientCli& cli_;
  std::map<std::string, EntityListener> entities_;
};

struct ForwardOptions {
  ClientCli cli;
  std::vector<std::string> local, remote, http;
};

int run_forward(ForwardOptions& o) {
  if (auto error = o.cli.resolve()) {
    o.cli.say(*error);
    return 2;
  }
  auto& s = o.cli.settings;
  for (auto [given, from_file] : {std::pair{&o.local, &s.local}, std::pair{&o.remote, &s.remote},
                                  std::pair{&o.http, &s.http}}) {
    if (given->empty()) *given = *from_file;
  }
  if (s.endpoint.empty()) {
    o.cli.say("--endpoint is required (or client.endpoint in the --config file)");
    return 2;
  }
  if (o.local.empty() && o.remote.empty() && o.http.empty()) {
    o.cli.say("nothing to forward: give -L, -T or -H");
    return 2;
  }
  std::signal(SIGPIPE, SIG_IGN);
  asio::io_context io;
  Forwarder forwarder(io, o.cli);
  std::vector<LocalBinding> locals;
  for (const auto& text : o.local) {
    auto binding = parse_local(text);
    if (!binding) {
      o.cli.say("-L expects [BIND:]PORT[/NAME]:ENTITY, got '" + text + "'");
      return 2;
    }
    locals.push_back(*binding);
  }
  for (const auto& text : o.remote) {
    auto binding = parse_remote(text);
    if (!binding) {
      o.cli.say("-T expects ENTITY:[NAME/]HOST:PORT, got '" + text + "'");
      return 2;
    }
    forwarder.add_remote(*binding);
  }
  for (const auto& text : o.http) {
    const auto colon = text.find(':');
    auto target =
        colon == std::string::npos ? std::nullopt : parse_http_target(text.substr(colon + 1));
    if (colon == 0 || !target) {
      o.cli.say("-H expects ENTITY:http://HOST:PORT[/PATH], got '" + text + "'");
      return 2;
    }
    const std::string entity = text.substr(0, colon);
    if (forwarder.has_http(entity)) {
      o.cli.say("-H: entity '" + entity + "' is given twice");
      return 2;
    }
    target->entity = entity;
    forwarder.add_http(entity, std::move(*target));
  }
  for (const auto& binding : locals) {
    if (!forwarder.start_local(binding)) return 1;
  }
  forwarder.start_listeners();
  asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](error_code ec, int) {
    if (ec) return;
    o.cli.say("stopping");
    forwarder.stop();
    io.stop();
  });
  io.run();
  return 0;
}

}  // namespace

Subcommand add_forward_command(CLI::App& app) {
  auto* forward = app.add_subcommand(
      "forward", "Forward TCP ports and HTTP services over Hybrid Connections (azbridge-style)");
  auto o = std::make_shared<ForwardOptions>();
  o->cli.command = "forward";
  forward->add_option("-L,--local", o->local,
                      "[BIND:]PORT[/NAME]:ENTITY: accept TCP on BIND:PORT (default 127.0.0.1) and "
                      "carry each connection to ENTITY's -T listener, port name NAME (default "
                      "PORT); repeatable (TOML client.local)");
  forward->add_option("-T,--tcp", o->remote,
                      "ENTITY:[NAME/]HOST:PORT: listen on ENTITY and connect each stream for port "
                      "name NAME (default PORT) to HOST:PORT; repeatable (TOML client.remote)");
  forward->add_option("-H,--http", o->http,
                      "ENTITY:http://HOST:PORT[/PATH]: listen on ENTITY and serve its relayed HTTP "
                      "requests from that service (/ENTITY/x goes to /PATH/x); repeatable "
                      "(TOML client.http)");
  o->cli.add_options(*forward);
  return {forward, [o] { return run_forward(*o); }};
}

}  // namespace switchboard::tools
