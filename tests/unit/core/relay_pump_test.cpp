// The pump driven over socketpairs (in-memory, no network): framing, control frames, half-close
// and backpressure.
#include "core/relay_pump.hpp"

#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <future>
#include <random>
#include <thread>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>

namespace switchboard::core {
namespace {

using namespace std::chrono_literals;

struct Frame {
  bool fin = false;
  std::uint8_t opcode = 0;
  std::string payload;
};

std::string masked_frame(std::uint8_t opcode, std::string_view payload, bool fin = true) {
  std::string out;
  out += static_cast<char>((fin ? 0x80 : 0) | opcode);
  if (payload.size() < 126) {
    out += static_cast<char>(0x80 | payload.size());
  } else if (payload.size() <= 0xFFFF) {
    out += static_cast<char>(0x80 | 126);
    out += static_cast<char>(payload.size() >> 8);
    out += static_cast<char>(payload.size() & 0xFF);
  } else {
    out += static_cast<char>(0x80 | 127);
    for (int i = 7; i >= 0; --i) out += static_cast<char>((payload.size() >> (8 * i)) & 0xFF);
  }
  const char mask[4] = {0x5A, 0x13, 0x7F, 0x21};
  out.append(mask, 4);
  for (std::size_t i = 0; i < payload.size(); ++i)
    out += static_cast<char>(payload[i] ^ mask[i % 4]);
  return out;
}

std::string close_payload(std::uint16_t code, std::string_view reason) {
  std::string out{static_cast<char>(code >> 8), static_cast<char>(code & 0xFF)};
  out += reason;
  return out;
}

// One end of a leg, driven by the test with blocking calls.
class Peer {
 public:
  explicit Peer(int fd) : fd_(fd) {}
  ~Peer() {
    if (fd_ >= 0) ::close(fd_);
  }
  void send(const std::string& bytes) {
    std::size_t done = 0;
    while (done < bytes.size()) {
      const auto n = ::send(fd_, bytes.data() + done, bytes.size() - done, MSG_NOSIGNAL);
      ASSERT_GT(n, 0);
      done += static_cast<std::size_t>(n);
    }
  }
  // Sends without blocking; returns bytes taken.
  std::size_t try_send(const std::string& bytes) {
    const auto n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    return n > 0 ? static_cast<std::size_t>(n) : 0;
  }
  bool read_exact(std::size_t n, std::string& out, std::chrono::milliseconds timeout = 5s) {
    while (buffer_.size() < n) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(timeout.count())) <= 0) return false;
      char chunk[65536];
      const auto got = ::recv(fd_, chunk, sizeof chunk, 0);
      if (got <= 0) return false;
      buffer_.append(chunk, static_cast<std::size_t>(got));
    }
    out = buffer_.substr(0, n);
    buffer_.erase(0, n);
    return true;
  }
  // Server frames are unmasked.
  std::optional<Frame> read_frame() {
    std::string h;
    if (!read_exact(2, h)) return std::nullopt;
    Frame f;
    f.fin = (h[0] & 0x80) != 0;
    f.opcode = h[0] & 0x0F;
    EXPECT_EQ(h[1] & 0x80, 0) << "server frames must not be masked";
    std::uint64_t len = h[1] & 0x7F;
    std::string ext;
    if (len == 126) {
      if (!read_exact(2, ext)) return std::nullopt;
      len = (std::uint64_t(std::uint8_t(ext[0])) << 8) | std::uint8_t(ext[1]);
    } else if (len == 127) {
      if (!read_exact(8, ext)) return std::nullopt;
      len = 0;
      for (char c : ext) len = (len << 8) | std::uint8_t(c);
    }
    if (!read_exact(len, f.payload)) return std::nullopt;
    return f;
  }
  bool at_eof(std::chrono::milliseconds timeout = 5s) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(timeout.count())) <= 0) return false;
    char c;
    return ::recv(fd_, &c, 1, 0) == 0;
  }
  void shut() {
    ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_;
  std::string buffer_;
};

