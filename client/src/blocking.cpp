#include "switchboard/client/blocking.hpp"

#include <condition_variable>
#include <deque>
#include <future>
#include <mutex>
#include <thread>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>

namespace switchboard::client::blocking {

// An io_context and the thread that runs it.
class Runner {
 public:
  Runner() : work_(io_.get_executor()), thread_([this] { io_.run(); }) {}
  ~Runner() {
    work_.reset();
    io_.stop();
    if (thread_.joinable()) thread_.join();
  }
  asio::io_context& io() { return io_; }
  // Runs `f` on the I/O thread, which calls `done(result)` once; waits for the result.
  template <typename T, typename F>
  T run(F f) {
    std::promise<T> promise;
    auto future = promise.get_future();
    asio::post(io_, [&] { f([&promise](T value) { promise.set_value(std::move(value)); }); });
    return future.get();
  }

 private:
  asio::io_context io_;
  asio::executor_work_guard<asio::io_context::executor_type> work_;
  std::thread thread_;
};

namespace {
struct Connected {
  Error error;
  WebSocket socket;
};
struct Received {
  Error error;
  std::optional<Message> message;
};
}  // namespace

std::unique_ptr<Connection> Connection::connect(std::string_view url, SenderOptions options,
                                                Error& error) {
  auto runner = std::make_shared<Runner>();
  std::string address(url);
  auto result = runner->run<Connected>([&](auto done) {
    relayed_connect(runner->io(), address, std::move(options), [done](const Error& e, WebSocket s) {
      done(Connected{e, std::move(s)});
    });
  });
  error = result.error;
  if (error) return nullptr;
  return std::make_unique<Connection>(std::move(runner), std::move(result.socket));
}

Connection::Connection(std::shared_ptr<Runner> runner, WebSocket socket)
    : runner_(std::move(runner)), socket_(std::move(socket)) {}

Connection::~Connection() {
  try {
    runner_->run<bool>([this](auto done) {
      if (socket_.is_open()) socket_.async_close(1000, {});
      socket_ = {};
      done(true);
    });
  } catch (...) {  // the I/O thread is gone; nothing is left to close
  }
}

bool Connection::send(std::string_view data, bool text, Error& error) {
  error = runner_->run<Error>([&](auto done) { socket_.async_write(data, text, done); });
  return !error;
}

std::optional<Message> Connection::receive(Error& error) {
  auto result = runner_->run<Received>([&](auto done) {
    socket_.async_read([done](const Error& e, std::string data, bool text) {
      if (e) return done(Received{e, std::nullopt});
      done(Received{{}, Message{std::move(data), text}});
    });
  });
  error = result.error;
  return std::move(result.message);
}

void Connection::close(std::uint16_t code, std::string_view reason) {
  runner_->run<Error>([&](auto done) { socket_.async_close(code, reason, done); });
}

const std::string& Connection::subprotocol() const {
  return socket_.subprotocol();
}

struct Listener::Queue {
  std::mutex mutex;
  std::condition_variable ready;
  std::deque<WebSocket> sockets;
};

Listener::Listener(std::string listen_url, ListenerOptions options)
    : runner_(std::make_shared<Runner>()), queue_(std::make_shared<Queue>()) {
  ListenerHandlers handlers;
  handlers.on_connection = [queue = queue_](WebSocket socket,
                                            const std::shared_ptr<const AcceptRequest>&) {
    std::lock_guard lock(queue->mutex);
    queue->sockets.push_back(std::move(socket));
    queue->ready.notify_one();
  };
  listener_ = std::make_unique<HybridListener>(runner_->io(), std::move(listen_url),
                                               std::move(options), std::move(handlers));
  runner_->run<bool>([this](auto done) {
    listener_->start();
    done(true);
  });
}

Listener::~Listener() {
  try {
    runner_->run<bool>([this](auto done) {
      listener_.reset();
      std::lock_guard lock(queue_->mutex);
      queue_->sockets.clear();
      done(true);
    });
  } catch (...) {  // the I/O thread is gone; nothing is left to stop
  }
}

std::unique_ptr<Connection> Listener::accept(std::chrono::milliseconds timeout) {
  std::unique_lock lock(queue_->mutex);
  if (!queue_->ready.wait_for(lock, timeout, [&] { return !queue_->sockets.empty(); })) {
    return nullptr;
  }
  auto socket = std::move(queue_->sockets.front());
  queue_->sockets.pop_front();
  return std::make_unique<Connection>(runner_, std::move(socket));
}

ListenerState Listener::state() const {
  return runner_->run<ListenerState>([this](auto done) { done(listener_->state()); });
}

}  // namespace switchboard::client::blocking
