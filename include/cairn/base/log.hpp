// Leveled logging to stderr. Messages are whole lines; the level filter is process-wide.
#pragma once

#include <fmt/format.h>

#include <optional>
#include <string_view>

namespace cairn {

enum class LogLevel { error = 0, warn = 1, info = 2, debug = 3, trace = 4 };

void set_log_level(LogLevel level);
LogLevel log_level();
std::optional<LogLevel> parse_log_level(std::string_view name);
std::string_view log_level_name(LogLevel level);
inline bool log_enabled(LogLevel level) { return level <= log_level(); }

// Writes "cairn: <level>: <message>\n" to stderr in one write (lines of concurrent
// threads do not interleave).
void log_line(LogLevel level, std::string_view message);

template <typename... Args>
void log(LogLevel level, fmt::format_string<Args...> format, Args&&... args) {
  if (log_enabled(level)) log_line(level, fmt::format(format, std::forward<Args>(args)...));
}

}  // namespace cairn