class RelayPumpTest : public ::testing::Test {
 protected:
  void start(Limits limits = {}, bool small_kernel_buffers = false, PumpOptions options = {}) {
    limits_ = limits;
    connect_peers(small_kernel_buffers);
    pump_ = std::make_shared<RelayPump>(context_, limits_, attach(context_, {AF_UNIX, pump_fd_}),
                                        std::string(), attach(context_, {AF_UNIX, partner_fd_}),
                                        std::string(), std::move(options));
    run_pump();
  }
  // Held mode: only the sender's leg exists until pair() brings the listener's.
  void start_held(Limits limits = {}, PumpOptions options = {}, bool small_kernel_buffers = false) {
    limits_ = limits;
    connect_peers(small_kernel_buffers);
    pump_ = std::make_shared<RelayPump>(context_, limits_, attach(context_, {AF_UNIX, pump_fd_}),
                                        std::string(), std::move(options));
    pump_->on_held_closed = [this] { held_closed_.set_value(); };
    run_pump();
  }
  // small_kernel_buffers: 32 KiB socket buffers everywhere, so bounds show in the pump, not the
  // kernel.
  void connect_peers(bool small_kernel_buffers) {
    int a[2], b[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, a), 0);
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, b), 0);
    if (small_kernel_buffers) {
      int small = 32 * 1024;
      for (int fd : {a[0], a[1], b[0], b[1]}) {
        ::setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
        ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
      }
    }
    sender_ = std::make_unique<Peer>(a[0]);
    listener_ = std::make_unique<Peer>(b[0]);
    pump_fd_ = a[1];
    partner_fd_ = b[1];
  }
  void run_pump() {
    pump_->on_finished = [this] { finished_.set_value(); };
    pump_->start();
    thread_ = std::thread([this] { context_.run(); });
  }
  void pair() {
    asio::post(context_, [this] {
      pump_->pair_with(attach(context_, {AF_UNIX, partner_fd_}), std::string());
    });
  }
  void TearDown() override {
    guard_.reset();
    if (pump_) asio::post(context_, [p = pump_] { p->close_both(1001, "test over"); });
    sender_.reset();
    listener_.reset();
    if (thread_.joinable()) thread_.join();
  }
  template <typename F>
  auto on_pump_thread(F f) {
    std::promise<decltype(f())> result;
    asio::post(context_, [&] { result.set_value(f()); });
    return result.get_future().get();
  }
  // What the pump keeps toward leg `i`, once it has read at least `expected` bytes' worth (the
  // pump reads on its own thread, after the test's send returns).
  std::size_t pending_once_read(int i, std::size_t expected) {
    std::size_t now = 0;
    for (int tries = 0; tries < 500; ++tries) {
      now = on_pump_thread([&] { return pump_->pending_toward(i); });
      if (now >= expected) break;
      std::this_thread::sleep_for(10ms);
    }
    return now;
  }

  Limits limits_;
  asio::io_context context_{1};
  asio::executor_work_guard<asio::io_context::executor_type> guard_{context_.get_executor()};
  std::shared_ptr<RelayPump> pump_;
  std::unique_ptr<Peer> sender_, listener_;
  std::promise<void> finished_;
  std::promise<void> held_closed_;
  int pump_fd_ = -1;
  int partner_fd_ = -1;
  std::thread thread_;
};

std::uint16_t close_code(const Frame& f) {
  return static_cast<std::uint16_t>((std::uint8_t(f.payload[0]) << 8) | std::uint8_t(f.payload[1]));
}

TEST_F(RelayPumpTest, ForwardsFramesOneForOneUnmasked) {
  start();
  sender_->send(masked_frame(ws::kText, "hello"));
  sender_->send(masked_frame(ws::kBinary, std::string(70000, '\x07')));
  sender_->send(masked_frame(ws::kText, "frag-", false) + masked_frame(ws::kContinuation, "ment"));
  auto f = listener_->read_frame();
  ASSERT_TRUE(f);
  EXPECT_EQ(f->opcode, ws::kText);
  EXPECT_TRUE(f->fin);
  EXPECT_EQ(f->payload, "hello");
  f = listener_->read_frame();
  ASSERT_TRUE(f);
  EXPECT_EQ(f->opcode, ws::kBinary);
  EXPECT_EQ(f->payload, std::string(70000, '\x07'));
  f = listener_->read_frame();
  ASSERT_TRUE(f);
  EXPECT_FALSE(f->fin);
  EXPECT_EQ(f->opcode, ws::kText);
  EXPECT_EQ(f->payload, "frag-");
  f = listener_->read_frame();
  ASSERT_TRUE(f);
  EXPECT_TRUE(f->fin);
  EXPECT_EQ(f->opcode, ws::kContinuation);
  EXPECT_EQ(f->payload, "ment");
}

