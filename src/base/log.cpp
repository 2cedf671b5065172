#include "cairn/base/log.hpp"

#include <unistd.h>

#include <atomic>
#include <string>

namespace cairn {
namespace {
std::atomic<LogLevel> current_level{LogLevel::warn};
}

void set_log_level(LogLevel level) { current_level.store(level); }
LogLevel log_level() { return current_level.load(std::memory_order_relaxed); }

std::optional<LogLevel> parse_log_level(std::string_view name) {
  for (LogLevel level : {LogLevel::error, LogLevel::warn, LogLevel::info, LogLevel::debug,
                         LogLevel::trace})
    if (log_level_name(level) == name) return level;
  if (name == "warning") return LogLevel::warn;
  return std::nullopt;
}

std::string_view log_level_name(LogLevel level) {
  switch (level) {
    case LogLevel::error: return "error";
    case LogLevel::warn: return "warn";
    case LogLevel::info: return "info";
    case LogLevel::debug: return "debug";
    case LogLevel::trace: return "trace";
  }
  return "?";
}

void log_line(LogLevel level, std::string_view message) {
  std::string line = "cairn: ";
  line += level == LogLevel::warn ? "warning" : log_level_name(level);
  line += ": ";
  line += message;
  if (line.back() != '\n') line += '\n';
  // One write so that lines from several threads stay whole; stderr errors are ignored.
  (void)!::write(STDERR_FILENO, line.data(), line.size());
}

}  // namespace cairn
