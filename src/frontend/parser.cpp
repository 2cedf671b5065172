// Dockerfile text → syntax tree: physical lines, parser directives, comments, line
// continuation, heredoc bodies. Mirrors BuildKit's parser so that every oddity it accepts
// (an empty continuation at the end of the file, blank lines inside a continuation) is
// accepted here too.
#include <optional>
#include <set>

#include "cairn/frontend/ast.hpp"
#include "cairn/frontend/diagnostic.hpp"
#include "node_builder.hpp"
#include "text.hpp"

namespace cairn::frontend {
namespace {

struct PhysicalLine {
  std::string_view text;  // without "\n" / "\r\n"
  std::string_view raw;   // with its terminator, as heredoc bodies keep it
};

std::vector<PhysicalLine> split_lines(std::string_view input) {
  constexpr std::string_view kBom = "\xEF\xBB\xBF";
  if (input.substr(0, kBom.size()) == kBom) input.remove_prefix(kBom.size());
  std::vector<PhysicalLine> lines;
  while (!input.empty()) {
    std::size_t nl = input.find('\n');
    std::string_view raw = nl == std::string_view::npos ? input : input.substr(0, nl + 1);
    std::string_view line = raw;
    if (!line.empty() && line.back() == '\n') line.remove_suffix(1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    lines.push_back({line, raw});
    input.remove_prefix(raw.size());
  }
  return lines;
}

bool is_comment(std::string_view line) {
  line.remove_prefix(text::leading_space(line));
  return !line.empty() && line.front() == '#';
}

bool is_regex_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\f' || c == '\r'; }

// Parser directives ("# escape=`") are recognised only before anything else.
class DirectiveReader {
 public:
  explicit DirectiveReader(Dockerfile& file) : file_(file) {}

  // Feeds one physical line. Throws for a repeated or invalid directive.
  void feed(std::string_view line, int line_number) {
    if (done_) return;
    auto directive = match(line);
    if (!directive) {
      done_ = true;
      return;
    }
    auto [name, value] = *directive;
    const std::string key = text::lower(name);
    if (key != "syntax" && key != "escape" && key != "check") {
      done_ = true;
      return;
    }
    const Position where{line_number, 1};
    if (!seen_.insert(key).second)
      throw error_at(file_, where, "only one " + key + " parser directive can be used");
    if (key == "escape") {
      if (value != "\\" && value != "`")
        throw error_at(file_, where, "invalid escape token '" + std::string(value) +
                                         "' does not match ` or \\");
      file_.directives.escape = value[0];
    } else if (key == "syntax") {
      file_.directives.syntax = std::string(value);
    } else {
      file_.directives.check = std::string(value);
    }
  }

 private:
  // ^#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$
  static std::optional<std::pair<std::string_view, std::string_view>> match(
      std::string_view line) {
    if (line.empty() || line[0] != '#') return std::nullopt;
    std::size_t i = 1;
    while (i < line.size() && is_regex_space(line[i])) ++i;
    const std::size_t name_start = i;
    auto alpha = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); };
    auto digit = [](char c) { return c >= '0' && c <= '9'; };
    if (i >= line.size() || !alpha(line[i])) return std::nullopt;
    while (i < line.size() && (alpha(line[i]) || digit(line[i]))) ++i;
    std::string_view name = line.substr(name_start, i - name_start);
    while (i < line.size() && is_regex_space(line[i])) ++i;
    if (i >= line.size() || line[i] != '=') return std::nullopt;
    ++i;
    while (i < line.size() && is_regex_space(line[i])) ++i;
    std::size_t end = line.size();
    while (end > i && is_regex_space(line[end - 1])) --end;
    if (end == i) return std::nullopt;
    return std::make_pair(name, line.substr(i, end - i));
  }

  Dockerfile& file_;
  std::set<std::string> seen_;
  bool done_ = false;
};

// Strips a trailing escape character (and blanks after it) that continues the line.
// Returns the kept text and whether the instruction ends on this line.
std::pair<std::string_view, bool> trim_continuation(std::string_view line, char escape) {
  std::size_t end = line.size();
  while (end > 0 && (line[end - 1] == ' ' || line[end - 1] == '\t')) --end;
  if (end == 0 || line[end - 1] != escape) return {line, true};
  if (end == 1) return {std::string_view(), false};
  if (line[end - 2] == escape) return {line, true};  // an escaped escape: "\\"
  return {line.substr(0, end - 1), false};
}

class Parser {
 public:
  Parser(std::string_view input, std::string filename) : lines_(split_lines(input)) {
    file_.filename = std::move(filename);
    for (const auto& line : lines_) file_.lines.emplace_back(line.text);
  }