TEST_F(RelayPumpTest, FramesSplitAcrossWritesArriveIntact) {
  start();
  const std::string frame =
      masked_frame(ws::kBinary, std::string(1000, 'z')) + masked_frame(ws::kPing, "p");
  for (char c : frame) sender_->send(std::string(1, c));  // one byte at a time
  auto f = listener_->read_frame();
  ASSERT_TRUE(f);
  EXPECT_EQ(f->payload, std::string(1000, 'z'));
  auto pong = sender_->read_frame();
  ASSERT_TRUE(pong);
  EXPECT_EQ(pong->opcode, ws::kPong);
  EXPECT_EQ(pong->payload, "p");
}

TEST_F(RelayPumpTest, PingIsAnsweredOnItsOwnLegAndNotForwarded) {
  start();
  listener_->send(masked_frame(ws::kPing, "are you there"));
  listener_->send(masked_frame(ws::kText, "after ping"));
  auto pong = listener_->read_frame();
  ASSERT_TRUE(pong);
  EXPECT_EQ(pong->opcode, ws::kPong);
  EXPECT_EQ(pong->payload, "are you there");
  auto f = sender_->read_frame();
  ASSERT_TRUE(f);
  EXPECT_EQ(f->opcode, ws::kText);  // the ping did not cross
  EXPECT_EQ(f->payload, "after ping");
}

TEST_F(RelayPumpTest, HalfCloseKeepsTheOtherDirectionFlowing) {
  start();
  sender_->send(masked_frame(ws::kClose, close_payload(4000, "bye")));
  auto close = listener_->read_frame();
  ASSERT_TRUE(close);
  EXPECT_EQ(close->opcode, ws::kClose);
  EXPECT_EQ(close->payload, close_payload(4000, "bye"));
  listener_->send(masked_frame(ws::kText, "still"));
  listener_->send(masked_frame(ws::kText, "talking"));
  listener_->send(masked_frame(ws::kClose, close_payload(4000, "bye")));
  for (const char* expected : {"still", "talking"}) {
    auto f = sender_->read_frame();
    ASSERT_TRUE(f);
    EXPECT_EQ(f->opcode, ws::kText);
    EXPECT_EQ(f->payload, expected);
  }
  auto reply = sender_->read_frame();
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->opcode, ws::kClose);
  EXPECT_TRUE(sender_->at_eof());
  EXPECT_TRUE(listener_->at_eof());
  sender_->shut();
  listener_->shut();
  EXPECT_EQ(finished_.get_future().wait_for(5s), std::future_status::ready);
}

TEST_F(RelayPumpTest, InvalidUtf8ClosesBothLegsWith1007) {
  start();
  sender_->send(masked_frame(ws::kText, "ok\xFF"));
  for (auto* peer : {sender_.get(), listener_.get()}) {
    auto f = peer->read_frame();  // a complete invalid frame is not forwarded at all
    ASSERT_TRUE(f);
    EXPECT_EQ(f->opcode, ws::kClose);
    ASSERT_GE(f->payload.size(), 2u);
    EXPECT_EQ((std::uint8_t(f->payload[0]) << 8) | std::uint8_t(f->payload[1]), 1007);
  }
}

TEST_F(RelayPumpTest, UnmaskedClientFrameIsAProtocolError) {
  start();
  sender_->send(std::string("\x81\x02hi", 4));
  auto f = listener_->read_frame();
  ASSERT_TRUE(f);
  EXPECT_EQ(f->opcode, ws::kClose);
  EXPECT_EQ((std::uint8_t(f->payload[0]) << 8) | std::uint8_t(f->payload[1]), 1002);
}

