#include "tools/switchboard/link.hpp"

#include <fcntl.h>
#include <spawn.h>
#include <unistd.h>

#include <array>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>

extern char** environ;

namespace switchboard::tools {

namespace {

constexpr std::size_t kChunk = std::size_t{64} * 1024;

// Reading and writing for the Asio-backed streams: Derived gives reader() and writer() (one
// socket for TCP, a child's two pipes).
template <typename Derived>
class AsioStream : public ByteStream, public std::enable_shared_from_this<Derived> {
 public:
  void async_read(ReadHandler handler) override {
    auto self = this->shared_from_this();
    self->reader().async_read_some(
        asio::buffer(buffer_), [self, handler = std::move(handler)](error_code ec, std::size_t n) {
          handler(ec, {self->buffer_.data(), n});
        });
  }
  void async_write(std::string_view data, WriteHandler handler) override {
    auto self = this->shared_from_this();
    asio::async_write(
        self->writer(), asio::buffer(data),
        [self, handler = std::move(handler)](error_code ec, std::size_t) { handler(ec); });
  }

 private:
  std::array<char, kChunk> buffer_;
};

class TcpStream : public AsioStream<TcpStream> {
 public:
  explicit TcpStream(asio::ip::tcp::socket socket) : socket_(std::move(socket)) {}
  asio::ip::tcp::socket& reader() { return socket_; }
  asio::ip::tcp::socket& writer() { return socket_; }
  void shutdown_write() override {
    error_code ignored;
    socket_.shutdown(asio::ip::tcp::socket::shutdown_send, ignored);
  }
  void close() override {
    error_code ignored;
    socket_.close(ignored);
  }

 private:
  asio::ip::tcp::socket socket_;
};

class ProcessStream : public AsioStream<ProcessStream> {
 public:
  ProcessStream(asio::io_context& io, int to_child, int from_child)
      : to_child_(io, to_child), from_child_(io, from_child) {}
  asio::posix::stream_descriptor& reader() { return from_child_; }
  asio::posix::stream_descriptor& writer() { return to_child_; }
  void shutdown_write() override {
    error_code ignored;
    to_child_.close(ignored);
  }
  void close() override {
    error_code ignored;
    to_child_.close(ignored);
    from_child_.close(ignored);
  }

 private:
  asio::posix::stream_descriptor to_child_;
  asio::posix::stream_descriptor from_child_;
};

// Reads stdin on a thread of its own: epoll refuses regular files, and a terminal must not block
// the event loop. One read at a time, each asked for by async_read.
class StdioStream : public ByteStream, public std::enable_shared_from_this<StdioStream> {
 public:
  explicit StdioStream(asio::io_context& io) : io_(io) {}
  void async_read(ReadHandler handler) override {
    std::lock_guard lock(state_->mutex);
    state_->handler = std::move(handler);
    state_->wanted = true;
    if (!started_) {
      started_ = true;
      std::thread([state = state_, &io = io_] { reader(state, io); }).detach();
    }
    state_->ready.notify_one();
  }
  void async_write(std::string_view data, WriteHandler handler) override {
    error_code ec;
    while (!data.empty()) {
      const auto n = ::write(STDOUT_FILENO, data.data(), data.size());
      if (n < 0) {
        if (errno == EINTR) continue;
        ec = error_code(errno, boost::system::system_category());
        break;
      }
      data.remove_prefix(static_cast<std::size_t>(n));
    }
    asio::post(io_, [handler = std::move(handler), ec] { handler(ec); });
  }
  // Our stdout ends; /dev/null takes its place so that the descriptor number is not reused.
  void shutdown_write() override {
    const int null = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
    if (null >= 0) {
      ::dup2(null, STDOUT_FILENO);
      ::close(null);
    }
  }
  void close() override {}

 private:
  struct State {
    std::mutex mutex;
    std::condition_variable ready;
    bool wanted = false;
    ReadHandler handler;
    std::array<char, kChunk> buffer;
  };
  static void reader(std::shared_ptr<State> state, asio::io_context& io) {
    while (true) {
      ReadHandler handler;
      {
        std::unique_lock lock(state->mutex);
        state->ready.wait(lock, [&] { return state->wanted; });
        state->wanted = false;
        handler = std::move(state->handler);
      }
      ssize_t n;
      do {
        n = ::read(STDIN_FILENO, state->buffer.data(), state->buffer.size());
      } while (n < 0 && errno == EINTR);
      const error_code ec = n > 0 ? error_code() : error_code(asio::error::eof);
      const std::size_t size = n > 0 ? static_cast<std::size_t>(n) : 0;
      asio::post(io, [state, handler = std::move(handler), ec, size] {
        handler(ec, {state->buffer.data(), size});
      });
      if (n <= 0) return;
    }
  }

  asio::io_context& io_;
  std::shared_ptr<State> state_ = std::make_shared<State>();
  bool started_ = false;
};

class Link : public std::enable_shared_from_this<Link> {
 public:
  Link(client::WebSocket socket, std::shared_ptr<ByteStream> local, LinkOptions options,
       std::function<void(const LinkResult&)> done)
      : socket_(std::move(socket)),
        local_(std::move(local)),
        options_(std::move(options)),
        done_(std::move(done)) {}

