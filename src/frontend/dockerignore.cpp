// .dockerignore handling with docker's rules, in three layers:
//
//  1. Reading the file, as BuildKit's dockerignore.ReadAll does: comments, trimming,
//     filepath.Clean, a leading '/' dropped, '!' kept apart.
//  2. Preparing each pattern, as moby/patternmatcher's New does: it trims and cleans the
//     whole "!pattern" string once more, then checks it with filepath.Match's syntax rules.
//  3. Matching, as patternmatcher's Pattern.match does. Docker turns each pattern into a Go
//     regular expression by text substitution ('*' -> "[^/]*", "**/" -> "(.*/)?", ...), and
//     the substitution leaks: a '[' of the pattern is copied as is, so "[*]" becomes
//     "[[^/]*]", and "\d" becomes a digit class. To give the same answers we build the
//     same expression text and run it with a small engine for the RE2 syntax that such text
//     can contain (no std::regex: its dialect differs, and it backtracks): parsed to an NFA,
//     which is turned into a DFA ahead of time when that stays small.
//
// Patterns without wildcards skip the expression, as in docker: plain text compares
// exactly, "text**" by prefix, and "**text" by suffix.
#include "cairn/frontend/dockerignore.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <initializer_list>
#include <map>
#include <optional>
#include <string>
#include <system_error>
#include <tuple>
#include <utility>
#include <vector>