TEST_F(RelayPumpTest, LostLegGivesTheOther1001) {
  start();
  sender_->shut();
  auto f = listener_->read_frame();
  ASSERT_TRUE(f);
  EXPECT_EQ(f->opcode, ws::kClose);
  EXPECT_EQ((std::uint8_t(f->payload[0]) << 8) | std::uint8_t(f->payload[1]), 1001);
  listener_->send(masked_frame(ws::kClose, close_payload(1001, "")));
  EXPECT_TRUE(listener_->at_eof());
  listener_->shut();
  EXPECT_EQ(finished_.get_future().wait_for(5s), std::future_status::ready);
}

TEST_F(RelayPumpTest, SlowReceiverHoldsTheSenderBackWithinTheHighWaterMark) {
  Limits limits;
  limits.relay_buffer_high_water = 64 * 1024;
  start(limits, /*small_kernel_buffers=*/true);
  std::mt19937 random(7);
  std::string sent;
  std::string pending_frame;
  std::size_t max_pending = 0;
  const auto until = std::chrono::steady_clock::now() + 1500ms;
  while (std::chrono::steady_clock::now() < until) {
    if (pending_frame.empty()) {
      std::string payload(4096, '\0');
      for (auto& c : payload) c = static_cast<char>(random());
      sent += payload;
      pending_frame = masked_frame(ws::kBinary, payload);
    }
    const std::size_t n = sender_->try_send(pending_frame);
    pending_frame.erase(0, n);
    if (n == 0) std::this_thread::sleep_for(5ms);
    max_pending = std::max(max_pending, on_pump_thread([&] { return pump_->pending_toward(1); }));
  }
  // The sender stalls: what it could hand over is bounded by the mark, one read and kernel buffers.
  EXPECT_LT(sent.size(), 4u * 1024 * 1024);
  EXPECT_LE(max_pending, limits.relay_buffer_high_water + 256 * 1024 + 4096);
  // Once the receiver reads, everything arrives, in order.
  // The rest of the last frame goes from another thread: it can only drain while we read.
  std::thread finish_sending([&] {
    if (!pending_frame.empty()) sender_->send(pending_frame);
  });
  std::string received;
  while (received.size() < sent.size()) {
    auto f = listener_->read_frame();
    if (!f) finish_sending.join();
    ASSERT_TRUE(f) << "received " << received.size() << " of " << sent.size();
    received += f->payload;
  }
  finish_sending.join();
  EXPECT_EQ(received, sent);
}

// An echo that waits for its own writes (a TCP tunnel end whose local peer is slow) stops reading
// while the relay's bytes toward it pile up; the relay must still read what it sends, or both
// sides wait for each other forever.
TEST_F(RelayPumpTest, LegWithABacklogTowardItIsStillRead) {
  Limits limits;
  limits.relay_buffer_high_water = 64 * 1024;
  start(limits, /*small_kernel_buffers=*/true);
  const std::string chunk = masked_frame(ws::kBinary, std::string(4096, 's'));
  std::string partial;
  const auto until = std::chrono::steady_clock::now() + 500ms;
  while (std::chrono::steady_clock::now() < until) {  // the listener does not read
    if (partial.empty()) partial = chunk;
    const std::size_t n = sender_->try_send(partial);
    partial.erase(0, n);
    if (n == 0) std::this_thread::sleep_for(5ms);
  }
  ASSERT_GE(on_pump_thread([&] { return pump_->pending_toward(1); }),
            limits.relay_buffer_high_water);
  listener_->send(masked_frame(ws::kBinary, "from the listener"));
  std::optional<Frame> f;
  do {
    f = sender_->read_frame();
  } while (f && f->opcode == ws::kPong);
  ASSERT_TRUE(f) << "the listener's message never reached the sender";
  EXPECT_EQ(f->payload, "from the listener");
}

