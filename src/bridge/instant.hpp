// The expirationUtc of signed connect URLs (bridge protocol section 2.2): ISO 8601 instants in,
// .NET round-trip UTC form ("yyyy-MM-ddTHH:mm:ss.fffffffZ") out.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace switchboard::bridge {

// 100-nanosecond ticks since the Unix epoch, the resolution of the round-trip form.
using Ticks = std::int64_t;
constexpr Ticks kTicksPerMs = 10'000;

// "YYYY-MM-DDTHH:MM:SS[.fraction](Z|+HH:MM|-HH:MM)"; 't' and 'z' accepted, a space for 'T' too;
// fraction digits beyond seven are dropped. nullopt when not such an instant.
std::optional<Ticks> parse_instant(std::string_view text);
std::string format_round_trip(Ticks ticks);

}  // namespace switchboard::bridge