namespace cairn::frontend {
namespace {

// ---------------------------------------------------------------------------------------
// UTF-8, decoded as Go does: a byte that does not start a well-formed sequence is one
// U+FFFD, so a path with stray bytes still matches rune by rune.

constexpr char32_t kRuneError = 0xFFFD;
constexpr char32_t kMaxRune = 0x10FFFF;

struct Rune {
  char32_t value;
  std::size_t width;
};

Rune decode_rune(std::string_view text, std::size_t pos) {
  const auto byte = [&](std::size_t i) { return static_cast<unsigned char>(text[pos + i]); };
  const unsigned char lead = byte(0);
  if (lead < 0x80) return {lead, 1};
  std::size_t width = 0;
  char32_t value = 0;
  unsigned char low = 0x80;  // the second byte's range excludes overlong forms and surrogates
  unsigned char high = 0xBF;
  if (lead >= 0xC2 && lead <= 0xDF) {
    width = 2, value = lead & 0x1F;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    width = 3, value = lead & 0x0F;
    low = lead == 0xE0 ? 0xA0 : low;
    high = lead == 0xED ? 0x9F : high;
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    width = 4, value = lead & 0x07;
    low = lead == 0xF0 ? 0x90 : low;
    high = lead == 0xF4 ? 0x8F : high;
  } else {
    return {kRuneError, 1};
  }
  if (pos + width > text.size()) return {kRuneError, 1};
  for (std::size_t i = 1; i < width; ++i) {
    const unsigned char next = byte(i);
    if (next < (i == 1 ? low : 0x80) || next > (i == 1 ? high : 0xBF)) return {kRuneError, 1};
    value = (value << 6) | (next & 0x3F);
  }
  return {value, width};
}

void append_utf8(std::string& out, char32_t c) {
  if (c < 0x80) {
    out += static_cast<char>(c);
  } else if (c < 0x800) {
    out += static_cast<char>(0xC0 | (c >> 6));
    out += static_cast<char>(0x80 | (c & 0x3F));
  } else if (c < 0x10000) {
    out += static_cast<char>(0xE0 | (c >> 12));
    out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (c & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (c >> 18));
    out += static_cast<char>(0x80 | ((c >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (c & 0x3F));
  }
}

// Go's unicode.IsSpace, which strings.TrimSpace uses.
bool is_space(char32_t c) {
  if (c <= ' ') return c == ' ' || (c >= '\t' && c <= '\r');
  return c == 0x85 || c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 ||
         c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

// Go's strings.TrimSpace.
std::string_view trim_space(std::string_view text) {
  while (!text.empty()) {
    const Rune first = decode_rune(text, 0);
    if (!is_space(first.value)) break;
    text.remove_prefix(first.width);
  }
  // A space at the end is a well-formed sequence of 1 to 3 bytes that ends the text.
  for (std::size_t width = 1; width <= 3 && width <= text.size();) {
    const Rune last = decode_rune(text, text.size() - width);
    if (last.width == width && is_space(last.value)) {
      text.remove_suffix(width);
      width = 1;
    } else {
      ++width;
    }
  }
  return text;
}

// ---------------------------------------------------------------------------------------
// Paths

// Go's filepath.Clean on a '/'-separated path.
std::string clean_path(std::string_view path) {
  if (path.empty()) return ".";
  const bool rooted = path.front() == '/';
  std::vector<std::string_view> parts;
  for (std::size_t start = 0; start <= path.size();) {
    std::size_t end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    const std::string_view part = path.substr(start, end - start);
    start = end + 1;
    if (part.empty() || part == ".") continue;
    if (part != "..") {
      parts.push_back(part);
    } else if (!parts.empty() && parts.back() != "..") {
      parts.pop_back();
    } else if (!rooted) {
      parts.push_back(part);  // ".." above a rooted path is the root itself
    }
  }
  std::string out = rooted ? "/" : "";
  for (std::size_t i = 0; i < parts.size(); ++i) {
    if (i > 0) out += '/';
    out += parts[i];
  }
  return out.empty() ? "." : out;
}

// A path to match: cleaned and relative to the context root ("." for the root itself).
std::string context_path(std::string_view path) {
  std::string cleaned = clean_path(path);
  if (cleaned.front() == '/') cleaned.erase(0, 1);
  return cleaned.empty() ? "." : cleaned;
}

// ---------------------------------------------------------------------------------------
// filepath.Match's syntax, which patternmatcher checks every pattern against up front.

// Reads one class member at text[pos] (filepath.Match's getEsc). A member may not be
// '-' or ']' unescaped and must be followed by more of the class.
bool read_class_member(std::string_view text, std::size_t& pos) {
  if (pos >= text.size() || text[pos] == '-' || text[pos] == ']') return false;
  if (text[pos] == '\\' && ++pos >= text.size()) return false;
  const Rune rune = decode_rune(text, pos);
  if (rune.value == kRuneError && rune.width == 1) return false;
  pos += rune.width;
  return pos < text.size();
}

// Checks the class that starts at text[pos] == '[' and moves past its ']'.
bool skip_glob_class(std::string_view text, std::size_t& pos) {
  ++pos;
  if (pos < text.size() && text[pos] == '^') ++pos;
  for (int members = 0;; ++members) {
    if (members > 0 && pos < text.size() && text[pos] == ']') {
      ++pos;
      return true;
    }
    if (!read_class_member(text, pos)) return false;
    if (text[pos] == '-' && !read_class_member(text, ++pos)) return false;
  }
}

// The reason `pattern` is not valid filepath.Match syntax, or nullopt when it is.
std::optional<std::string> glob_syntax_error(std::string_view pattern) {
  for (std::size_t pos = 0; pos < pattern.size();) {
    if (pattern[pos] == '\\') {
      if (pos + 1 == pattern.size()) return "trailing backslash";
      pos += 2;
    } else if (pattern[pos] == '[') {
      if (!skip_glob_class(pattern, pos)) return "malformed character class";
    } else {
      ++pos;
    }
  }
  return std::nullopt;
}

// ---------------------------------------------------------------------------------------
// Character classes: sets of code points as ranges.

class CharClass {
 public:
  CharClass() = default;
  CharClass(char32_t low, char32_t high) { add(low, high); }

  void add(char32_t low, char32_t high) { ranges_.emplace_back(low, high); }
  void add(const CharClass& other) {
    ranges_.insert(ranges_.end(), other.ranges_.begin(), other.ranges_.end());
  }

  CharClass negated() const {
    auto sorted = ranges_;
    std::sort(sorted.begin(), sorted.end());
    CharClass out;
    char32_t next = 0;
    for (const auto& [low, high] : sorted) {
      if (low > next) out.add(next, low - 1);
      next = std::max<char32_t>(next, high + 1);
    }
    if (next <= kMaxRune) out.add(next, kMaxRune);
    return out;
  }

  bool contains(char32_t c) const {
    return std::any_of(ranges_.begin(), ranges_.end(),
                       [c](const auto& range) { return range.first <= c && c <= range.second; });
  }

  const std::vector<std::pair<char32_t, char32_t>>& ranges() const { return ranges_; }

 private:
  std::vector<std::pair<char32_t, char32_t>> ranges_;
};

CharClass class_of(std::initializer_list<std::pair<char32_t, char32_t>> ranges) {
  CharClass out;
  for (const auto& [low, high] : ranges)
    out.add(low, high);
  return out;
}

// Go's POSIX classes, as in "[[:alpha:]]" (ASCII only, like Go's).
std::optional<CharClass> posix_class(std::string_view name) {
  static const std::array<std::pair<std::string_view, CharClass>, 14> kClasses = {{
      {"alnum", class_of({{'0', '9'}, {'A', 'Z'}, {'a', 'z'}})},
      {"alpha", class_of({{'A', 'Z'}, {'a', 'z'}})},
      {"ascii", class_of({{0, 0x7F}})},
      {"blank", class_of({{'\t', '\t'}, {' ', ' '}})},
      {"cntrl", class_of({{0, 0x1F}, {0x7F, 0x7F}})},
      {"digit", class_of({{'0', '9'}})},
      {"graph", class_of({{'!', '~'}})},
      {"lower", class_of({{'a', 'z'}})},
      {"print", class_of({{' ', '~'}})},
      {"punct", class_of({{'!', '/'}, {':', '@'}, {'[', '`'}, {'{', '~'}})},
      {"space", class_of({{'\t', '\r'}, {' ', ' '}})},
      {"upper", class_of({{'A', 'Z'}})},
      {"word", class_of({{'0', '9'}, {'A', 'Z'}, {'_', '_'}, {'a', 'z'}})},
      {"xdigit", class_of({{'0', '9'}, {'A', 'F'}, {'a', 'f'}})},
  }};
  for (const auto& [known, chars] : kClasses) {
    if (known == name) return chars;
  }
  return std::nullopt;
}

// Go's Perl classes \d \s \w and their negations \D \S \W.
std::optional<CharClass> perl_class(char letter) {
  CharClass chars;
  switch (letter | 0x20) {
    case 'd':
      chars = class_of({{'0', '9'}});
      break;
    case 's':
      chars = class_of({{'\t', '\n'}, {'\f', '\r'}, {' ', ' '}});
      break;
    case 'w':
      chars = class_of({{'0', '9'}, {'A', 'Z'}, {'_', '_'}, {'a', 'z'}});
      break;
    default:
      return std::nullopt;
  }
  return letter >= 'a' ? chars : chars.negated();
}

// ---------------------------------------------------------------------------------------
// Regular expressions: the part of Go's RE2 syntax that docker's substitution can produce.

class RegexpError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

enum class Assertion { kBeginText, kEndText, kWordBoundary, kNotWordBoundary };
enum class Repeat { kOnce, kStar, kOptional };

struct Node {
  enum class Kind { kChars, kAssert, kGroup };

  static Node chars(CharClass set) {
    Node node;
    node.set = std::move(set);
    return node;
  }
  static Node literal(char32_t c) { return chars(CharClass(c, c)); }
  static Node assertion(Assertion what) {
    Node node;
    node.kind = Kind::kAssert;
    node.assert_kind = what;
    return node;
  }
  static Node sequence(std::vector<Node> nodes) {
    Node node;
    node.kind = Kind::kGroup;
    node.group = std::move(nodes);
    return node;
  }

  Kind kind = Kind::kChars;
  CharClass set;
  Assertion assert_kind = Assertion::kBeginText;
  std::vector<Node> group;
  Repeat repeat = Repeat::kOnce;
};

bool is_ascii_alnum(char32_t c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

int hex_value(char32_t c) {
  if (c >= '0' && c <= '9') return static_cast<int>(c - '0');
  if (c >= 'a' && c <= 'f') return static_cast<int>(c - 'a' + 10);
  if (c >= 'A' && c <= 'F') return static_cast<int>(c - 'A' + 10);
  return -1;
}

// Parses expression text with Go's Perl flags: '^'/'$' anchor the whole text, '.' stops
// at '\n', negated classes include '\n'. Throws RegexpError where Go's compiler fails.
class RegexpParser {
 public:
  explicit RegexpParser(std::string_view text) : text_(text) {}

  std::vector<Node> parse() { return sequence(false); }

 private:
  std::vector<Node> sequence(bool in_group);
  void repeat(std::vector<Node>& nodes, bool after_repeat);
  void atom(std::vector<Node>& nodes);
  void backslash(std::vector<Node>& nodes);
  void quoted(std::vector<Node>& nodes);
  CharClass bracket();
  bool named_class(CharClass& set);
  char32_t class_char();
  char32_t escape();
  char32_t octal_escape(char32_t first);
  char32_t hex_escape();

  bool at(char c, std::size_t ahead = 0) const {
    return pos_ + ahead < text_.size() && text_[pos_ + ahead] == c;
  }
  char32_t next() {
    const Rune rune = decode_rune(text_, pos_);
    pos_ += rune.width;
    return rune.value;
  }

  std::string_view text_;
  std::size_t pos_ = 0;
};

std::vector<Node> RegexpParser::sequence(bool in_group) {
  std::vector<Node> nodes;
  bool after_repeat = false;
  while (pos_ < text_.size()) {
    if (at(')')) {
      if (!in_group) throw RegexpError("unexpected )");
      ++pos_;
      return nodes;
    }
    if (at('*') || at('?')) {
      repeat(nodes, after_repeat);
      after_repeat = true;
      continue;
    }
    after_repeat = false;
    atom(nodes);
  }
  if (in_group) throw RegexpError("missing )");
  return nodes;
}

void RegexpParser::repeat(std::vector<Node>& nodes, bool after_repeat) {
  const Repeat kind = text_[pos_++] == '*' ? Repeat::kStar : Repeat::kOptional;
  if (at('?')) ++pos_;  // non-greedy: the same yes/no answer
  if (after_repeat) throw RegexpError("invalid nested repetition operator");
  if (nodes.empty()) throw RegexpError("missing argument to repetition operator");
  nodes.back().repeat = kind;
}

void RegexpParser::atom(std::vector<Node>& nodes) {
  switch (text_[pos_]) {
    case '(':
      ++pos_;
      nodes.push_back(Node::sequence(sequence(true)));
      return;
    case '[':
      ++pos_;
      nodes.push_back(Node::chars(bracket()));
      return;
    case '\\':
      backslash(nodes);
      return;
    case '^':
      ++pos_;
      nodes.push_back(Node::assertion(Assertion::kBeginText));
      return;
    case '$':
      ++pos_;
      nodes.push_back(Node::assertion(Assertion::kEndText));
      return;
    case '.':
      ++pos_;
      nodes.push_back(Node::chars(CharClass('\n', '\n').negated()));
      return;
    default:
      nodes.push_back(Node::literal(next()));
  }
}

void RegexpParser::backslash(std::vector<Node>& nodes) {
  const char kind = pos_ + 1 < text_.size() ? text_[pos_ + 1] : '\0';
  const auto assertion = [&](Assertion what) {
    pos_ += 2;
    nodes.push_back(Node::assertion(what));
  };
  switch (kind) {
    case 'A':
      return assertion(Assertion::kBeginText);
    case 'z':
      return assertion(Assertion::kEndText);
    case 'b':
      return assertion(Assertion::kWordBoundary);
    case 'B':
      return assertion(Assertion::kNotWordBoundary);
    case 'Q':
      pos_ += 2;
      return quoted(nodes);
    case 'C':
    case 'p':
    case 'P':
      // \C is an error in Go too; Unicode tables (\pL) are not worth carrying.
      throw RegexpError(fmt::format("unsupported escape \\{}", kind));
    default:
      break;
  }
  if (auto set = perl_class(kind)) {
    pos_ += 2;
    nodes.push_back(Node::chars(std::move(*set)));
    return;
  }
  nodes.push_back(Node::literal(escape()));
}

// \Q...\E: everything up to \E (or the end, swallowing docker's closing '$') is literal.
void RegexpParser::quoted(std::vector<Node>& nodes) {
  const std::size_t end = std::min(text_.find("\\E", pos_), text_.size());
  while (pos_ < end)
    nodes.push_back(Node::literal(next()));
  pos_ = std::min(end + 2, text_.size());
}

// A bracketed class; pos_ is just past its '['.
CharClass RegexpParser::bracket() {
  CharClass set;
  const bool negate = at('^');
  if (negate) ++pos_;
  for (bool first = true; first || !at(']'); first = false) {
    if (pos_ >= text_.size()) throw RegexpError("missing closing ]");
    if (at('[') && at(':', 1) && named_class(set)) continue;
    if (at('\\') && (at('p', 1) || at('P', 1))) throw RegexpError("unsupported escape \\p");
    if (auto perl =
            at('\\') && pos_ + 1 < text_.size() ? perl_class(text_[pos_ + 1]) : std::nullopt) {
      pos_ += 2;
      set.add(*perl);
      continue;
    }
    const char32_t low = class_char();
    char32_t high = low;
    if (at('-') && pos_ + 1 < text_.size() && !at(']', 1)) {
      ++pos_;
      high = class_char();
      if (high < low) throw RegexpError("invalid character class range");
    }
    set.add(low, high);
  }
  ++pos_;  // the closing ']'
  return negate ? set.negated() : set;
}

// "[:name:]" inside a class. Like Go, looks for the closing ":]" anywhere further on.
bool RegexpParser::named_class(CharClass& set) {
  const std::size_t close = text_.find(":]", pos_ + 2);
  if (close == std::string_view::npos) return false;
  std::string_view name = text_.substr(pos_ + 2, close - pos_ - 2);
  const bool negate = name.starts_with('^');
  if (negate) name.remove_prefix(1);
  const std::optional<CharClass> chars = posix_class(name);
  if (!chars) throw RegexpError(fmt::format("invalid character class [:{}:]", name));
  set.add(negate ? chars->negated() : *chars);
  pos_ = close + 2;
  return true;
}

char32_t RegexpParser::class_char() {
  return at('\\') ? escape() : next();
}

// A single-character escape (Go's parseEscape); pos_ is at the backslash.
char32_t RegexpParser::escape() {
  ++pos_;
  if (pos_ >= text_.size()) throw RegexpError("trailing backslash");
  const char32_t c = next();
  if (c < 0x80 && !is_ascii_alnum(c)) return c;  // escaped punctuation is literal
  if (c >= '0' && c <= '7') return octal_escape(c);
  switch (c) {
    case 'x':
      return hex_escape();
    case 'a':
      return '\a';
    case 'f':
      return '\f';
    case 'n':
      return '\n';
    case 'r':
      return '\r';
    case 't':
      return '\t';
    case 'v':
      return '\v';
    default:
      throw RegexpError("invalid escape sequence");
  }
}

// \0, \012, \12 ...: up to three octal digits. A lone \1 to \7 is a back-reference, which
// Go rejects.
char32_t RegexpParser::octal_escape(char32_t first) {
  const auto octal_digit = [&] {
    return pos_ < text_.size() && text_[pos_] >= '0' && text_[pos_] <= '7';
  };
  if (first != '0' && !octal_digit()) throw RegexpError("back-references are not supported");
  char32_t value = first - '0';
  for (int digits = 1; digits < 3 && octal_digit(); ++digits) {
    value = value * 8 + static_cast<char32_t>(text_[pos_++] - '0');
  }
  return value;
}

// \xHH or \x{H...}.
char32_t RegexpParser::hex_escape() {
  if (!at('{')) {
    const int high = pos_ < text_.size() ? hex_value(next()) : -1;
    const int low = pos_ < text_.size() ? hex_value(next()) : -1;
    if (high < 0 || low < 0) throw RegexpError("invalid escape sequence");
    return static_cast<char32_t>(high * 16 + low);
  }
  ++pos_;
  char32_t value = 0;
  int digits = 0;
  for (; pos_ < text_.size() && !at('}'); ++digits) {
    const int digit = hex_value(next());
    if (digit < 0 || (value = value * 16 + digit) > kMaxRune) {
      throw RegexpError("invalid escape sequence");
    }
  }
  if (digits == 0 || !at('}')) throw RegexpError("invalid escape sequence");
  ++pos_;
  return value;
}

bool is_word_byte(char c) {
  return is_ascii_alnum(static_cast<unsigned char>(c)) || c == '_';
}

// A compiled expression as a Thompson NFA: linear in the input, no backtracking. Matching
// is anchored where the expression says so ('^', '$'), as with Go's MatchString.
class Nfa {
 public:
  explicit Nfa(const std::vector<Node>& nodes) {
    emit(nodes);
    insts_.push_back(Inst::make(Op::kMatch));
  }

  // The instructions reachable from `kernel` without consuming input, with the start and
  // the end of the text as given: the character tests among them (sorted), and whether
  // the match is among them. For building a Dfa.
  struct Closure {
    std::vector<std::size_t> tests;
    bool match = false;
  };
  Closure closure(const std::vector<std::size_t>& kernel, bool at_start, bool at_end) const;

  // The set a character test at `pc` accepts.
  const CharClass& test(std::size_t pc) const { return insts_[pc].set; }
  // The character sets of all tests, to split the code points into classes.
  std::vector<const CharClass*> tests() const;
  // \b and \B depend on the characters around a position, which a Dfa does not track.
  bool has_word_assertion() const;

  // True when the expression matches `input` or, with `or_parent`, one of its parent
  // directories (a prefix that ends before a '/'). One pass covers them all: the run over
  // `input` passes through each parent's end, where the parent's run would have ended.
  bool matches(std::string_view input, bool or_parent) const;

 private:
  enum class Op { kChars, kAssert, kSplit, kJump, kMatch };
  struct Inst {
    Op op = Op::kMatch;
    std::size_t x = 0;  // kSplit, kJump: a target
    std::size_t y = 0;  // kSplit: the other target
    CharClass set;
    Assertion assert_kind = Assertion::kBeginText;

    static Inst make(Op op, std::size_t x = 0) {
      Inst inst;
      inst.op = op;
      inst.x = x;
      return inst;
    }
  };
  // Working memory, kept per thread so that matching a path allocates nothing.
  struct Scratch {
    std::vector<std::size_t> current;  // threads waiting for the next rune
    std::vector<std::size_t> next;
    // Instructions to visit; `true` marks those reached by taking a parent's end as the
    // end of the text: they may still reach the match but must not consume input.
    std::vector<std::pair<std::size_t, bool>> stack;
    // seen[pc] == step: pc was visited in this step. Steps only grow, so marks left by
    // earlier matches (of any program) never look current.
    std::vector<std::size_t> seen;
    std::vector<std::size_t> seen_at_parent_end;
    std::size_t step = 0;
  };

  void emit(const std::vector<Node>& nodes) {
    for (const Node& node : nodes)
      emit(node);
  }
  void emit(const Node& node);
  void emit_once(const Node& node);
  bool holds(Assertion what, std::string_view input, std::size_t pos) const;
  bool add(Scratch& scratch, std::vector<std::size_t>& threads, std::size_t pc,
           std::string_view input, std::size_t pos, bool parent_end) const;

  std::vector<Inst> insts_;
};

void Nfa::emit(const Node& node) {
  if (node.repeat == Repeat::kOnce) return emit_once(node);
  // x? is "split(body, next)"; x* is the same with a jump from the body back to the split.
  const std::size_t split = insts_.size();
  insts_.push_back(Inst::make(Op::kSplit, split + 1));
  emit_once(node);
  if (node.repeat == Repeat::kStar) insts_.push_back(Inst::make(Op::kJump, split));
  insts_[split].y = insts_.size();
}

void Nfa::emit_once(const Node& node) {
  switch (node.kind) {
    case Node::Kind::kChars:
      insts_.push_back(Inst::make(Op::kChars));
      insts_.back().set = node.set;
      break;
    case Node::Kind::kAssert:
      insts_.push_back(Inst::make(Op::kAssert));
      insts_.back().assert_kind = node.assert_kind;
      break;
    case Node::Kind::kGroup:
      emit(node.group);
      break;
  }
}

bool Nfa::holds(Assertion what, std::string_view input, std::size_t pos) const {
  // Go's \b looks at ASCII word characters only, so bytes suffice.
  const bool word_before = pos > 0 && is_word_byte(input[pos - 1]);
  const bool word_after = pos < input.size() && is_word_byte(input[pos]);
  switch (what) {
    case Assertion::kBeginText:
      return pos == 0;
    case Assertion::kEndText:
      return pos == input.size();
    case Assertion::kWordBoundary:
      return word_before != word_after;
    case Assertion::kNotWordBoundary:
      return word_before == word_after;
  }
  return false;
}

// Adds the threads reachable from `pc` without consuming input at `pos`; true when one of
// them reaches the match. With `parent_end`, `pos` also ends a parent directory, whose own
// run would see the end of the text here: the only difference, since '\b' sees a
// non-word character either way.
bool Nfa::add(Scratch& scratch, std::vector<std::size_t>& threads, std::size_t pc,
              std::string_view input, std::size_t pos, bool parent_end) const {
  scratch.stack.assign(1, {pc, false});
  while (!scratch.stack.empty()) {
    const auto [at, past_end] = scratch.stack.back();
    scratch.stack.pop_back();
    std::size_t& seen = (past_end ? scratch.seen_at_parent_end : scratch.seen)[at];
    if (seen == scratch.step) continue;
    seen = scratch.step;
    const Inst& inst = insts_[at];
    switch (inst.op) {
      case Op::kMatch:
        return true;
      case Op::kChars:
        if (!past_end) threads.push_back(at);
        break;
      case Op::kJump:
        scratch.stack.emplace_back(inst.x, past_end);
        break;
      case Op::kSplit:
        scratch.stack.emplace_back(inst.y, past_end);
        scratch.stack.emplace_back(inst.x, past_end);
        break;
      case Op::kAssert:
        if (holds(inst.assert_kind, input, pos)) {
          scratch.stack.emplace_back(at + 1, past_end);
        } else if (parent_end && inst.assert_kind == Assertion::kEndText) {
          scratch.stack.emplace_back(at + 1, true);
        }
        break;
    }
  }
  return false;
}

bool Nfa::matches(std::string_view input, bool or_parent) const {
  thread_local Scratch scratch;
  if (scratch.seen.size() < insts_.size()) {
    scratch.seen.resize(insts_.size(), 0);
    scratch.seen_at_parent_end.resize(insts_.size(), 0);
  }
  const auto parent_end = [&](std::size_t pos) {
    return or_parent && pos < input.size() && input[pos] == '/';
  };
  ++scratch.step;
  scratch.current.clear();
  if (add(scratch, scratch.current, 0, input, 0, parent_end(0))) return true;
  for (std::size_t pos = 0; pos < input.size() && !scratch.current.empty();) {
    const Rune rune = decode_rune(input, pos);
    pos += rune.width;
    ++scratch.step;
    scratch.next.clear();
    for (const std::size_t pc : scratch.current) {
      if (insts_[pc].set.contains(rune.value) &&
          add(scratch, scratch.next, pc + 1, input, pos, parent_end(pos))) {
        return true;
      }
    }
    std::swap(scratch.current, scratch.next);
  }
  return false;
}

Nfa::Closure Nfa::closure(const std::vector<std::size_t>& kernel, bool at_start,
                          bool at_end) const {
  Closure out;
  std::vector<bool> seen(insts_.size());
  std::vector<std::size_t> stack(kernel.rbegin(), kernel.rend());
  while (!stack.empty()) {
    const std::size_t pc = stack.back();
    stack.pop_back();
    if (seen[pc]) continue;
    seen[pc] = true;
    const Inst& inst = insts_[pc];
    switch (inst.op) {
      case Op::kMatch:
        out.match = true;
        break;
      case Op::kChars:
        out.tests.push_back(pc);
        break;
      case Op::kJump:
        stack.push_back(inst.x);
        break;
      case Op::kSplit:
        stack.push_back(inst.y);
        stack.push_back(inst.x);
        break;
      case Op::kAssert:
        if (inst.assert_kind == Assertion::kBeginText ? at_start : at_end) {
          stack.push_back(pc + 1);
        }
        break;
    }
  }
  std::sort(out.tests.begin(), out.tests.end());
  return out;
}

std::vector<const CharClass*> Nfa::tests() const {
  std::vector<const CharClass*> out;
  for (const Inst& inst : insts_) {
    if (inst.op == Op::kChars) out.push_back(&inst.set);
  }
  return out;
}

bool Nfa::has_word_assertion() const {
  return std::any_of(insts_.begin(), insts_.end(), [](const Inst& inst) {
    return inst.op == Op::kAssert && (inst.assert_kind == Assertion::kWordBoundary ||
                                      inst.assert_kind == Assertion::kNotWordBoundary);
  });
}

// The same expression as a deterministic automaton, built ahead of time (so that a shared
// matcher stays read-only): one table lookup per code point instead of a set of threads.
// Code points are grouped into classes that every character test treats alike.
class Dfa {
 public:
  // nullopt when the expression needs the NFA: \b or \B, or too many states.
  static std::optional<Dfa> build(const Nfa& nfa);

  // Same contract as Nfa::matches.
  bool matches(std::string_view input, bool or_parent) const;

 private:
  static constexpr int kDead = -1;  // no match is possible any more
  static constexpr std::size_t kMaxStates = 512;

  struct State {
    bool match_now = false;     // the match is reached here, whatever follows
    bool match_at_end = false;  // ... and if the text (or a parent directory) ends here
    std::vector<int> next;      // by code point class
  };
  using Key = std::tuple<std::vector<std::size_t>, bool, bool>;

  void split_classes(const Nfa& nfa);
  std::size_t class_of(char32_t c) const;
  int intern(const Nfa& nfa, const std::vector<std::size_t>& kernel, bool at_start);

  std::vector<char32_t> class_starts_;  // class i is [class_starts_[i], class_starts_[i + 1])
  std::array<std::uint8_t, 0x80> ascii_class_{};
  std::vector<State> states_;
  // Construction only: each state's character tests, and the states by their key.
  std::vector<std::vector<std::size_t>> tests_;
  std::map<Key, int> ids_;
};

void Dfa::split_classes(const Nfa& nfa) {
  class_starts_ = {0};
  for (const CharClass* set : nfa.tests()) {
    for (const auto& [low, high] : set->ranges()) {
      class_starts_.push_back(low);
      if (high < kMaxRune) class_starts_.push_back(high + 1);
    }
  }
  std::sort(class_starts_.begin(), class_starts_.end());
  class_starts_.erase(std::unique(class_starts_.begin(), class_starts_.end()), class_starts_.end());
  // ASCII code points fall in the first 128 classes at most, so a byte holds their index.
  for (char32_t c = 0; c < 0x80; ++c) {
    ascii_class_[c] =
        static_cast<std::uint8_t>(std::upper_bound(class_starts_.begin(), class_starts_.end(), c) -
                                  class_starts_.begin() - 1);
  }
}

std::size_t Dfa::class_of(char32_t c) const {
  if (c < 0x80) return ascii_class_[c];
  return std::upper_bound(class_starts_.begin(), class_starts_.end(), c) - class_starts_.begin() -
         1;
}

// The state for the instructions `kernel` leads to; states that behave alike are one.
int Dfa::intern(const Nfa& nfa, const std::vector<std::size_t>& kernel, bool at_start) {
  Nfa::Closure here = nfa.closure(kernel, at_start, false);
  const bool match_at_end = nfa.closure(kernel, at_start, true).match;
  if (here.tests.empty() && !here.match && !match_at_end) return kDead;
  Key key{std::move(here.tests), here.match, match_at_end};
  if (const auto found = ids_.find(key); found != ids_.end()) return found->second;
  const int id = static_cast<int>(states_.size());
  states_.push_back(State{here.match, match_at_end, {}});
  tests_.push_back(std::get<0>(key));
  ids_.emplace(std::move(key), id);
  return id;
}

std::optional<Dfa> Dfa::build(const Nfa& nfa) {
  if (nfa.has_word_assertion()) return std::nullopt;
  Dfa dfa;
  dfa.split_classes(nfa);
  if (dfa.intern(nfa, {0}, true) == kDead) return dfa;
  // States are appended while earlier ones are filled in; each is visited once.
  for (std::size_t id = 0; id < dfa.states_.size(); ++id) {
    if (dfa.states_.size() > kMaxStates) return std::nullopt;
    dfa.states_[id].next.resize(dfa.class_starts_.size(), kDead);
    for (std::size_t c = 0; c < dfa.class_starts_.size(); ++c) {
      std::vector<std::size_t> kernel;
      for (const std::size_t pc : dfa.tests_[id]) {
        if (nfa.test(pc).contains(dfa.class_starts_[c])) kernel.push_back(pc + 1);
      }
      const int target = dfa.intern(nfa, kernel, false);
      dfa.states_[id].next[c] = target;
    }
  }
  dfa.tests_.clear();
  dfa.ids_.clear();
  return dfa;
}

bool Dfa::matches(std::string_view input, bool or_parent) const {
  if (states_.empty()) return false;  // the start state is dead: nothing matches
  int state = 0;
  for (std::size_t pos = 0; state != kDead;) {
    const State& here = states_[state];
    if (here.match_now) return true;
    if (pos == input.size()) return here.match_at_end;
    if (or_parent && input[pos] == '/' && here.match_at_end) return true;
    const Rune rune = decode_rune(input, pos);
    pos += rune.width;
    state = here.next[class_of(rune.value)];
  }
  return false;
}

// An expression ready to run: as a Dfa when it can be, else as the Nfa.
class Regexp {
 public:
  explicit Regexp(const std::vector<Node>& nodes) : nfa_(nodes), dfa_(Dfa::build(nfa_)) {}

  bool matches(std::string_view input, bool or_parent) const {
    return dfa_ ? dfa_->matches(input, or_parent) : nfa_.matches(input, or_parent);
  }

 private:
  Nfa nfa_;
  std::optional<Dfa> dfa_;
};

// ---------------------------------------------------------------------------------------
// Docker's pattern-to-expression substitution (patternmatcher's Pattern.compile).

enum class MatchMode { kExact, kPrefix, kSuffix, kRegexp };

struct Translation {
  MatchMode mode = MatchMode::kExact;
  std::string regexp = "^";
};

// Characters that mean something to a Go regexp but nothing to a glob, so docker escapes
// them. '^' is missing from docker's list, so it stays an anchor in expression patterns.
bool is_regexp_only_meta(char32_t c) {
  return c == '.' || c == '+' || c == '(' || c == ')' || c == '|' || c == '{' || c == '}' ||
         c == '$';
}

// "**" at pattern[pos - 1]: with a following '/', any number of leading directories;
// at the end, anything at all. A pattern that starts with "**" is compared by suffix
// unless something later needs the expression.
void translate_double_star(std::string_view pattern, std::size_t& pos, bool first,
                           Translation& out) {
  ++pos;
  if (pos < pattern.size() && pattern[pos] == '/') ++pos;
  if (pos < pattern.size()) {
    out.regexp += "(.*/)?";
    out.mode = MatchMode::kRegexp;
  } else if (out.mode == MatchMode::kExact) {
    out.mode = MatchMode::kPrefix;
  } else {
    out.regexp += ".*";
    out.mode = MatchMode::kRegexp;
  }
  if (first) out.mode = MatchMode::kSuffix;
}

Translation translate(std::string_view pattern) {
  Translation out;
  for (std::size_t pos = 0; pos < pattern.size();) {
    const bool first = pos == 0;
    const Rune rune = decode_rune(pattern, pos);
    const char32_t c = rune.value;
    pos += rune.width;
    if (c == '*' && pos < pattern.size() && pattern[pos] == '*') {
      translate_double_star(pattern, pos, first, out);
      continue;
    }
    if (c == '*' || c == '?') {
      out.regexp += c == '*' ? "[^/]*" : "[^/]";
      out.mode = MatchMode::kRegexp;
    } else if (c == '\\' && pos < pattern.size()) {
      const Rune escaped = decode_rune(pattern, pos);
      pos += escaped.width;
      out.regexp += '\\';
      append_utf8(out.regexp, escaped.value);
      out.mode = MatchMode::kRegexp;
    } else {
      if (is_regexp_only_meta(c)) out.regexp += '\\';
      append_utf8(out.regexp, c);
      if (c == '[' || c == ']') out.mode = MatchMode::kRegexp;
    }
  }
  if (out.mode == MatchMode::kRegexp) out.regexp += '$';
  return out;
}

// ---------------------------------------------------------------------------------------
// Reading the file (BuildKit's dockerignore.ReadAll).

constexpr std::string_view kUtf8Bom = "\xEF\xBB\xBF";

std::optional<IgnorePattern> read_line(std::string_view line, int number) {
  if (line.starts_with('#')) return std::nullopt;  // only in column 1, before trimming
  std::string_view pattern = trim_space(line);
  if (pattern.empty()) return std::nullopt;
  const bool exclusion = pattern.front() == '!';
  if (exclusion) pattern = trim_space(pattern.substr(1));
  std::string text(pattern);
  if (!text.empty()) {
    text = clean_path(text);
    if (text.size() > 1 && text.front() == '/') text.erase(0, 1);
  }
  return IgnorePattern{std::move(text), exclusion, number};
}

[[noreturn]] void throw_pattern_error(const IgnorePattern& pattern, std::string_view reason) {
  const std::string shown = (pattern.exclusion ? "!" : "") + pattern.text;
  if (pattern.line > 0) {
    throw IgnorePatternError(fmt::format(".dockerignore line {}: invalid pattern \"{}\": {}",
                                         pattern.line, shown, reason),
                             pattern.line);
  }
  throw IgnorePatternError(fmt::format("invalid ignore pattern \"{}\": {}", shown, reason), 0);
}

// patternmatcher.New's view of one pattern: it trims and cleans "!text" as one string and
// only then looks for the '!'. That is a no-op for what read_line produces, except that
// "!/" cleans to "!" (an error) and a cleaned text that starts with '!' becomes an
// exception. nullopt for a blank pattern.
std::optional<IgnorePattern> prepare(const IgnorePattern& given) {
  const std::string joined = (given.exclusion ? "!" : "") + given.text;
  const std::string_view trimmed = trim_space(joined);
  if (trimmed.empty()) return std::nullopt;
  IgnorePattern out{clean_path(trimmed), false, given.line};
  if (out.text.front() == '!') {
    if (out.text.size() == 1) throw_pattern_error(given, "an exception needs a pattern after '!'");
    out.exclusion = true;
    out.text.erase(0, 1);
  }
  // Callers that build patterns by hand may write "/foo"; the file reader already strips it.
  if (out.text.size() > 1 && out.text.front() == '/') out.text.erase(0, 1);
  return out;
}

// fsutil's patternWithoutTrailingGlob: "dir/**" and "dir/*" re-include below "dir".
std::string_view exception_stem(std::string_view text) {
  if (text.ends_with("/**")) text.remove_suffix(3);
  if (text.ends_with("/*")) text.remove_suffix(2);
  return text;
}

}  // namespace

// ---------------------------------------------------------------------------------------

struct IgnoreMatcher::Compiled {
  bool exclusion = false;
  MatchMode mode = MatchMode::kExact;
  std::string text;
  std::optional<Regexp> program;

  static std::shared_ptr<const Compiled> make(const IgnorePattern& pattern) {
    if (auto reason = glob_syntax_error(pattern.text)) throw_pattern_error(pattern, *reason);
    auto compiled = std::make_shared<Compiled>();
    compiled->exclusion = pattern.exclusion;
    compiled->text = pattern.text;
    Translation translation = translate(pattern.text);
    compiled->mode = translation.mode;
    if (translation.mode == MatchMode::kRegexp) {
      // Docker compiles lazily and fails the build on first use; failing early is kinder.
      try {
        compiled->program.emplace(RegexpParser(translation.regexp).parse());
      } catch (const RegexpError& error) {
        throw_pattern_error(pattern, error.what());
      }
    }
    return compiled;
  }

  bool matches(std::string_view path) const {
    switch (mode) {
      case MatchMode::kExact:
        return path == text;
      case MatchMode::kPrefix:  // "text**"
        return path.starts_with(std::string_view(text).substr(0, text.size() - 2));
      case MatchMode::kSuffix: {  // "**text": "**/foo" also matches "foo" itself
        const std::string_view suffix = std::string_view(text).substr(2);
        return path.ends_with(suffix) || (suffix.starts_with('/') && path == suffix.substr(1));
      }
      case MatchMode::kRegexp:
        return program->matches(path, false);
    }
    return false;
  }

  // patternmatcher's parent check: `path` or one of its parent directories matches.
  bool matches_path_or_parent(std::string_view path) const {
    if (mode == MatchMode::kRegexp) return program->matches(path, true);
    if (matches(path)) return true;
    for (std::size_t slash = path.find('/'); slash != std::string_view::npos;
         slash = path.find('/', slash + 1)) {
      if (matches(path.substr(0, slash))) return true;
    }
    return false;
  }
};

IgnoreMatcher::IgnoreMatcher(std::vector<IgnorePattern> patterns) {
  for (const IgnorePattern& given : patterns) {
    std::optional<IgnorePattern> pattern = prepare(given);
    if (!pattern) continue;
    compiled_.push_back(Compiled::make(*pattern));
    if (pattern->exclusion) {
      const std::string_view stem = exception_stem(pattern->text);
      exception_has_glob_ |= stem.find_first_of("*[]?^\\") != std::string_view::npos;
      exception_stems_.push_back(std::string(stem) + '/');
    }
    patterns_.push_back(std::move(*pattern));
  }
}

IgnoreMatcher IgnoreMatcher::parse(std::string_view text) {
  std::vector<IgnorePattern> patterns;
  int number = 0;
  // Lines as Go's bufio.Scanner splits them: a final '\n' does not start another line, and
  // one '\r' before each '\n' goes.
  for (std::size_t start = 0; start < text.size();) {
    const std::size_t end = std::min(text.find('\n', start), text.size());
    std::string_view line = text.substr(start, end - start);
    start = end + 1;
    if (line.ends_with('\r')) line.remove_suffix(1);
    if (++number == 1 && line.starts_with(kUtf8Bom)) line.remove_prefix(kUtf8Bom.size());
    if (auto pattern = read_line(line, number)) patterns.push_back(std::move(*pattern));
  }
  return IgnoreMatcher(std::move(patterns));
}

// patternmatcher's MatchesOrParentMatches: each pattern is tried on the path and on each
// of its parent directories, and the last pattern that matches decides.
bool IgnoreMatcher::excluded(std::string_view path) const {
  const std::string file = context_path(path);
  if (file == ".") return false;  // the context root itself is never excluded
  bool matched = false;
  for (const auto& pattern : compiled_) {
    // A match could only confirm the current answer; docker skips these too.
    if (pattern->exclusion != matched) continue;
    if (pattern->matches_path_or_parent(file)) matched = !pattern->exclusion;
  }
  return matched;
}

// BuildKit's walker (fsutil's filterFS): an excluded directory is skipped unless an
// exception could apply below it. When every exception is plain text, it can only apply
// below `dir` if it names a path below `dir`; an exception with wildcards could match
// anywhere, so then every excluded directory is entered.
bool IgnoreMatcher::must_descend(std::string_view dir) const {
  const std::string cleaned = context_path(dir);
  if (cleaned == "." || !excluded(cleaned)) return true;
  if (exception_stems_.empty()) return false;
  if (exception_has_glob_) return true;
  const std::string dir_slash = cleaned + '/';
  return std::any_of(exception_stems_.begin(), exception_stems_.end(),
                     [&](const std::string& stem) { return stem.starts_with(dir_slash); });
}

std::optional<std::filesystem::path> find_ignore_file(
    const std::filesystem::path& context, const std::optional<std::filesystem::path>& dockerfile) {
  std::error_code error;  // unreadable counts as missing, as for docker's lookup
  // "-" is a Dockerfile read from stdin: it has no name to hang an ignore file on.
  if (dockerfile && !dockerfile->empty() && *dockerfile != "-") {
    std::filesystem::path beside = *dockerfile;
    beside += ".dockerignore";
    if (std::filesystem::is_regular_file(beside, error)) return beside;
  }
  std::filesystem::path in_context = context / ".dockerignore";
  if (std::filesystem::is_regular_file(in_context, error)) return in_context;
  return std::nullopt;
}

}  // namespace cairn::frontend