TEST_F(RelayPumpTest, PingFloodFromANonReaderIsBounded) {
  Limits limits;
  limits.relay_buffer_high_water = 64 * 1024;
  start(limits, /*small_kernel_buffers=*/true);
  // The sender pings as fast as it can and never reads the Pongs.
  const std::string ping = masked_frame(ws::kPing, std::string(125, 'p'));
  std::size_t sent = 0;
  std::size_t max_pending = 0;
  std::string partial;
  const auto until = std::chrono::steady_clock::now() + 1s;
  while (std::chrono::steady_clock::now() < until) {
    if (partial.empty()) partial = ping;
    const std::size_t n = sender_->try_send(partial);
    partial.erase(0, n);
    sent += n;
    if (n == 0) std::this_thread::sleep_for(5ms);
    max_pending = std::max(max_pending, on_pump_thread([&] { return pump_->pending_toward(0); }));
  }
  // The flooder is still read (see LegWithABacklogTowardItIsStillRead), but what waits toward it
  // stays bounded: only the latest Pong is kept while it does not read.
  EXPECT_LE(max_pending, limits.relay_buffer_high_water + 256 * 1024);
  EXPECT_GT(sent, 0u);
  // Once it reads, its latest Ping is answered.
  sender_->send(masked_frame(ws::kPing, "last"));
  std::optional<Frame> f;
  do {
    f = sender_->read_frame();
  } while (f && !(f->opcode == ws::kPong && f->payload == "last"));
  EXPECT_TRUE(f) << "the latest Ping was never answered";
}

TEST_F(RelayPumpTest, HalfClosedPairEndsWithinCloseTimeoutWhenTheCloserVanishes) {
  Limits limits;
  limits.close_timeout = 300ms;
  start(limits);
  sender_->send(masked_frame(ws::kClose, close_payload(1000, "")));
  ASSERT_TRUE(listener_->read_frame());  // the forwarded Close; the listener never answers
  sender_->shut();                       // and the closer goes away
  const auto started = std::chrono::steady_clock::now();
  EXPECT_EQ(finished_.get_future().wait_for(3s), std::future_status::ready);
  EXPECT_LT(std::chrono::steady_clock::now() - started, 2s);
}

TEST_F(RelayPumpTest, KeepaliveDoesNotCutAHalfClosedPair) {
  Limits limits;
  limits.ping_interval = 50ms;
  limits.ping_misses = 2;
  start(limits);
  sender_->send(masked_frame(ws::kClose, close_payload(1000, "done sending")));
  auto close = listener_->read_frame();
  ASSERT_TRUE(close);
  ASSERT_EQ(close->opcode, ws::kClose);
  // The sender is silent from now on, for many ping intervals; the listener keeps talking.
  for (int i = 0; i < 6; ++i) {
    std::this_thread::sleep_for(60ms);
    listener_->send(masked_frame(ws::kText, "late " + std::to_string(i)));
  }
  for (int i = 0; i < 6; ++i) {
    std::optional<Frame> f;
    do {
      f = sender_->read_frame();
    } while (f && f->opcode == ws::kPing);
    ASSERT_TRUE(f);
    EXPECT_EQ(f->opcode, ws::kText);
    EXPECT_EQ(f->payload, "late " + std::to_string(i));
  }
}

TEST_F(RelayPumpTest, HeldMessagesReachThePartnerVerbatimAndFirst) {
  start_held();
  sender_->send(masked_frame(ws::kText, "early-text"));
  sender_->send(masked_frame(ws::kBinary, std::string(300, 'A')));
  sender_->send(masked_frame(ws::kBinary, "frag-", false) +
                masked_frame(ws::kContinuation, "ment"));
  sender_->send(masked_frame(ws::kPing, "held?"));
  auto pong = sender_->read_frame();  // answered while nobody else is there
  ASSERT_TRUE(pong);
  EXPECT_EQ(pong->opcode, ws::kPong);
  EXPECT_EQ(pong->payload, "held?");
  EXPECT_EQ(on_pump_thread([&] { return pump_->pending_toward(1); }),
            2 + 10 + 4 + 300 + 2 + 5 + 2 + 4);
  EXPECT_EQ(RelayPump::active_pairs(), 0u) << "a held leg is not a pair";
  pair();
  sender_->send(masked_frame(ws::kText, "late"));
  const std::vector<std::pair<std::uint8_t, std::string>> expected = {
      {ws::kText, "early-text"},
      {ws::kBinary, std::string(300, 'A')},
      {ws::kBinary, "frag-"},
      {ws::kContinuation, "ment"},
      {ws::kText, "late"}};
  for (const auto& [opcode, payload] : expected) {
    auto f = listener_->read_frame();
    ASSERT_TRUE(f);
    EXPECT_EQ(f->opcode, opcode);
    EXPECT_EQ(f->payload, payload);
  }
  EXPECT_EQ(on_pump_thread([] { return RelayPump::active_pairs(); }), 1u);
  listener_->send(masked_frame(ws::kText, "back"));
  auto back = sender_->read_frame();
  ASSERT_TRUE(back);
  EXPECT_EQ(back->payload, "back");
}

