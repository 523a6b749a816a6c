#include "bridge/instant.hpp"

#include <gtest/gtest.h>

namespace switchboard::bridge {
namespace {

constexpr Ticks kNewYear2026 = 1767225600LL * 10'000'000;

TEST(Instant, ParsesUtcAndOffsets) {
  EXPECT_EQ(parse_instant("2026-01-01T00:00:00Z"), kNewYear2026);
  EXPECT_EQ(parse_instant("2026-01-01T00:00:00.0000000Z"), kNewYear2026);
  EXPECT_EQ(parse_instant("2026-01-01T01:30:00+01:30"), kNewYear2026);
  EXPECT_EQ(parse_instant("2025-12-31T19:00:00-05:00"), kNewYear2026);
  EXPECT_EQ(parse_instant("2026-01-01T00:00:00.5Z"), kNewYear2026 + 5'000'000);
  EXPECT_EQ(parse_instant("2026-01-01T00:00:00.123456789Z"), kNewYear2026 + 1'234'567);
}

TEST(Instant, RejectsWhatIsNotAnInstant) {
  for (const char* text :
       {"", "2026-01-01", "2026-01-01T00:00:00", "2026-02-30T00:00:00Z", "2026-01-01T24:00:00Z",
        "2026-01-01T00:00:00.Z", "2026-01-01T00:00:00Zjunk", "26-01-01T00:00:00Z",
        "2026-01-01T00:00:00+0100", "tomorrow"}) {
    EXPECT_FALSE(parse_instant(text)) << text;
  }
}

TEST(Instant, FormatsTheDotNetRoundTripForm) {
  EXPECT_EQ(format_round_trip(kNewYear2026), "2026-01-01T00:00:00.0000000Z");
  EXPECT_EQ(format_round_trip(kNewYear2026 - 1), "2025-12-31T23:59:59.9999999Z");
  EXPECT_EQ(parse_instant(format_round_trip(kNewYear2026 + 123)), kNewYear2026 + 123);
}

}  // namespace
}  // namespace switchboard::bridge
