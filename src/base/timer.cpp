#include "cairn/base/timer.hpp"

#include <fmt/format.h>

#include <mutex>

namespace cairn {
namespace {
std::mutex table_mutex;
std::vector<PhaseTiming> table;
}  // namespace

Timings& Timings::global() {
  static Timings instance;
  return instance;
}

void Timings::add(std::string_view phase, std::chrono::nanoseconds elapsed) {
  std::lock_guard lock(table_mutex);
  for (auto& entry : table) {
    if (entry.phase == phase) {
      entry.total += elapsed;
      ++entry.count;
      return;
    }
  }
  table.push_back({std::string(phase), elapsed, 1});
}

std::vector<PhaseTiming> Timings::snapshot() const {
  std::lock_guard lock(table_mutex);
  return table;
}

void Timings::clear() {
  std::lock_guard lock(table_mutex);
  table.clear();
}

void Timings::print(std::FILE* out) const {
  auto entries = snapshot();
  fmt::print(out, "{:<28} {:>6} {:>12}\n", "PHASE", "COUNT", "TOTAL (ms)");
  for (const auto& e : entries) {
    double ms = std::chrono::duration<double, std::milli>(e.total).count();
    fmt::print(out, "{:<28} {:>6} {:>12.3f}\n", e.phase, e.count, ms);
  }
}

}  // namespace cairn
