// relay-echo: a Hybrid Connections listener built on Switchboard::client. It echoes WebSocket
// messages, answers HTTP requests with what it received, and prints one line per event on stdout.
//   relay-echo LISTEN_URL [--key-name NAME --key KEY] [--ttl SECONDS] [--protocol P]...
//   relay-echo --request URL [--method M] [--data TEXT] [--key-name NAME --key KEY]
//     (the other direction: one HTTP request through the relay, its status and body printed)
//   relay-echo --send SEND_URL --message TEXT [--key-name NAME --key KEY]
//   relay-echo --once LISTEN_URL [--key-name NAME --key KEY]
//     (the blocking API: send one message and print the answer; answer one sender's message)
// A sender with the header "X-Reject: CODE TEXT" is rejected with that status and text.
// HTTP: GET .../stream?bytes=N streams N bytes; anything else gets a JSON summary of the request.
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <switchboard/client.hpp>

namespace sc = switchboard::client;

namespace {

struct Options {
  std::string url, key_name, key;
  std::string request_url, method = "GET", data;
  std::string send_url, message, once_url;
  long ttl = 3600;
  std::vector<std::string> protocols;
};

void say(const std::string& line) {
  std::cout << line << std::endl;
}

// FNV-1a, so that a test can check a body without a digest library.
std::uint32_t fnv1a(std::uint32_t hash, std::string_view data) {
  for (unsigned char c : data) hash = (hash ^ c) * 16777619u;
  return hash;
}

void echo(sc::WebSocket socket) {
  socket.async_read([socket](const sc::Error& error, std::string message, bool text) mutable {
    if (error) {
      say("connection closed " + std::to_string(error.close_code) + " " + error.close_reason);
      return;
    }
    socket.async_write(message, text, [socket](const sc::Error& e) {
      if (!e) echo(socket);
    });
  });
}

void stream_bytes(std::shared_ptr<sc::HttpExchange> exchange, std::size_t left) {
  if (left == 0) return exchange->async_end();
  const std::size_t n = std::min<std::size_t>(left, 16 * 1024);
  std::string chunk(n, '\0');
  for (std::size_t i = 0; i < n; ++i) chunk[i] = static_cast<char>('a' + (left - i) % 26);
  exchange->async_write(chunk, [exchange, left, n](const sc::Error& e) {
    if (!e) stream_bytes(exchange, left - n);
  });
}

struct BodySummary {
  std::size_t length = 0;
  std::uint32_t hash = 2166136261u;
  std::size_t pieces = 0;
};

void summarize(std::shared_ptr<sc::HttpExchange> exchange, std::shared_ptr<BodySummary> body) {
  exchange->async_read_body([exchange, body](const sc::Error& error, sc::Chunk chunk) {
    if (error) return say("request failed: " + error.message());
    body->length += chunk.data.size();
    body->hash = fnv1a(body->hash, chunk.data);
    ++body->pieces;
    if (!chunk.last) return summarize(exchange, body);
    char hash[9];
    std::snprintf(hash, sizeof hash, "%08x", body->hash);
    std::string custom(sc::find_header(exchange->headers(), "X-Custom"));
    const std::string json = "{\"method\":\"" + exchange->method() + "\",\"target\":\"" +
                             exchange->target() + "\",\"length\":" + std::to_string(body->length) +
                             ",\"fnv1a\":\"" + hash + "\",\"custom\":\"" + custom + "\"}";
    exchange->set_status(exchange->method() == "POST" ? 201 : 200);
    exchange->add_header("Content-Type", "application/json");
    exchange->add_header("X-Served-By", "relay-echo");
    exchange->async_write(json, {});
    exchange->async_end();
  });
}

void serve(std::shared_ptr<sc::HttpExchange> exchange) {
  say("request " + exchange->method() + " " + exchange->target());
  const auto& target = exchange->target();
  const auto at = target.find("/stream?bytes=");
  if (at != std::string::npos) {
    exchange->add_header("Content-Type", "application/octet-stream");
    return stream_bytes(exchange, std::strtoull(target.c_str() + at + 14, nullptr, 10));
  }
  summarize(exchange, std::make_shared<BodySummary>());
}

int request(const Options& o) {
  boost::asio::io_context io;
  sc::HttpRequestOptions options;
  options.method = o.method;
  options.body = o.data;
  options.headers = {{"Content-Type", "text/plain"}};
  if (!o.key.empty()) options.token = sc::create_relay_token(o.request_url, o.key_name, o.key);
  int status = 1;
  sc::relayed_request(io, o.request_url, options, [&](const sc::Error& error, sc::HttpReply reply) {
    if (error) return say("request failed: " + error.message());
    say("status " + std::to_string(reply.status) + " " + reply.reason);
    say("body " + reply.body);
    status = 0;
  });
  io.run();
  return status;
}

int send_once(const Options& o) {
  sc::SenderOptions options;
  if (!o.key.empty()) options.token = sc::create_relay_token(o.send_url, o.key_name, o.key);
  sc::Error error;
  auto connection = sc::blocking::Connection::connect(o.send_url, options, error);
  if (!connection) {
    say("connect failed: " + error.message());
    return 1;
  }
  if (!connection->send(o.message, true, error)) return 1;
  auto reply = connection->receive(error);
  if (!reply) {
    say("receive failed: " + error.message());
    return 1;
  }
  say("reply " + reply->data);
  connection->close(1000, "done");
  return 0;
}

int answer_once(const Options& o) {
  sc::ListenerOptions options;
  if (!o.key.empty()) options.token = sc::key_token_provider(o.key_name, o.key);
  sc::blocking::Listener listener(o.once_url, std::move(options));
  auto connection = listener.accept(std::chrono::seconds(30));
  if (!connection) {
    say("nobody came");
    return 1;
  }
  sc::Error error;
  auto message = connection->receive(error);
  if (!message) return 1;
  connection->send("once: " + message->data, true, error);
  (void)connection->receive(error);  // until the sender's Close
  say("done " + std::to_string(error.close_code));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    const bool has_value = i + 1 < argc;
    if (arg == "--key-name" && has_value) {
      o.key_name = argv[++i];
    } else if (arg == "--key" && has_value) {
      o.key = argv[++i];
    } else if (arg == "--ttl" && has_value) {
      o.ttl = std::strtol(argv[++i], nullptr, 10);
    } else if (arg == "--request" && has_value) {
      o.request_url = argv[++i];
    } else if (arg == "--send" && has_value) {
      o.send_url = argv[++i];
    } else if (arg == "--message" && has_value) {
      o.message = argv[++i];
    } else if (arg == "--once" && has_value) {
      o.once_url = argv[++i];
    } else if (arg == "--method" && has_value) {
      o.method = argv[++i];
    } else if (arg == "--data" && has_value) {
      o.data = argv[++i];
    } else if (arg == "--protocol" && has_value) {
      o.protocols.emplace_back(argv[++i]);
    } else if (o.url.empty() && arg.rfind("--", 0) != 0) {
      o.url = arg;
    } else {
      std::cerr << "usage: relay-echo LISTEN_URL [--key-name NAME --key KEY] [--ttl SECONDS] "
                   "[--protocol P]...\n";
      return 2;
    }
  }
  if (!o.request_url.empty()) return request(o);
  if (!o.send_url.empty()) return send_once(o);
  if (!o.once_url.empty()) return answer_once(o);
  if (o.url.empty() || o.ttl <= 0) {
    std::cerr << "relay-echo: a listen URL is required\n";
    return 2;
  }