TEST_F(RelayPumpTest, HeldCloseIsAnsweredAndKeptForThePartner) {
  start_held();
  sender_->send(masked_frame(ws::kBinary, "last words"));
  sender_->send(masked_frame(ws::kClose, close_payload(4000, "gone")));
  auto echo = sender_->read_frame();
  ASSERT_TRUE(echo);
  EXPECT_EQ(echo->opcode, ws::kClose);
  EXPECT_EQ(echo->payload, close_payload(4000, "")) << "the server echoes the code";
  EXPECT_TRUE(sender_->at_eof());
  sender_->shut();
  ASSERT_EQ(held_closed_.get_future().wait_for(5s), std::future_status::ready);
  pair();
  auto data = listener_->read_frame();
  ASSERT_TRUE(data);
  EXPECT_EQ(data->payload, "last words");
  auto close = listener_->read_frame();
  ASSERT_TRUE(close);
  EXPECT_EQ(close->opcode, ws::kClose);
  EXPECT_EQ(close->payload, close_payload(4000, "gone"));
  listener_->send(masked_frame(ws::kClose, close_payload(4000, "")));
  EXPECT_TRUE(listener_->at_eof());
  listener_->shut();
  EXPECT_EQ(finished_.get_future().wait_for(5s), std::future_status::ready);
}

TEST_F(RelayPumpTest, HeldLegLostBecomesPartnerLostNotice) {
  PumpOptions options;
  options.partner_lost = CloseNotice{1001, "peer connection lost"};
  start_held({}, options);
  sender_->send(masked_frame(ws::kText, "before the loss"));
  sender_->shut();
  ASSERT_EQ(held_closed_.get_future().wait_for(5s), std::future_status::ready);
  pair();
  auto data = listener_->read_frame();
  ASSERT_TRUE(data);
  EXPECT_EQ(data->payload, "before the loss");
  auto close = listener_->read_frame();
  ASSERT_TRUE(close);
  ASSERT_EQ(close->opcode, ws::kClose);
  EXPECT_EQ(close->payload, close_payload(1001, "peer connection lost"));
}

TEST_F(RelayPumpTest, HeldLegIsNotReadAboveTheHoldHighWaterMark) {
  PumpOptions options;
  options.hold_high_water = 64 * 1024;
  start_held({}, options, /*small_kernel_buffers=*/true);
  const std::string frame = masked_frame(ws::kBinary, std::string(4096, 'h'));
  std::size_t frames = 0;
  std::string partial;
  const auto until = std::chrono::steady_clock::now() + 500ms;
  while (std::chrono::steady_clock::now() < until) {
    if (partial.empty()) partial = frame;
    const auto n = sender_->try_send(partial);
    partial.erase(0, n);
    if (partial.empty()) ++frames;
    if (n == 0) std::this_thread::sleep_for(5ms);
  }
  const auto kept = on_pump_thread([&] { return pump_->pending_toward(1); });
  EXPECT_LE(kept, 64u * 1024 + 256u * 1024) << "kept bytes stay near the hold mark";
  EXPECT_LT(kept, frames * frame.size()) << "the sender was held back by TCP";
  pair();
  if (!partial.empty()) {
    sender_->send(partial);
    ++frames;
  }
  for (std::size_t i = 0; i < frames; ++i) {
    auto f = listener_->read_frame();
    ASSERT_TRUE(f) << "frame " << i << " of " << frames;
    ASSERT_EQ(f->payload.size(), 4096u);
  }
}

