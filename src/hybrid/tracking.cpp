#include "hybrid/tracking.hpp"

#include <chrono>
#include <ctime>

#include "core/random_id.hpp"

namespace switchboard::hybrid {

namespace {

std::string utc_stamp() {
  const std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm utc{};
  gmtime_r(&now, &utc);
  char stamp[32];
  const auto n = std::strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &utc);
  return std::string(stamp, n);
}

}  // namespace

std::string tracking_suffix(std::string_view host, std::string_view entity) {
  std::string suffix = " TrackingId:" + core::random_uuid_v4() + ", SystemTracker:sb://";
  suffix.append(host);
  suffix += '/';
  suffix.append(entity);
  suffix += ", Timestamp:";
  suffix += utc_stamp();
  return suffix;
}

std::string tracking_stamp() {
  return "TrackingId:" + core::random_uuid_v4() + ", Timestamp:" + utc_stamp();
}

std::string with_tracking(std::string_view reason, std::string_view host, std::string_view entity) {
  std::string text(reason);
  text += tracking_suffix(host, entity);
  for (char& c : text) {
    if (c < 0x20 || c > 0x7E) c = '?';
  }
  if (text.size() > 512) text.resize(512);
  return text;
}

}  // namespace switchboard::hybrid
