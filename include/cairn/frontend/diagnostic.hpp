// Dockerfile errors: "FILE:LINE:COLUMN: message", the offending line, and a caret under
// the column.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "cairn/base/error.hpp"
#include "cairn/frontend/ast.hpp"

namespace cairn::frontend {

class DockerfileError : public Error {
 public:
  DockerfileError(std::string file, Position position, std::string message,
                  std::string_view line_text);
  const std::string& file() const { return file_; }
  Position position() const { return position_; }
  // The message alone, without location or source excerpt.
  const std::string& reason() const { return reason_; }

 private:
  std::string file_;
  Position position_;
  std::string reason_;
};

// Builds the error for a position in `file` (the line text is taken from file.lines).
DockerfileError error_at(const Dockerfile& file, Position position, std::string message);
DockerfileError error_at(const Dockerfile& file, const Node& node, std::size_t offset,
                         std::string message);

// "FILE:LINE:COL: message\n   LINE | text\n        |    ^" — shared by errors and warnings.
std::string render_diagnostic(std::string_view file, Position position, std::string_view message,
                              std::string_view line_text);

}  // namespace cairn::frontend
