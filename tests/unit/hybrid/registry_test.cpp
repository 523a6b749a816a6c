// Listener selection (protocol section 6.2) with real control channels over socketpairs.
#include "hybrid/registry.hpp"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <future>
#include <thread>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>

#include "hybrid/listener.hpp"

namespace switchboard::hybrid {
namespace {

using namespace std::chrono_literals;

class RegistryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    thread_ = std::thread([this] { context_.run(); });
  }
  void TearDown() override {
    guard_.reset();
    for (int fd : peers_) ::close(fd);
    thread_.join();
  }

  // A started listener whose peer end is returned (never read unless the test does).
  std::shared_ptr<Listener> listener(const std::string& id, int& peer) {
    int fds[2];
    EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
    int small = 16 * 1024;
    ::setsockopt(fds[1], SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
    ::setsockopt(fds[0], SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    peer = fds[0];
    peers_.push_back(fds[0]);
    auto l = std::make_shared<Listener>(context_,
                                        Listener::Identity{"hc1", "hc1", id, "ws://x", "x"}, 300s);
    std::promise<void> started;
    asio::post(context_, [&, fd = fds[1]] {
      auto channel = std::make_shared<core::WsChannel>(
          context_, limits_, core::attach(context_, {AF_UNIX, fd}), std::string(), 1024);
      l->start(
          channel, 4'000'000'000, [](std::string_view) { return auth::AuthResult{}; },
          [](Listener&, Listener::ControlResponse) {}, [](Listener&) {});
      started.set_value();
    });
    started.get_future().wait();
    return l;
  }

  Settings settings_;
  core::Limits limits_;
  asio::io_context context_{1};
  asio::executor_work_guard<asio::io_context::executor_type> guard_{context_.get_executor()};
  std::thread thread_;
  std::vector<int> peers_;
};

TEST_F(RegistryTest, ListenersThatDoNotReadTheirControlChannelGetNoNewSenders) {
  constexpr std::size_t kHighWater = 64 * 1024;
  Registry registry(settings_, kHighWater);
  int stuck_peer = -1, healthy_peer = -1;
  auto stuck = listener("stuck", stuck_peer);
  ASSERT_EQ(registry.add_listener("hc1", "hc1", 25, stuck), Registry::AddResult::kAdded);
  EXPECT_EQ(registry.pick_listener("hc1", {}).outcome, Registry::Pick::kPicked);

  // Accept-sized messages pile up behind a peer that never reads.
  const std::string message(60'000, 'a');
  for (int i = 0; i < 60 && !stuck->backlogged(kHighWater); ++i) {
    stuck->post_message(message);
    std::this_thread::sleep_for(2ms);
  }
  ASSERT_TRUE(stuck->backlogged(kHighWater));
  EXPECT_EQ(registry.pick_listener("hc1", {}).outcome, Registry::Pick::kAllBacklogged);

  auto healthy = listener("healthy", healthy_peer);
  ASSERT_EQ(registry.add_listener("hc1", "hc1", 25, healthy), Registry::AddResult::kAdded);
  for (int i = 0; i < 50; ++i) {
    const auto pick = registry.pick_listener("hc1", {});
    ASSERT_EQ(pick.outcome, Registry::Pick::kPicked);
    EXPECT_EQ(pick.listener->id(), "healthy");
  }
}

TEST_F(RegistryTest, FiltersAndRemoval) {
  Registry registry(settings_, 1 << 20);
  int p1 = -1, p2 = -1;
  auto a = listener("a", p1);
  auto b = listener("b", p2);
  registry.add_listener("hc1", "hc1", 2, a);
  registry.add_listener("hc1", "hc1", 2, b);
  EXPECT_EQ(registry.add_listener("hc1", "hc1", 2, a), Registry::AddResult::kFull);
  ListenerFilter only_b{{"B"}, {}};  // ids compare case-insensitively
  for (int i = 0; i < 20; ++i) EXPECT_EQ(registry.pick_listener("hc1", only_b).listener, b);
  ListenerFilter not_a{{}, {"a"}};
  for (int i = 0; i < 20; ++i) EXPECT_EQ(registry.pick_listener("hc1", not_a).listener, b);
  ListenerFilter nobody{{"c"}, {}};
  EXPECT_EQ(registry.pick_listener("hc1", nobody).outcome, Registry::Pick::kNoneEligible);
  ASSERT_TRUE(registry.add_pending("id-1", {{}, a}));
  ASSERT_TRUE(registry.add_request("request-1", {{}, nullptr, a.get()}));
  ASSERT_TRUE(registry.add_request("request-2", {{}, nullptr, a.get()}));
  EXPECT_EQ(registry.claim_request_rendezvous("request-2").kind, Registry::RendezvousFor::kLive);
  const auto orphans = registry.remove_listener("hc1", a.get());
  ASSERT_EQ(orphans.accepts.size(), 1u);
  EXPECT_EQ(orphans.accepts[0].first, "id-1");
  ASSERT_EQ(orphans.requests.size(), 1u) << "a request whose rendezvous is open is not orphaned";
  EXPECT_FALSE(registry.claim("id-1"));
  EXPECT_TRUE(registry.resolve("hc1/suffix"));
  registry.remove_listener("hc1", b.get());
  EXPECT_FALSE(registry.resolve("hc1/suffix")) << "a dynamic entity lives while it has listeners";
}

TEST_F(RegistryTest, HttpRequestsAreAnsweredOnceAndLeaveTombstonesOnlyWhenUnanswered) {
  Registry registry(settings_, std::size_t{1} << 20);
  int peer_a = -1;
  int peer_b = -1;
  auto a = listener("a", peer_a);
  auto b = listener("b", peer_b);
  using Kind = Registry::RendezvousFor;
  ASSERT_TRUE(registry.add_request("r1", {{}, nullptr, a.get()}));
  EXPECT_FALSE(registry.claim_response("r1", b.get())) << "only the listener it went to answers";
  EXPECT_TRUE(registry.claim_response("r1", a.get()));
  EXPECT_FALSE(registry.claim_response("r1", a.get())) << "the first response wins";
  EXPECT_FALSE(registry.claim_response("unknown", a.get()));
  EXPECT_EQ(registry.claim_request_rendezvous("r1").kind, Kind::kLive);
  EXPECT_EQ(registry.claim_request_rendezvous("r1").kind, Kind::kUnknown) << "one E4 per request";
  registry.finish_request("r1", false);
  EXPECT_EQ(registry.claim_request_rendezvous("r1").kind, Kind::kUnknown);

  ASSERT_TRUE(registry.add_request("r2", {{}, nullptr, a.get()}));
  registry.finish_request("r2", true);
  EXPECT_EQ(registry.claim_request_rendezvous("r2").kind, Kind::kFinished)
      << "a late E4 for a request that timed out is still accepted";
  EXPECT_EQ(registry.claim_request_rendezvous("r2").kind, Kind::kUnknown);

  settings_.tombstone_ttl = 0ms;
  ASSERT_TRUE(registry.add_request("r3", {{}, nullptr, a.get()}));
  registry.finish_request("r3", true);
  EXPECT_EQ(registry.claim_request_rendezvous("r3").kind, Kind::kUnknown) << "expired";
  EXPECT_EQ(registry.pending_requests(), 0u);
}

}  // namespace
}  // namespace switchboard::hybrid