  void start() {
    socket_.set_auto_close_reply(false);
    if (!options_.to_local.empty()) {
      down_ = std::move(options_.to_local);
      result_.to_local += down_.size();
      local_->async_write(down_, [self = shared_from_this()](error_code ec) {
        if (ec) return self->fail_local();
        self->read_remote();
      });
    } else {
      read_remote();
    }
    read_local();
  }

 private:
  void read_local() {
    local_->async_read([self = shared_from_this()](error_code ec, std::string_view data) {
      if (self->finished_) return;
      if (ec || data.empty()) return self->local_ended();
      self->result_.to_remote += data.size();
      if (!self->options_.text_lines) {
        self->socket_.async_write(data, false, [self](const client::Error& e) {
          if (e) return self->up_ended();
          self->read_local();
        });
        return;
      }
      self->send_lines(data);
    });
  }

  // Each complete line becomes a text message; reading resumes when the last has gone out.
  void send_lines(std::string_view data) {
    line_.append(data);
    std::vector<std::string_view> lines;
    std::size_t start = 0;
    for (auto nl = line_.find('\n'); nl != std::string::npos; nl = line_.find('\n', start)) {
      std::string_view line(line_.data() + start, nl - start);
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      lines.push_back(line);
      start = nl + 1;
    }
    for (std::size_t i = 0; i + 1 < lines.size(); ++i) socket_.async_write(lines[i], true);
    if (!lines.empty()) {
      socket_.async_write(lines.back(), true, [self = shared_from_this()](const client::Error& e) {
        if (e) return self->up_ended();
        self->read_local();
      });
    }
    line_.erase(0, start);
    if (lines.empty()) read_local();
  }

  void local_ended() {
    if (options_.text_lines && !line_.empty()) socket_.async_write(line_, true);
    line_.clear();
    socket_.async_close(1000, "Shutdown");
    up_ended();
  }

  void up_ended() {
    up_done_ = true;
    maybe_finish();
  }

  void read_remote() {
    socket_.async_read_some(
        [self = shared_from_this()](const client::Error& error, client::Chunk chunk) {
          if (self->finished_) return;
          if (error) return self->remote_ended(error);
          std::string_view data = chunk.data;
          if (self->options_.text_lines && chunk.text && chunk.last) {
            self->down_.assign(chunk.data);
            self->down_ += '\n';
            data = self->down_;
          }
          if (data.empty()) return self->read_remote();
          self->result_.to_local += data.size();
          self->local_->async_write(data, [self](error_code ec) {
            if (ec) return self->fail_local();
            self->read_remote();
          });
        });
  }

  void remote_ended(const client::Error& error) {
    down_done_ = true;
    local_->shutdown_write();
    if (!error.closed()) {
      // The relay or the peer went away without a Close: nothing more can be sent either.
      result_.error = error;
      local_->close();
      up_done_ = true;
    }
    maybe_finish();
  }

  void fail_local() {
    socket_.abort();
    local_->close();
    up_done_ = down_done_ = true;
    maybe_finish();
  }

  void maybe_finish() {
    if (!up_done_ || !down_done_ || finished_) return;
    finished_ = true;
    local_->close();
    if (done_) done_(result_);
    done_ = nullptr;
  }

  client::WebSocket socket_;
  std::shared_ptr<ByteStream> local_;
  LinkOptions options_;
  std::function<void(const LinkResult&)> done_;
  LinkResult result_;
  std::string line_;  // a local line not yet complete
  std::string down_;  // a text message with its newline
  bool up_done_ = false;
  bool down_done_ = false;
  bool finished_ = false;
};

}  // namespace

std::shared_ptr<ByteStream> tcp_stream(asio::ip::tcp::socket socket) {
  return std::make_shared<TcpStream>(std::move(socket));
}

std::shared_ptr<ByteStream> process_stream(asio::io_context& io, const std::string& command,
                                           std::string& error) {
  int in[2], out[2];
  if (pipe2(in, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0) {
    error = "pipe failed";
    return nullptr;
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, in[0], STDIN_FILENO);
  posix_spawn_file_actions_adddup2(&actions, out[1], STDOUT_FILENO);
  const char* argv[] = {"/bin/sh", "-c", command.c_str(), nullptr};
  pid_t pid = 0;
  const int rc = posix_spawn(&pid, "/bin/sh", &actions, nullptr, const_cast<char**>(argv), environ);
  posix_spawn_file_actions_destroy(&actions);
  ::close(in[0]);
  ::close(out[1]);
  if (rc != 0) {
    ::close(in[1]);
    ::close(out[0]);
    error = "cannot start /bin/sh";
    return nullptr;
  }
  return std::make_shared<ProcessStream>(io, in[1], out[0]);
}

std::shared_ptr<ByteStream> stdio_stream(asio::io_context& io) {
  return std::make_shared<StdioStream>(io);
}

void link(client::WebSocket socket, std::shared_ptr<ByteStream> local, LinkOptions options,
          std::function<void(const LinkResult&)> done) {
  std::make_shared<Link>(std::move(socket), std::move(local), std::move(options), std::move(done))
      ->start();
}

}  // namespace switchboard::tools
