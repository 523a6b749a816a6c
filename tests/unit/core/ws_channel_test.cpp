// The control-channel WebSocket over a socketpair: whole messages in, Pongs out, bounded memory
// against a peer that pings without reading.
#include "core/ws_channel.hpp"

#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <future>
#include <thread>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>

namespace switchboard::core {
namespace {

using namespace std::chrono_literals;

std::string masked(std::uint8_t opcode, std::string_view payload, bool fin = true) {
  std::string out;
  out += static_cast<char>((fin ? 0x80 : 0) | opcode);
  if (payload.size() < 126) {
    out += static_cast<char>(0x80 | payload.size());
  } else {
    out += static_cast<char>(0x80 | 126);
    out += static_cast<char>(payload.size() >> 8);
    out += static_cast<char>(payload.size() & 0xFF);
  }
  const char mask[4] = {1, 2, 3, 4};
  out.append(mask, 4);
  for (std::size_t i = 0; i < payload.size(); ++i)
    out += static_cast<char>(payload[i] ^ mask[i % 4]);
  return out;
}

class WsChannelTest : public ::testing::Test {
 protected:
  void start(Limits limits, std::size_t max_message = 1024) {
    limits_ = limits;
    int fds[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
    peer_ = fds[0];
    int small = 32 * 1024;
    ::setsockopt(fds[1], SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
    ::setsockopt(peer_, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    channel_ = std::make_shared<WsChannel>(context_, limits_, attach(context_, {AF_UNIX, fds[1]}),
                                           std::string(), max_message);
    channel_->start(
        [this](bool text, std::string& payload) {
          messages_.push_back((text ? "T:" : "B:") + payload);
        },
        [this](std::uint16_t code, std::string_view) { end_code_ = code; });
    thread_ = std::thread([this] { context_.run(); });
  }
  void TearDown() override {
    guard_.reset();
    asio::post(context_, [c = channel_] { c->abort(1001, "test over"); });
    if (peer_ >= 0) ::close(peer_);
    if (thread_.joinable()) thread_.join();
  }
  void send(const std::string& bytes) {
    ASSERT_EQ(::send(peer_, bytes.data(), bytes.size(), MSG_NOSIGNAL), (ssize_t)bytes.size());
  }
  template <typename F>
  auto on_thread(F f) {
    std::promise<decltype(f())> result;
    asio::post(context_, [&] { result.set_value(f()); });
    return result.get_future().get();
  }
  std::string read_some() {
    pollfd p{peer_, POLLIN, 0};
    if (::poll(&p, 1, 3000) <= 0) return {};
    char buf[4096];
    const auto n = ::recv(peer_, buf, sizeof buf, 0);
    return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string();
  }

  Limits limits_;
  asio::io_context context_{1};
  asio::executor_work_guard<asio::io_context::executor_type> guard_{context_.get_executor()};
  std::shared_ptr<WsChannel> channel_;
  int peer_ = -1;
  std::thread thread_;
  std::vector<std::string> messages_;  // touched on the channel's thread only
  std::uint16_t end_code_ = 0;
};

TEST_F(WsChannelTest, AssemblesFragmentedMessagesAndAnswersPings) {
  start(Limits{});
  send(masked(ws::kText, "hel", false) + masked(ws::kPing, "x") + masked(ws::kContinuation, "lo"));
  send(masked(ws::kBinary, "raw"));
  const std::string pong = read_some();
  ASSERT_GE(pong.size(), 3u);
  EXPECT_EQ(static_cast<std::uint8_t>(pong[0]), 0x8A);
  EXPECT_EQ(pong.substr(2, 1), "x");
  std::this_thread::sleep_for(50ms);
  const auto messages = on_thread([&] { return messages_; });
  ASSERT_EQ(messages.size(), 2u);
  EXPECT_EQ(messages[0], "T:hello");
  EXPECT_EQ(messages[1], "B:raw");
}

TEST_F(WsChannelTest, OversizedMessageIsClosedWith1009) {
  start(Limits{}, 16);
  send(masked(ws::kText, std::string(17, 'a')));
  const std::string close = read_some();
  ASSERT_GE(close.size(), 4u);
  EXPECT_EQ(static_cast<std::uint8_t>(close[0]), 0x88);
  EXPECT_EQ((static_cast<std::uint8_t>(close[2]) << 8) | static_cast<std::uint8_t>(close[3]), 1009);
}

TEST_F(WsChannelTest, PingFloodFromANonReaderIsBounded) {
  Limits limits;
  limits.control_buffer_high_water = 64 * 1024;
  start(limits);
  int small = 32 * 1024;
  ::setsockopt(peer_, SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
  const std::string ping = masked(ws::kPing, std::string(125, 'p'));
  std::size_t sent = 0, max_backlog = 0;
  std::string partial;
  const auto until = std::chrono::steady_clock::now() + 1s;
  while (std::chrono::steady_clock::now() < until) {
    if (partial.empty()) partial = ping;
    const auto n = ::send(peer_, partial.data(), partial.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      partial.erase(0, static_cast<std::size_t>(n));
      sent += static_cast<std::size_t>(n);
    } else {
      std::this_thread::sleep_for(5ms);
    }
    max_backlog = std::max(max_backlog, channel_->backlog());
  }
  EXPECT_LE(max_backlog, limits.control_buffer_high_water + 128 * 1024);
  EXPECT_LT(sent, 4u * 1024 * 1024) << "the flood was not held back";
}

}  // namespace
}  // namespace switchboard::core
