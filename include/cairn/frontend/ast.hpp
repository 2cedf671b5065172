// The Dockerfile syntax tree, as BuildKit's parser produces it: one node per instruction,
// with its flags and arguments split by the instruction's own rules, heredoc bodies, and
// the source positions that error messages point at.
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace cairn::frontend {

struct Position {
  int line = 0;    // 1-based physical line
  int column = 0;  // 1-based byte column
};

struct Heredoc {
  std::string name;     // the delimiter, quotes removed
  std::string content;  // the body lines, each with its newline
  bool expand = true;   // false when the delimiter was quoted: the body is taken literally
  bool chomp = false;   // "<<-": leading tabs are stripped from body lines
  int fd = 0;           // "3<<EOF" gives 3; 0 when not given
  int start_line = 0;   // first body line
  int end_line = 0;     // the terminator line
};

// One piece of an instruction's assembled text and where it came from, so that an offset
// into Node::text maps back to a physical line and column.
struct TextSegment {
  std::size_t offset = 0;  // into Node::text
  int line = 0;
  int column = 0;
};

struct Node {
  std::string keyword;                 // lower-case, as BuildKit's dump shows it
  std::string original_keyword;        // as written
  std::vector<std::string> flags;      // "--name=value" words, unquoted
  std::vector<std::size_t> flag_offsets;  // where each flag starts in `text`
  std::vector<std::string> args;       // split by the instruction's rule
  std::size_t args_offset = 0;         // where the argument text starts in `text`
  bool json = false;                   // arguments came from a JSON array
  std::unique_ptr<Node> nested;        // ONBUILD's instruction
  std::vector<Heredoc> heredocs;
  std::string text;                    // the assembled logical line (continuations joined)
  std::vector<TextSegment> segments;
  int start_line = 0;
  int end_line = 0;

  Node() = default;
  Node(Node&&) noexcept = default;
  Node& operator=(Node&&) noexcept = default;
  Node(const Node& other);
  Node& operator=(const Node& other);

  // Physical position of a byte offset into `text`.
  Position position_of(std::size_t offset) const;
  // Offset of the first occurrence of `needle` at or after the argument text, or the
  // start of the argument text when it does not occur (for pointing at an argument).
  std::size_t find_in_args(std::string_view needle) const;
};

struct Directives {
  char escape = '\\';
  std::optional<std::string> syntax;
  std::optional<std::string> check;
};

struct Warning {
  std::string message;
  int line = 0;
};

struct Dockerfile {
  std::string filename;             // as given by the user, for messages
  std::vector<std::string> lines;   // physical lines without terminators, for messages
  Directives directives;
  std::vector<Node> nodes;
  std::vector<Warning> warnings;
};

// Parses Dockerfile text. Throws DockerfileError (see diagnostic.hpp) pointing at the
// offending line and column.
Dockerfile parse_dockerfile(std::string_view text, std::string filename);

// BuildKit's dump format ("(from \"scratch\")" one line per instruction, then "\n").
std::string dump(const Dockerfile& file);
std::string dump_node(const Node& node);

// Go's strconv.Quote, which the dump format uses for every string.
std::string go_quote(std::string_view text);

}  // namespace cairn::frontend