  Dockerfile run() {
    DirectiveReader directives(file_);
    while (next_ < lines_.size()) {
      const int number = static_cast<int>(next_) + 1;
      std::string_view line = lines_[next_++].text;
      directives.feed(line.substr(text::leading_space(line)), number);
      parse_instruction_from(line, number);
    }
    if (file_.nodes.empty())
      throw error_at(file_, Position{},
                     "the Dockerfile has no instructions (it is empty or holds only comments)");
    return std::move(file_);
  }

 private:
  void parse_instruction_from(std::string_view first, int first_number) {
    const std::size_t indent = text::leading_space(first);
    first.remove_prefix(indent);
    if (is_comment(first)) return;
    const char escape = file_.directives.escape;
    auto [kept, ended] = trim_continuation(first, escape);
    if (ended && kept.empty()) return;

    std::string logical(kept);
    std::vector<TextSegment> segments{{0, first_number, static_cast<int>(indent) + 1}};
    int last_number = first_number;
    bool empty_continuation = false;
    while (!ended && next_ < lines_.size()) {
      std::string_view line = lines_[next_++].text;
      last_number = static_cast<int>(next_);
      if (is_comment(line)) continue;
      if (text::leading_space(line) == line.size()) {
        empty_continuation = true;
        continue;
      }
      auto [piece, piece_ended] = trim_continuation(line, escape);
      segments.push_back({logical.size(), last_number, 1});
      logical += piece;
      ended = piece_ended;
    }
    if (empty_continuation)
      file_.warnings.push_back({"empty continuation line found in instruction", first_number});
    Node node = make_node(std::move(logical), std::move(segments), first_number);
    node.start_line = first_number;
    node.end_line = last_number;
    if (can_contain_heredoc(node) && node.text.find("<<") != std::string::npos)
      read_heredocs(node);
    file_.nodes.push_back(std::move(node));
  }

  Node make_node(std::string logical, std::vector<TextSegment> segments, int line) {
    Node scratch;
    scratch.text = logical;
    scratch.segments = segments;
    scratch.start_line = line;
    try {
      Node node = build_node(std::move(logical), file_.directives.escape);
      attach_segments(node, std::move(segments));
      return node;
    } catch (const NodeSyntaxError& e) {
      throw error_at(file_, scratch, e.offset, e.message);
    }
  }

  void read_heredocs(Node& node) {
    Node& target = node.keyword == "onbuild" ? *node.nested : node;
    std::vector<Heredoc> docs = heredoc_openers(node.text);
    for (auto& doc : docs) {
      doc.start_line = static_cast<int>(next_) + 1;
      bool terminated = false;
      while (next_ < lines_.size()) {
        const PhysicalLine& line = lines_[next_++];
        std::string_view candidate = line.text;
        if (doc.chomp) candidate.remove_prefix(std::min(candidate.find_first_not_of('\t'),
                                                        candidate.size()));
        if (candidate == doc.name) {
          terminated = true;
          break;
        }
        doc.content += line.raw;
      }
      doc.end_line = static_cast<int>(next_);
      node.end_line = doc.end_line;
      if (!terminated)
        throw error_at(file_, node, node.text.find("<<"),
                       "unterminated heredoc: no line \"" + doc.name + "\" closes it");
      target.heredocs.push_back(std::move(doc));
    }
  }

  std::vector<PhysicalLine> lines_;
  std::size_t next_ = 0;
  Dockerfile file_;
};

}  // namespace

Node::Node(const Node& other)
    : keyword(other.keyword),
      original_keyword(other.original_keyword),
      flags(other.flags),
      flag_offsets(other.flag_offsets),
      args(other.args),
      args_offset(other.args_offset),
      json(other.json),
      nested(other.nested ? std::make_unique<Node>(*other.nested) : nullptr),
      heredocs(other.heredocs),
      text(other.text),
      segments(other.segments),
      start_line(other.start_line),
      end_line(other.end_line) {}

Node& Node::operator=(const Node& other) {
  if (this != &other) *this = Node(other);
  return *this;
}

Position Node::position_of(std::size_t offset) const {
  if (segments.empty()) return {start_line, 1};
  const TextSegment* found = &segments.front();
  for (const auto& segment : segments) {
    if (segment.offset > offset) break;
    found = &segment;
  }
  return {found->line, found->column + static_cast<int>(offset - found->offset)};
}

std::size_t Node::find_in_args(std::string_view needle) const {
  std::size_t at = needle.empty() ? std::string::npos : text.find(needle, args_offset);
  return at == std::string::npos ? args_offset : at;
}

Dockerfile parse_dockerfile(std::string_view input, std::string filename) {
  return Parser(input, std::move(filename)).run();
}

}  // namespace cairn::frontend
