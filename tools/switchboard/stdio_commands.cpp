// switchboard token / listen / connect: tokens, and relayed WebSocket endpoints on stdin and
// stdout or attached to a process per connection.
#include <csignal>
#include <iostream>
#include <memory>

#include <boost/asio/signal_set.hpp>

#include "switchboard/client.hpp"
#include "tools/switchboard/client_cli.hpp"
#include "tools/switchboard/client_commands.hpp"
#include "tools/switchboard/link.hpp"

namespace switchboard::tools {

namespace {

struct StdioOptions {
  ClientCli cli;
  std::string url;
  std::string exec;
  bool binary = false;
  std::vector<std::string> protocols;
  std::vector<std::string> headers;
  std::string id;
  bool token_in_query = false;
};

void add_data_options(CLI::App& app, StdioOptions& o) {
  app.add_option("--exec", o.exec,
                 "Run CMD (through /bin/sh) for each connection, joined to its stdin and stdout");
  app.add_flag("--binary", o.binary,
               "Raw bytes as binary messages (default: each line is a text message, and each "
               "text message a line)");
}

std::shared_ptr<ByteStream> local_end(asio::io_context& io, const StdioOptions& o,
                                      std::string& error) {
  if (o.exec.empty()) return stdio_stream(io);
  return process_stream(io, o.exec, error);
}

void stop_on_signals(asio::io_context& io, std::function<void()> stop) {
  auto signals = std::make_shared<asio::signal_set>(io, SIGINT, SIGTERM);
  signals->async_wait([signals, stop = std::move(stop)](error_code ec, int) {
    if (!ec) stop();
  });
}

std::string ended_line(const LinkResult& result) {
  std::string line = "connection ended (" + std::to_string(result.to_remote) + " bytes sent, " +
                     std::to_string(result.to_local) + " received)";
  if (result.error) line += ": " + result.error.message();
  return line;
}

int run_token(const std::string& uri, ClientCli& cli) {
  if (auto error = cli.resolve()) {
    cli.say(*error);
    return 2;
  }
  if (cli.settings.key.empty()) {
    cli.say("--key-name and --key are required");
    return 2;
  }
  std::cout << cli.token_for(uri) << "\n";
  return 0;
}

// Resolves the options and the URL (nullopt, said, on a mistake) and sets up the signals.
std::optional<std::string> prepare(StdioOptions& o) {
  if (auto error = o.cli.resolve()) {
    o.cli.say(*error);
    return std::nullopt;
  }
  auto url = o.cli.websocket_url(o.url);
  if (!url) {
    o.cli.say("'" + o.url + "' is not a URL and no --endpoint is given");
    return std::nullopt;
  }
  std::signal(SIGPIPE, SIG_IGN);
  std::signal(SIGCHLD, SIG_IGN);  // children of --exec are reaped by the kernel
  return url;
}

// Joins the relayed WebSocket to stdin/stdout or to a new --exec process.
void attach(asio::io_context& io, const StdioOptions& o, client::WebSocket socket,
            std::function<void(const LinkResult&)> done) {
  std::string problem;
  auto local = local_end(io, o, problem);
  if (!local) {
    o.cli.say(problem);
    socket.async_close(1011, "cannot start the command");
    return;
  }
  link(std::move(socket), local, {!o.binary, {}},
       [&o, done = std::move(done)](const LinkResult& r) {
         o.cli.say(ended_line(r));
         done(r);
       });
}

int run_listen(StdioOptions& o) {
  const auto url = prepare(o);
  if (!url) return 2;
  asio::io_context io;
  client::ListenerOptions options;
  options.token = o.cli.token_provider();
  options.listener_id = o.id;
  options.connect = o.cli.connect_options();
  client::ListenerHandlers handlers;
  std::unique_ptr<client::HybridListener> listener;
  bool busy = false;
  int status = 0;
  handlers.on_state = [&](client::ListenerState state, const client::Error& cause,
                          std::chrono::seconds wait) {
    o.cli.report_state(*url, state, cause, wait);
  };
  handlers.on_warning = [&](std::string_view text) { o.cli.say(text); };
  handlers.on_accept = [&](const std::shared_ptr<client::AcceptRequest>& request) {
    const std::string from =
        request->remote_address() + ":" + std::to_string(request->remote_port());
    if (busy && o.exec.empty()) {
      o.cli.say("refused a connection from " + from + ": busy");
      request->reject(503, "Busy: this listener serves one connection at a time");
      return;
    }
    busy = true;
    std::string protocol;
    const auto offered = request->subprotocols();
    for (const auto& p : o.protocols) {
      if (std::find(offered.begin(), offered.end(), p) != offered.end()) {
        protocol = p;
        break;
      }
    }
    if (protocol.empty() && !offered.empty() && o.protocols.empty()) protocol = offered.front();
    request->accept(protocol, [&, from](const client::Error& error, client::WebSocket socket) {
      if (error) {
        o.cli.say("accepting " + from + " failed: " + error.message());
        busy = false;
        return;
      }
      o.cli.say("accepted a connection from " + from);
      attach(io, o, std::move(socket), [&](const LinkResult&) {
        if (o.exec.empty()) {
          listener->stop();
          io.stop();
        }
      });
    });
  };
  listener =
      std::make_unique<client::HybridListener>(io, *url, std::move(options), std::move(handlers));
  listener->start();
  stop_on_signals(io, [&] {
    listener->stop();
    io.stop();
  });
  io.run();
  return status;
}

int run_connect(StdioOptions& o) {
  const auto url = prepare(o);
  if (!url) return 2;
  asio::io_context io;
  auto options = o.cli.sender_options(*url);
  if (o.token_in_query) options.token_in = client::TokenPlacement::kQuery;
  options.connect.subprotocols = o.protocols;
  for (const auto& header : o.headers) {
    const auto colon = header.find(':');
    if (colon == std::string::npos || colon == 0) {
      o.cli.say("--header expects NAME:VALUE, got '" + header + "'");
      return 2;
    }
    auto value = header.substr(colon + 1);
    while (!value.empty() && value.front() == ' ') value.erase(0, 1);
    options.connect.headers.emplace_back(header.substr(0, colon), value);
  }
  if (!o.id.empty()) {
    // The sender's correlation id travels as sb-hc-id.
    o.url = *url + (url->find('?') == std::string::npos ? "?" : "&") + "sb-hc-id=" + o.id;
  }
  int status = 1;
  relayed_connect(io, o.id.empty() ? *url : o.url, std::move(options),
                  [&](const client::Error& error, client::WebSocket socket) {
                    if (error) {
                      o.cli.say(error.message());
                      return;
                    }
                    o.cli.say("connected" + (socket.subprotocol().empty()
                                                 ? std::string()
                                                 : " (sub-protocol " + socket.subprotocol() + ")"));
                    attach(io, o, std::move(socket), [&](const LinkResult& result) {
                      status = result.error ? 1 : 0;
                      io.stop();
                    });
                  });
  stop_on_signals(io, [&] { io.stop(); });
  io.run();
  return status;
}

}  // namespace

std::vector<Subcommand> add_stdio_commands(CLI::App& app) {
  std::vector<Subcommand> commands;

  auto* token = app.add_subcommand("token", "Print a SAS token for a URI on stdout");
  auto token_cli = std::make_shared<ClientCli>();
  auto token_uri = std::make_shared<std::string>();
  token_cli->command = "token";
  token->add_option("URI", *token_uri, "The resource, e.g. http://HOST:PORT/ENTITY")->required();
  token_cli->add_options(*token);
  commands.push_back({token, [token_cli, token_uri] { return run_token(*token_uri, *token_cli); }});

  auto* listen = app.add_subcommand(
      "listen", "Listen on a Hybrid Connection; relayed connections on stdin/stdout or --exec");
  auto listen_options = std::make_shared<StdioOptions>();
  listen_options->cli.command = "listen";
  listen
      ->add_option("URL", listen_options->url,
                   "ws[s]://HOST[:PORT]/$hc/ENTITY, or ENTITY with --endpoint")
      ->required();
  listen->add_option("--protocol", listen_options->protocols,
                     "Sub-protocols this listener speaks, preferred first (default: the sender's "
                     "first offer)");
  listen->add_option("--id", listen_options->id, "Listener id (sb-hc-id)");
  add_data_options(*listen, *listen_options);
  listen_options->cli.add_options(*listen);
  commands.push_back({listen, [listen_options] { return run_listen(*listen_options); }});

  auto* connect = app.add_subcommand(
      "connect",
      "Connect to a Hybrid Connection listener; the connection on stdin/stdout or --exec");
  auto connect_options = std::make_shared<StdioOptions>();
  connect_options->cli.command = "connect";
  connect
      ->add_option("URL", connect_options->url,
                   "ws[s]://HOST[:PORT]/$hc/ENTITY[/suffix][?query], or ENTITY with --endpoint")
      ->required();
  connect->add_option("--protocol", connect_options->protocols,
                      "Offer this sub-protocol (repeatable, preferred first)");
  connect->add_option("--header", connect_options->headers,
                      "NAME:VALUE added to the upgrade request (repeatable)");
  connect->add_option("--id", connect_options->id, "Sender correlation id (sb-hc-id)");
  connect->add_flag("--token-in-query", connect_options->token_in_query,
                    "Send the token as sb-hc-token instead of the ServiceBusAuthorization header");
  add_data_options(*connect, *connect_options);
  connect_options->cli.add_options(*connect);
  commands.push_back({connect, [connect_options] { return run_connect(*connect_options); }});
  return commands;
}

}  // namespace switchboard::tools