  boost::asio::io_context io;
  sc::ListenerOptions options;
  if (!o.key.empty()) {
    options.token = sc::key_token_provider(o.key_name, o.key, std::chrono::seconds(o.ttl));
  }
  sc::ListenerHandlers handlers;
  handlers.on_state = [](sc::ListenerState state, const sc::Error& cause,
                         std::chrono::seconds wait) {
    std::string line = "state " + std::string(sc::to_string(state));
    if (state == sc::ListenerState::kReconnecting) {
      line += " " + std::to_string(wait.count()) + " " + cause.message();
    }
    say(line);
  };
  handlers.on_accept = [&o](std::shared_ptr<sc::AcceptRequest> request) {
    say("accept path=" + request->path() + " query=" + request->query() +
        " remote=" + request->remote_address() +
        " custom=" + std::string(sc::find_header(request->headers(), "X-Custom")));
    const std::string reject(sc::find_header(request->headers(), "X-Reject"));
    if (!reject.empty()) {
      const int status = std::atoi(reject.c_str());
      const auto space = reject.find(' ');
      request->reject(status, space == std::string::npos ? "" : reject.substr(space + 1),
                      [](const sc::Error& e) { say("rejected " + (e ? e.message() : "ok")); });
      return;
    }
    std::string chosen;
    const auto offered = request->subprotocols();
    for (const auto& p : o.protocols) {
      for (const auto& q : offered) {
        if (chosen.empty() && p == q) chosen = p;
      }
    }
    request->accept(chosen, [chosen](const sc::Error& error, sc::WebSocket socket) {
      if (error) return say("accept failed " + error.message());
      say("connection protocol=" + chosen);
      echo(std::move(socket));
    });
  };
  handlers.on_request = serve;
  handlers.on_warning = [](std::string_view text) { say("warning " + std::string(text)); };
  sc::HybridListener listener(io, o.url, std::move(options), std::move(handlers));
  listener.start();
  io.run();
}
