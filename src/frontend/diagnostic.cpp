#include "cairn/frontend/diagnostic.hpp"

#include <fmt/format.h>

namespace cairn::frontend {
namespace {

// The caret line repeats the tabs of the source line so that it lines up in a terminal.
std::string caret_padding(std::string_view line, int column) {
  std::string pad;
  for (int i = 0; i + 1 < column; ++i)
    pad += (static_cast<std::size_t>(i) < line.size() && line[i] == '\t') ? '\t' : ' ';
  return pad;
}

std::string location(std::string_view file, Position p) {
  if (p.line <= 0) return std::string(file);
  if (p.column <= 0) return fmt::format("{}:{}", file, p.line);
  return fmt::format("{}:{}:{}", file, p.line, p.column);
}

}  // namespace

std::string render_diagnostic(std::string_view file, Position position, std::string_view message,
                              std::string_view line_text) {
  std::string out = fmt::format("{}: {}", location(file, position), message);
  if (position.line <= 0) return out;
  const std::string number = std::to_string(position.line);
  out += fmt::format("\n {} | {}", number, line_text);
  if (position.column > 0)
    out += fmt::format("\n {} | {}^", std::string(number.size(), ' '),
                       caret_padding(line_text, position.column));
  return out;
}

DockerfileError::DockerfileError(std::string file, Position position, std::string message,
                                 std::string_view line_text)
    : Error(render_diagnostic(file, position, message, line_text)),
      file_(std::move(file)),
      position_(position),
      reason_(std::move(message)) {}

DockerfileError error_at(const Dockerfile& file, Position position, std::string message) {
  std::string_view line;
  if (position.line > 0 && static_cast<std::size_t>(position.line) <= file.lines.size())
    line = file.lines[position.line - 1];
  return DockerfileError(file.filename, position, std::move(message), line);
}

DockerfileError error_at(const Dockerfile& file, const Node& node, std::size_t offset,
                         std::string message) {
  return error_at(file, node.position_of(offset), std::move(message));
}

}  // namespace cairn::frontend