TEST_F(RelayPumpTest, CloseHeldForgetsWhatWasKept) {
  start_held();
  sender_->send(masked_frame(ws::kText, "orphan"));
  EXPECT_EQ(pending_once_read(1, 8), 8u);
  asio::post(context_, [this] { pump_->close_held(1008, "replaced by a newer connection"); });
  auto close = sender_->read_frame();
  ASSERT_TRUE(close);
  ASSERT_EQ(close->opcode, ws::kClose);
  EXPECT_EQ(close->payload, close_payload(1008, "replaced by a newer connection"));
  sender_->send(masked_frame(ws::kClose, close_payload(1008, "")));
  EXPECT_TRUE(sender_->at_eof());
  sender_->shut();
  EXPECT_EQ(finished_.get_future().wait_for(5s), std::future_status::ready);
  // A partner arriving now is told the other side is gone.
  pair();
  auto told = listener_->read_frame();
  ASSERT_TRUE(told);
  EXPECT_EQ(told->opcode, ws::kClose);
  EXPECT_EQ(close_code(*told), 1001);
}

TEST_F(RelayPumpTest, WithoutHalfCloseTheOtherLegMustAnswerWithinCloseTimeout) {
  Limits limits;
  limits.close_timeout = 200ms;
  PumpOptions options;
  options.half_close = false;
  options.partner_lost = CloseNotice{1001, "peer connection lost"};
  start_held(limits, options);
  pair();
  sender_->send(masked_frame(ws::kClose, close_payload(4001, "bye")));
  auto close = listener_->read_frame();
  ASSERT_TRUE(close);
  EXPECT_EQ(close->payload, close_payload(4001, "bye"));
  // The listener never answers: both legs are cut after close_timeout.
  const auto started = std::chrono::steady_clock::now();
  EXPECT_TRUE(listener_->at_eof(3s));
  EXPECT_LT(std::chrono::steady_clock::now() - started, 2s);
}

TEST_F(RelayPumpTest, FailedLegGivesThePartnerTheLostNotice) {
  PumpOptions options;
  options.partner_lost = CloseNotice{1001, "peer connection lost"};
  start_held({}, options);
  pair();
  sender_->send(masked_frame(ws::kText, "ok\xFF"));
  auto own = sender_->read_frame();
  ASSERT_TRUE(own);
  EXPECT_EQ(close_code(*own), 1007) << "the sender hears why";
  std::optional<Frame> f;
  do {
    f = listener_->read_frame();
  } while (f && f->opcode != ws::kClose);
  ASSERT_TRUE(f);
  EXPECT_EQ(f->payload, close_payload(1001, "peer connection lost"));
}

TEST_F(RelayPumpTest, CloseBehindDataASlowReceiverIsStillTakingIsNotCutAtTheDeadline) {
  Limits limits;
  limits.close_timeout = 200ms;
  start_held(limits, {}, /*small_kernel_buffers=*/true);
  const std::string chunk(16 * 1024, 'k');
  for (int i = 0; i < 24; ++i) sender_->send(masked_frame(ws::kBinary, chunk));
  sender_->send(masked_frame(ws::kClose, close_payload(4000, "done")));
  ASSERT_TRUE(sender_->read_frame());  // the echoed Close: everything above was read
  pair();
  // The partner takes the 384 KiB slowly, for well over close_timeout.
  for (int i = 0; i < 24; ++i) {
    std::this_thread::sleep_for(40ms);
    auto f = listener_->read_frame();
    ASSERT_TRUE(f) << "frame " << i << " lost";
    ASSERT_EQ(f->payload.size(), chunk.size());
  }
  auto close = listener_->read_frame();
  ASSERT_TRUE(close);
  EXPECT_EQ(close->payload, close_payload(4000, "done"));
}

PumpOptions byte_stream() {
  PumpOptions options;
  options.byte_stream = true;
  options.half_close = false;
  options.partner_lost = CloseNotice{1011, "exception"};
  return options;
}

void expect_binary(Peer& peer, std::string_view payload) {
  auto f = peer.read_frame();
  ASSERT_TRUE(f);
  EXPECT_TRUE(f->fin);
  EXPECT_EQ(f->opcode, ws::kBinary);
  EXPECT_EQ(f->payload, payload);
}

void expect_close(Peer& peer, std::uint16_t code, std::string_view reason) {
  auto f = peer.read_frame();
  ASSERT_TRUE(f);
  ASSERT_EQ(f->opcode, ws::kClose);
  EXPECT_EQ(f->payload, close_payload(code, reason));
}

