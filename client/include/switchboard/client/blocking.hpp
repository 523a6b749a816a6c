// A small blocking API for simple programs: each object runs its own I/O thread, and every call
// waits for its result. Errors come back in an Error, never as exceptions.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "switchboard/client/listener.hpp"
#include "switchboard/client/sender.hpp"

namespace switchboard::client::blocking {

struct Message {
  std::string data;
  bool text = false;
};

class Runner;

class Connection {
 public:
  // A relayed WebSocket to the listener at `url`; nullptr (and `error`) when it failed.
  static std::unique_ptr<Connection> connect(std::string_view url, SenderOptions options,
                                             Error& error);
  Connection(std::shared_ptr<Runner> runner, WebSocket socket);
  ~Connection();
  bool send(std::string_view data, bool text, Error& error);
  // The next whole message; nullopt when the connection closed (error.close_code says how).
  std::optional<Message> receive(Error& error);
  void close(std::uint16_t code = 1000, std::string_view reason = {});
  const std::string& subprotocol() const;

 private:
  std::shared_ptr<Runner> runner_;
  WebSocket socket_;
};

class Listener {
 public:
  // Connects at once and keeps reconnecting in the background.
  Listener(std::string listen_url, ListenerOptions options);
  ~Listener();
  // The next sender, accepted with the first sub-protocol it offered; nullptr after `timeout`.
  std::unique_ptr<Connection> accept(std::chrono::milliseconds timeout);
  ListenerState state() const;

 private:
  struct Queue;
  std::shared_ptr<Runner> runner_;
  std::shared_ptr<Queue> queue_;
  std::unique_ptr<HybridListener> listener_;
};

}  // namespace switchboard::client::blocking
