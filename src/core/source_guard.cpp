#include "core/source_guard.hpp"

#include <algorithm>

namespace switchboard::core {

SourceTicket& SourceTicket::operator=(SourceTicket&& other) noexcept {
  if (this != &other) {
    release();
    guard_ = other.guard_;
    source_ = std::move(other.source_);
    other.guard_ = nullptr;
  }
  return *this;
}

void SourceTicket::release() {
  if (guard_ != nullptr) guard_->release(source_);
  guard_ = nullptr;
}

SourceGuard::Admission SourceGuard::admit(const std::string& source, SourceTicket& ticket) {
  std::lock_guard lock(mutex_);
  if (pending_ >= limits_.max_pending_handshakes) return Admission::kServerBusy;
  auto& entry = sources_[source];
  if (entry.pending >= limits_.max_pending_handshakes_per_source) return Admission::kSourceBusy;
  ++entry.pending;
  ++pending_;
  ticket = SourceTicket(this, source);
  return Admission::kAdmitted;
}

void SourceGuard::release(const std::string& source) {
  std::lock_guard lock(mutex_);
  auto it = sources_.find(source);
  if (it == sources_.end()) return;
  --it->second.pending;
  --pending_;
  forget_if_idle(it);
}

Duration SourceGuard::record_failure(const std::string& source) {
  const auto now = std::chrono::steady_clock::now();
  std::lock_guard lock(mutex_);
  sweep(now);
  auto& entry = sources_[source];
  if (entry.failures == 0 || now - entry.window_start > limits_.failed_handshake_window) {
    entry.failures = 0;
    entry.window_start = now;
  }
  ++entry.failures;
  if (entry.failures <= limits_.failed_handshakes_before_delay) return Duration::zero();
  const unsigned excess = std::min(entry.failures - limits_.failed_handshakes_before_delay, 20u);
  // The window slides while failures keep coming, so a steady storm keeps its delay.
  entry.window_start = now;
  const Duration delay = std::chrono::seconds(1) * (1u << excess);  // 2^(n - threshold) s
  return std::min(delay, limits_.failed_handshake_max_delay);
}

// Forgets sources with nothing pending whose failure window has passed, at most once a window,
// so the table stays as small as the set of recently active sources.
void SourceGuard::sweep(std::chrono::steady_clock::time_point now) {
  if (now - last_sweep_ < limits_.failed_handshake_window) return;
  last_sweep_ = now;
  std::erase_if(sources_, [&](const auto& item) {
    return item.second.pending == 0 &&
           now - item.second.window_start > limits_.failed_handshake_window;
  });
}

std::size_t SourceGuard::pending() const {
  std::lock_guard lock(mutex_);
  return pending_;
}

void SourceGuard::forget_if_idle(std::unordered_map<std::string, Entry>::iterator it) {
  const auto now = std::chrono::steady_clock::now();
  if (it->second.pending == 0 && now - it->second.window_start > limits_.failed_handshake_window) {
    sources_.erase(it);
  }
}

}  // namespace switchboard::core
