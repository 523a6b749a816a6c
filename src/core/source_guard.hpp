// Per-source protection (Hybrid Connections section 7, row 10): caps on connections still in
// their handshake, and growing delays for sources whose handshakes keep failing (hyco-ws retries
// without backoff).
#pragma once

#include <chrono>
#include <cstddef>
#include <mutex>
#include <string>
#include <unordered_map>

#include "core/limits.hpp"

namespace switchboard::core {

class SourceGuard;

// Counts one pending handshake of a source while alive.
class SourceTicket {
 public:
  SourceTicket() = default;
  SourceTicket(SourceGuard* guard, std::string source)
      : guard_(guard), source_(std::move(source)) {}
  SourceTicket(SourceTicket&& other) noexcept { *this = std::move(other); }
  SourceTicket& operator=(SourceTicket&& other) noexcept;
  ~SourceTicket() { release(); }
  void release();
  const std::string& source() const { return source_; }

 private:
  SourceGuard* guard_ = nullptr;
  std::string source_;
};

class SourceGuard {
 public:
  explicit SourceGuard(const Limits& limits) : limits_(limits) {}

  enum class Admission { kAdmitted, kServerBusy, kSourceBusy };
  // On kAdmitted, `ticket` holds the pending-handshake slot.
  Admission admit(const std::string& source, SourceTicket& ticket);
  // Records a failed handshake; returns how long to hold the failing answer.
  Duration record_failure(const std::string& source);
  std::size_t pending() const;

 private:
  friend class SourceTicket;
  void release(const std::string& source);

  struct Entry {
    std::size_t pending = 0;
    unsigned failures = 0;
    std::chrono::steady_clock::time_point window_start{};
  };
  void forget_if_idle(std::unordered_map<std::string, Entry>::iterator it);
  void sweep(std::chrono::steady_clock::time_point now);

  const Limits& limits_;
  mutable std::mutex mutex_;
  std::unordered_map<std::string, Entry> sources_;
  std::size_t pending_ = 0;
  std::chrono::steady_clock::time_point last_sweep_{};
};

}  // namespace switchboard::core
