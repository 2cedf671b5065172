// Phase timings: scoped timers add to a process-wide table that `--timings` prints.
#pragma once

#include <chrono>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

namespace cairn {

struct PhaseTiming {
  std::string phase;
  std::chrono::nanoseconds total{0};
  long count = 0;
};

class Timings {
 public:
  static Timings& global();
  void add(std::string_view phase, std::chrono::nanoseconds elapsed);
  // Phases in the order they were first seen.
  std::vector<PhaseTiming> snapshot() const;
  // A table: phase, count, total milliseconds.
  void print(std::FILE* out) const;
  void clear();
};

class ScopedTimer {
 public:
  explicit ScopedTimer(std::string_view phase)
      : phase_(phase), start_(std::chrono::steady_clock::now()) {}
  ScopedTimer(const ScopedTimer&) = delete;
  ScopedTimer& operator=(const ScopedTimer&) = delete;
  ~ScopedTimer() { Timings::global().add(phase_, std::chrono::steady_clock::now() - start_); }

 private:
  std::string_view phase_;  // phases are string literals
  std::chrono::steady_clock::time_point start_;
};

}  // namespace cairn