TEST_F(RelayPumpTest, ByteStreamSendsEveryPieceOfANeverEndingMessageAsACompleteBinaryMessage) {
  start({}, false, byte_stream());
  // The .NET WebSocketStream: one binary message that never ends.
  sender_->send(masked_frame(ws::kBinary, "ab", false));
  sender_->send(masked_frame(ws::kContinuation, "cd", false));
  sender_->send(masked_frame(ws::kContinuation, std::string(70000, 'e'), false));
  expect_binary(*listener_, "ab");
  expect_binary(*listener_, "cd");
  expect_binary(*listener_, std::string(70000, 'e'));
  // Text payloads are stream bytes too, valid UTF-8 or not.
  listener_->send(masked_frame(ws::kText, "\xff\xfe"));
  expect_binary(*sender_, "\xff\xfe");
}

TEST_F(RelayPumpTest, ByteStreamEofIsForwardedOnceAndBothEofsCloseTheBridge) {
  start({}, false, byte_stream());
  sender_->send(masked_frame(ws::kBinary, "request", false));
  sender_->send(masked_frame(ws::kContinuation, "", false));  // EOF in the middle of the message
  sender_->send(masked_frame(ws::kContinuation, "ignored", false));
  expect_binary(*listener_, "request");
  expect_binary(*listener_, "");
  listener_->send(masked_frame(ws::kBinary, "reply"));  // the other direction still flows
  expect_binary(*sender_, "reply");
  listener_->send(masked_frame(ws::kBinary, ""));
  expect_binary(*sender_, "");
  expect_close(*sender_, 1000, "ok");
  expect_close(*listener_, 1000, "ok");
  sender_->send(masked_frame(ws::kClose, close_payload(1000, "")));
  listener_->send(masked_frame(ws::kClose, close_payload(1000, "")));
  EXPECT_TRUE(sender_->at_eof());
  EXPECT_TRUE(listener_->at_eof());
  sender_->shut();
  listener_->shut();
  EXPECT_EQ(finished_.get_future().wait_for(5s), std::future_status::ready);
}

TEST_F(RelayPumpTest, ByteStreamCloseMidMessageClosesBothWithOk) {
  start({}, false, byte_stream());
  sender_->send(masked_frame(ws::kBinary, "partial", false) +
                masked_frame(ws::kClose, close_payload(1001, "leaving")));
  expect_binary(*listener_, "partial");
  expect_close(*listener_, 1000, "ok");
  expect_close(*sender_, 1000, "ok");
  listener_->send(masked_frame(ws::kBinary, "too late"));
  listener_->send(masked_frame(ws::kClose, close_payload(1000, "ok")));
  EXPECT_TRUE(sender_->at_eof()) << "nothing crosses after the closes";
}

TEST_F(RelayPumpTest, ByteStreamLostLegGivesThePartnerException) {
  start({}, false, byte_stream());
  sender_->send(masked_frame(ws::kBinary, "last", false));
  expect_binary(*listener_, "last");
  sender_->shut();
  expect_close(*listener_, 1011, "exception");
}

TEST_F(RelayPumpTest, ByteStreamHeldEofComesAfterTheHeldBytesAndAHeldCloseIsReported) {
  PumpOptions options = byte_stream();
  options.hold_high_water = 64 * 1024;
  start_held({}, options);
  sender_->send(masked_frame(ws::kBinary, "early", false) +
                masked_frame(ws::kContinuation, "", false));
  // Both frames are kept (2 + 5 and 2 bytes) before the partner arrives.
  EXPECT_EQ(pending_once_read(1, 9), 9u);
  pair();
  expect_binary(*listener_, "early");
  expect_binary(*listener_, "");
  listener_->send(masked_frame(ws::kBinary, "answer"));
  expect_binary(*sender_, "answer");
}

TEST_F(RelayPumpTest, ByteStreamCloseWhileHeldIsAnsweredWithOk) {
  start_held({}, byte_stream());
  std::promise<void> close_seen;
  on_pump_thread([&] {
    pump_->on_held_close = [&] { close_seen.set_value(); };
    return 0;
  });
  sender_->send(masked_frame(ws::kClose, close_payload(1000, "")));
  expect_close(*sender_, 1000, "ok");
  EXPECT_EQ(close_seen.get_future().wait_for(5s), std::future_status::ready);
}

}  // namespace
}  // namespace switchboard::core
