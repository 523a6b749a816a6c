// Measuring: a log-linear latency histogram (HDR-style, < 1% relative error), process CPU time
// and resident memory from /proc, and medians over runs.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include <sys/types.h>

namespace switchboard::bench {

std::int64_t now_ns();  // steady clock

class Histogram {
 public:
  void record(std::uint64_t value);
  std::uint64_t count() const { return count_; }
  // The value at quantile q in [0, 1] (the midpoint of its bucket); 0 when empty.
  std::uint64_t quantile(double q) const;
  std::uint64_t max() const { return max_; }

 private:
  static constexpr int kSubBits = 7;  // 128 buckets per power of two: < 0.8% error
  static constexpr std::size_t kBuckets =
      (64 - kSubBits) * (1u << (kSubBits - 1)) + (1u << kSubBits);
  std::array<std::uint64_t, kBuckets> counts_{};
  std::uint64_t count_ = 0;
  std::uint64_t max_ = 0;
};

// A whole file, or empty if it cannot be read.
std::string read_text_file(const std::string& path);

// utime + stime of a process, in seconds; -1 if it cannot be read.
double process_cpu_seconds(pid_t pid);
// CPU time of the calling process, in seconds.
double own_cpu_seconds();
// VmRSS of a process, in bytes; -1 if it cannot be read.
long long process_rss_bytes(pid_t pid);
// The soft open-file limit of a process; -1 if it cannot be read.
long long process_open_file_limit(pid_t pid);
// Raises this process's open-file soft limit to its hard limit; returns the new soft limit.
long long raise_open_file_limit();

struct Summary {
  double median = 0;
  double min = 0;
  double max = 0;
};
Summary summarize(std::vector<double> values);

}  // namespace switchboard::bench
