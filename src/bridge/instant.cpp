#include "bridge/instant.hpp"

#include <chrono>

#include <fmt/format.h>

namespace switchboard::bridge {
namespace {

constexpr Ticks kTicksPerSecond = 10'000'000;

class Cursor {
 public:
  explicit Cursor(std::string_view text) : text_(text) {}
  // Exactly `digits` decimal digits.
  std::optional<int> number(int digits) {
    int value = 0;
    for (int i = 0; i < digits; ++i) {
      if (pos_ >= text_.size() || text_[pos_] < '0' || text_[pos_] > '9') return std::nullopt;
      value = value * 10 + (text_[pos_++] - '0');
    }
    return value;
  }
  bool take(std::string_view any_of) {
    if (pos_ < text_.size() && any_of.find(text_[pos_]) != std::string_view::npos) {
      ++pos_;
      return true;
    }
    return false;
  }
  char peek() const { return pos_ < text_.size() ? text_[pos_] : '\0'; }
  bool done() const { return pos_ == text_.size(); }

 private:
  std::string_view text_;
  std::size_t pos_ = 0;
};

}  // namespace

std::optional<Ticks> parse_instant(std::string_view text) {
  using namespace std::chrono;
  Cursor c(text);
  const auto y = c.number(4);
  if (!y || !c.take("-")) return std::nullopt;
  const auto mo = c.number(2);
  if (!mo || !c.take("-")) return std::nullopt;
  const auto d = c.number(2);
  if (!d || !c.take("Tt ")) return std::nullopt;
  const auto h = c.number(2);
  if (!h || !c.take(":")) return std::nullopt;
  const auto mi = c.number(2);
  if (!mi || !c.take(":")) return std::nullopt;
  const auto s = c.number(2);
  if (!s) return std::nullopt;
  Ticks fraction = 0;
  if (c.take(".")) {
    int digits = 0;
    while (c.peek() >= '0' && c.peek() <= '9') {
      const int digit = *c.number(1);
      if (digits < 7) fraction = fraction * 10 + digit;
      ++digits;
    }
    if (digits == 0) return std::nullopt;
    for (; digits < 7; ++digits) fraction *= 10;
  }
  Ticks offset = 0;
  if (!c.take("Zz")) {
    const char sign = c.peek();
    if (!c.take("+-")) return std::nullopt;
    const auto oh = c.number(2);
    if (!oh || !c.take(":")) return std::nullopt;
    const auto om = c.number(2);
    if (!om || *oh > 14 || *om > 59) return std::nullopt;
    offset = Ticks{*oh * 60 + *om} * 60 * kTicksPerSecond * (sign == '-' ? -1 : 1);
  }
  if (!c.done() || *h > 23 || *mi > 59 || *s > 59) return std::nullopt;
  const year_month_day date{year(*y), month(static_cast<unsigned>(*mo)),
                            day(static_cast<unsigned>(*d))};
  if (!date.ok()) return std::nullopt;
  const Ticks seconds = Ticks{sys_days(date).time_since_epoch().count()} * 86'400 +
                        Ticks{*h} * 3600 + Ticks{*mi} * 60 + *s;
  return seconds * kTicksPerSecond + fraction - offset;
}

std::string format_round_trip(Ticks ticks) {
  using namespace std::chrono;
  Ticks seconds = ticks / kTicksPerSecond;
  Ticks fraction = ticks % kTicksPerSecond;
  if (fraction < 0) {
    fraction += kTicksPerSecond;
    --seconds;
  }
  Ticks day_count = seconds / 86'400;
  Ticks in_day = seconds % 86'400;
  if (in_day < 0) {
    in_day += 86'400;
    --day_count;
  }
  const year_month_day date{sys_days(days(day_count))};
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:07}Z", static_cast<int>(date.year()),
                     static_cast<unsigned>(date.month()), static_cast<unsigned>(date.day()),
                     in_day / 3600, in_day / 60 % 60, in_day % 60, fraction);
}

}  // namespace switchboard::bridge
