#include "core/source_guard.hpp"

#include <gtest/gtest.h>

#include <thread>

namespace switchboard::core {
namespace {

using namespace std::chrono_literals;

TEST(SourceGuard, CapsPendingHandshakesPerSourceAndServerWide) {
  Limits limits;
  limits.max_pending_handshakes_per_source = 2;
  limits.max_pending_handshakes = 3;
  SourceGuard guard(limits);
  SourceTicket a1, a2, a3, b1, c1;
  EXPECT_EQ(guard.admit("10.0.0.1", a1), SourceGuard::Admission::kAdmitted);
  EXPECT_EQ(guard.admit("10.0.0.1", a2), SourceGuard::Admission::kAdmitted);
  EXPECT_EQ(guard.admit("10.0.0.1", a3), SourceGuard::Admission::kSourceBusy);
  EXPECT_EQ(guard.admit("10.0.0.2", b1), SourceGuard::Admission::kAdmitted);
  EXPECT_EQ(guard.admit("10.0.0.3", c1), SourceGuard::Admission::kServerBusy);
  EXPECT_EQ(guard.pending(), 3u);
  a1.release();
  EXPECT_EQ(guard.admit("10.0.0.1", a3), SourceGuard::Admission::kAdmitted);
  {
    SourceTicket moved = std::move(a3);  // the slot follows the ticket
    EXPECT_EQ(guard.pending(), 3u);
  }
  EXPECT_EQ(guard.pending(), 2u);
}

TEST(SourceGuard, DelaysFailuresPastTheThresholdExponentiallyUpToTheCap) {
  Limits limits;
  limits.failed_handshakes_before_delay = 5;
  limits.failed_handshake_max_delay = 30s;
  SourceGuard guard(limits);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(guard.record_failure("10.0.0.9"), Duration::zero());
  EXPECT_EQ(guard.record_failure("10.0.0.9"), 2s);  // n = 6: 2^(6-5) s
  EXPECT_EQ(guard.record_failure("10.0.0.9"), 4s);
  EXPECT_EQ(guard.record_failure("10.0.0.9"), 8s);
  EXPECT_EQ(guard.record_failure("10.0.0.9"), 16s);
  EXPECT_EQ(guard.record_failure("10.0.0.9"), 30s);
  EXPECT_EQ(guard.record_failure("10.0.0.9"), 30s);
  EXPECT_EQ(guard.record_failure("10.0.0.10"), Duration::zero());  // other sources are not affected
}

TEST(SourceGuard, FailuresOutsideTheWindowStartOver) {
  Limits limits;
  limits.failed_handshakes_before_delay = 1;
  limits.failed_handshake_window = 1ms;
  SourceGuard guard(limits);
  EXPECT_EQ(guard.record_failure("x"), Duration::zero());
  std::this_thread::sleep_for(5ms);
  EXPECT_EQ(guard.record_failure("x"), Duration::zero());
}

}  // namespace
}  // namespace switchboard::core
