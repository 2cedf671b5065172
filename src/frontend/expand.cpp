// Shell-word expansion following BuildKit's lexer (frontend/dockerfile/shell/lex.go).
//
// The input is scanned once, left to right, by a recursive-descent Parser. What it
// recognises goes to a Sink, which only has to know whether a piece of text was quoted
// (quotes, escapes) or not: that single bit decides word splitting in words() and whether
// glob characters are active in a ${V#pattern}. Syntax characters are all ASCII, so the
// scanner works on bytes and only steps over whole UTF-8 sequences where a character is
// consumed as a unit (after an escape, in names, in glob matching).
#include "cairn/frontend/expand.hpp"

#include <locale.h>
#include <wctype.h>

#include <algorithm>
#include <iterator>
#include <map>
#include <memory>
#include <span>
#include <utility>

namespace cairn::frontend {
namespace {

// ---------------------------------------------------------------------------------------
// UTF-8

// Length of the UTF-8 sequence starting at `pos`; 1 for a byte that does not start a
// well-formed sequence, so malformed input passes through byte by byte, unchanged.
std::size_t sequence_length(std::string_view text, std::size_t pos) {
  const auto lead = static_cast<unsigned char>(text[pos]);
  std::size_t length = 1;
  if (lead >= 0xF0 && lead <= 0xF4) {
    length = 4;
  } else if (lead >= 0xE0) {
    length = lead <= 0xEF ? 3 : 1;
  } else if (lead >= 0xC2) {
    length = 2;
  }
  if (pos + length > text.size()) return 1;
  for (std::size_t i = 1; i < length; ++i) {
    if ((static_cast<unsigned char>(text[pos + i]) & 0xC0) != 0x80) return 1;
  }
  return length;
}

// Decodes the sequence at `pos` of `length` bytes (from sequence_length). A stray byte
// maps to U+DC00+byte, as Python's surrogateescape does: distinct bytes stay distinct for
// glob matching and never count as letters or spaces.
char32_t decode(std::string_view text, std::size_t pos, std::size_t length) {
  const auto lead = static_cast<unsigned char>(text[pos]);
  if (length == 1) return lead < 0x80 ? char32_t{lead} : char32_t{0xDC00u + lead};
  static constexpr unsigned char kLeadMask[] = {0, 0, 0x1F, 0x0F, 0x07};
  char32_t code_point = lead & kLeadMask[length];
  for (std::size_t i = 1; i < length; ++i) {
    code_point = (code_point << 6) | (static_cast<unsigned char>(text[pos + i]) & 0x3F);
  }
  return code_point;
}

// Go's unicode.IsSpace, which BuildKit uses to split words: ASCII white space, NEL, NBSP
// and the other code points with the Unicode White_Space property.
bool is_space(char32_t c) {
  if (c < 0x80) return c == ' ' || (c >= '\t' && c <= '\r');
  static constexpr char32_t kOthers[] = {0x85,   0xA0,   0x1680, 0x2028,
                                         0x2029, 0x202F, 0x205F, 0x3000};
  return (c >= 0x2000 && c <= 0x200A) || std::ranges::find(kOthers, c) != std::end(kOthers);
}

bool is_ascii_digit(char c) {
  return c >= '0' && c <= '9';
}

bool is_ascii_alnum(char32_t c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

// BuildKit accepts Unicode letters and digits in names. glibc's C.UTF-8 locale classifies
// all of Unicode; a private locale object keeps the process-wide locale untouched.
bool is_name_char(char32_t c) {
  if (c < 0x80) return is_ascii_alnum(c) || c == '_';
  static const locale_t utf8 = newlocale(LC_CTYPE_MASK, "C.UTF-8", locale_t{});
  // Without that locale, count every non-space code point as a letter: better to read a
  // name too long than to cut "$DÉJÀ" short.
  if (utf8 == locale_t{}) return !is_space(c) && (c < 0xDC80 || c > 0xDCFF);
  return iswalnum_l(static_cast<wint_t>(c), utf8) != 0;
}

// ---------------------------------------------------------------------------------------
// Glob patterns: '*', '?', '[...]' (with '!' or '^' negation, ranges and [:class:]), and
// '\x' for a literal x. They match per code point.

// Text decoded to code points, with the byte offset of each (and of the end).
struct CodePoints {
  std::vector<char32_t> chars;
  std::vector<std::size_t> offsets;
};

CodePoints code_points(std::string_view text) {
  CodePoints result;
  for (std::size_t pos = 0; pos < text.size();) {
    const std::size_t length = sequence_length(text, pos);
    result.chars.push_back(decode(text, pos, length));
    result.offsets.push_back(pos);
    pos += length;
  }
  result.offsets.push_back(text.size());
  return result;
}

bool in_named_class(std::string_view name, char32_t c) {
  if (c >= 0x80) return false;
  const char ch = static_cast<char>(c);
  const bool upper = ch >= 'A' && ch <= 'Z';
  const bool lower = ch >= 'a' && ch <= 'z';
  const bool digit = is_ascii_digit(ch);
  if (name == "alpha") return upper || lower;
  if (name == "digit") return digit;
  if (name == "alnum") return upper || lower || digit;
  if (name == "upper") return upper;
  if (name == "lower") return lower;
  if (name == "space") return ch == ' ' || (ch >= '\t' && ch <= '\r');
  if (name == "blank") return ch == ' ' || ch == '\t';
  if (name == "xdigit") return digit || (ch >= 'a' && ch <= 'f') || (ch >= 'A' && ch <= 'F');
  if (name == "punct") return ch > ' ' && ch < 0x7F && !upper && !lower && !digit;
  return false;
}

struct GlobElement {
  enum class Kind { kLiteral, kAnyChar, kAnyString, kSet };

  explicit GlobElement(Kind element_kind, char32_t literal_char = 0)
      : kind(element_kind), literal(literal_char) {}

  Kind kind;
  char32_t literal;
  // For kSet:
  bool negated = false;
  std::vector<std::pair<char32_t, char32_t>> ranges;
  std::vector<std::string> classes;

  bool matches(char32_t c) const;
};

bool GlobElement::matches(char32_t c) const {
  switch (kind) {
    case Kind::kLiteral:
      return c == literal;
    case Kind::kAnyChar:
      return true;
    case Kind::kAnyString:
      return false;  // not a one-character element; handled by Glob
    case Kind::kSet:
      break;
  }
  bool member = false;
  for (const auto& [low, high] : ranges)
    member |= low <= c && c <= high;
  for (const std::string& name : classes)
    member |= in_named_class(name, c);
  return member != negated;
}

// A compiled pattern, run as a nondeterministic automaton: state i means "the first i
// elements have matched". That finds every matching prefix in one pass over the text,
// without the exponential backtracking of a naive matcher.
class Glob {
 public:
  explicit Glob(std::string_view pattern);

  bool empty() const { return elements_.empty(); }

  // The same pattern read backwards, for matching suffixes on reversed text.
  Glob reversed() const;

  // result[n] tells whether text[0, n) matches, for n in [0, text.size()].
  std::vector<bool> matching_prefixes(std::span<const char32_t> text) const;

 private:
  Glob() = default;
  // Parses "[...]" at pattern[pos]. Returns false, leaving pos, if it is not closed.
  bool parse_set(std::string_view pattern, std::size_t& pos);
  // Lets active '*' states also skip themselves (match the empty string).
  void skip_stars(std::vector<char>& active) const;

  std::vector<GlobElement> elements_;
};

// Reads one code point of a pattern, taking "\x" as a literal x.
char32_t next_pattern_char(std::string_view pattern, std::size_t& pos) {
  if (pattern[pos] == '\\' && pos + 1 < pattern.size()) ++pos;
  const std::size_t length = sequence_length(pattern, pos);
  const char32_t c = decode(pattern, pos, length);
  pos += length;
  return c;
}

Glob::Glob(std::string_view pattern) {
  for (std::size_t pos = 0; pos < pattern.size();) {
    const char c = pattern[pos];
    if (c == '*') {
      ++pos;
      const bool repeated =
          !elements_.empty() && elements_.back().kind == GlobElement::Kind::kAnyString;
      if (!repeated) elements_.emplace_back(GlobElement::Kind::kAnyString);
    } else if (c == '?') {
      ++pos;
      elements_.emplace_back(GlobElement::Kind::kAnyChar);
    } else if (c != '[' || !parse_set(pattern, pos)) {
      // An unclosed '[' is an ordinary character, as in the shell.
      elements_.emplace_back(GlobElement::Kind::kLiteral, next_pattern_char(pattern, pos));
    }
  }
}

bool Glob::parse_set(std::string_view pattern, std::size_t& pos) {
  GlobElement set(GlobElement::Kind::kSet);
  std::size_t i = pos + 1;
  if (i < pattern.size() && (pattern[i] == '!' || pattern[i] == '^')) {
    set.negated = true;
    ++i;
  }
  // A ']' right after the opening (and negation) is a member, not the end.
  for (bool first = true; i < pattern.size(); first = false) {
    if (pattern[i] == ']' && !first) {
      pos = i + 1;
      elements_.push_back(std::move(set));
      return true;
    }
    const std::size_t class_end = pattern.find(":]", i + 2);
    if (pattern.substr(i, 2) == "[:" && class_end != std::string_view::npos) {
      set.classes.emplace_back(pattern.substr(i + 2, class_end - i - 2));
      i = class_end + 2;
      continue;
    }
    const char32_t low = next_pattern_char(pattern, i);
    char32_t high = low;
    if (i + 1 < pattern.size() && pattern[i] == '-' && pattern[i + 1] != ']') {
      ++i;
      high = next_pattern_char(pattern, i);
    }
    set.ranges.emplace_back(low, high);
  }
  return false;
}

Glob Glob::reversed() const {
  Glob result;
  result.elements_.assign(elements_.rbegin(), elements_.rend());
  return result;
}

void Glob::skip_stars(std::vector<char>& active) const {
  for (std::size_t state = 0; state < elements_.size(); ++state) {
    if (active[state] && elements_[state].kind == GlobElement::Kind::kAnyString) {
      active[state + 1] = 1;
    }
  }
}

std::vector<bool> Glob::matching_prefixes(std::span<const char32_t> text) const {
  std::vector<bool> result(text.size() + 1, false);
  std::vector<char> active(elements_.size() + 1, 0);
  std::vector<char> next(elements_.size() + 1, 0);
  active[0] = 1;
  skip_stars(active);
  result[0] = active.back() != 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    std::fill(next.begin(), next.end(), 0);
    bool alive = false;
    for (std::size_t state = 0; state < elements_.size(); ++state) {
      if (!active[state]) continue;
      const GlobElement& element = elements_[state];
      if (element.kind == GlobElement::Kind::kAnyString) {
        next[state] = alive = true;
      } else if (element.matches(text[i])) {
        next[state + 1] = alive = true;
      }
    }
    if (!alive) break;  // no longer prefix can match
    skip_stars(next);
    active.swap(next);
    result[i + 1] = active.back() != 0;
  }
  return result;
}

// ${V#p} and ${V##p}.
std::string remove_prefix(std::string_view value, const Glob& glob, bool longest) {
  const CodePoints text = code_points(value);
  const std::vector<bool> matches = glob.matching_prefixes(text.chars);
  for (std::size_t n = 0; n < matches.size(); ++n) {
    const std::size_t length = longest ? matches.size() - 1 - n : n;
    if (matches[length]) return std::string(value.substr(text.offsets[length]));
  }
  return std::string(value);
}

// ${V%p} and ${V%%p}: a prefix match of the reversed pattern on the reversed text.
std::string remove_suffix(std::string_view value, const Glob& glob, bool longest) {
  CodePoints text = code_points(value);
  std::reverse(text.chars.begin(), text.chars.end());
  const std::vector<bool> matches = glob.reversed().matching_prefixes(text.chars);
  for (std::size_t n = 0; n < matches.size(); ++n) {
    const std::size_t length = longest ? matches.size() - 1 - n : n;
    if (matches[length]) {
      return std::string(value.substr(0, text.offsets[text.chars.size() - length]));
    }
  }
  return std::string(value);
}

// A Dockerfile of a few lines ("ENV a=$a$a$a$a" repeated, "${b//?/$b}") can otherwise grow
// a value exponentially; no real build needs a word this large.
constexpr std::size_t kMaxExpansion = 16u << 20;

void check_growth(std::size_t size) {
  if (size > kMaxExpansion)
    throw ExpandError("the expansion is larger than 16 MiB (a variable that repeats itself?)", 0);
}

// ${V/p/r} and ${V//p/r}, as bash does them: at the leftmost position where the pattern
// matches, replace the longest match. An empty pattern changes nothing, and an empty
// match only counts in an empty value (so "${EMPTY/*/x}" gives "x", as in bash).
std::string replace_matches(std::string_view value, const Glob& glob, std::string_view replacement,
                            bool all) {
  if (glob.empty()) return std::string(value);
  if (value.empty()) {
    return glob.matching_prefixes({})[0] ? std::string(replacement) : std::string();
  }
  const CodePoints text = code_points(value);
  const std::span<const char32_t> chars(text.chars);
  std::string result;
  std::size_t start = 0;   // in code points
  std::size_t copied = 0;  // bytes of value already in result
  while (start < chars.size()) {
    const std::vector<bool> matches = glob.matching_prefixes(chars.subspan(start));
    std::size_t length = matches.size() - 1;
    while (length > 0 && !matches[length])
      --length;
    if (length == 0) {
      ++start;
      continue;
    }
    check_growth(result.size() + (text.offsets[start] - copied) + replacement.size());
    result.append(value.substr(copied, text.offsets[start] - copied)).append(replacement);
    start += length;
    copied = text.offsets[start];
    if (!all) break;
  }
  return result.append(value.substr(copied));
}

// ---------------------------------------------------------------------------------------
// Sinks: where the parser puts what it has read.

class Sink {
 public:
  virtual ~Sink() = default;
  // Unquoted source text or the value of an unquoted $-expansion: split on white space,
  // glob characters active.
  virtual void unquoted(std::string_view text) = 0;
  // Quoted or escaped text: one piece, taken literally.
  virtual void quoted(std::string_view text) = 0;
};

class TextSink final : public Sink {
 public:
  void unquoted(std::string_view text) override { append(text); }
  void quoted(std::string_view text) override { append(text); }
  std::string take() { return std::move(text_); }

 private:
  void append(std::string_view text) {
    check_growth(text_.size() + text.size());
    text_.append(text);
  }
  std::string text_;
};

class WordsSink final : public Sink {
 public:
  void unquoted(std::string_view text) override {
    total_ += text.size();
    check_growth(total_);
    for (std::size_t pos = 0; pos < text.size();) {
      const std::size_t length = sequence_length(text, pos);
      if (is_space(decode(text, pos, length))) {
        end_word();
      } else {
        word_.append(text.substr(pos, length));
      }
      pos += length;
    }
  }
  void quoted(std::string_view text) override {
    total_ += text.size();
    check_growth(total_);
    word_.append(text);
  }

  std::vector<std::string> take() {
    end_word();
    return std::move(words_);
  }

 private:
  // Quoted "" gives an empty word, which the shell would keep; BuildKit drops it.
  void end_word() {
    if (!word_.empty()) words_.push_back(std::move(word_));
    word_.clear();
  }

  std::string word_;
  std::vector<std::string> words_;
  std::size_t total_ = 0;
};

// Builds glob syntax: quoted text is escaped so that "${V#'*'}" removes a literal star,
// as in bash, while an unquoted $P whose value holds "*" or "\*" acts as a pattern.
class PatternSink final : public Sink {
 public:
  void unquoted(std::string_view text) override {
    check_growth(pattern_.size() + text.size());
    pattern_.append(text);
  }
  void quoted(std::string_view text) override {
    check_growth(pattern_.size() + 2 * text.size());
    for (char c : text) {
      if (std::string_view("\\*?[]-!^").find(c) != std::string_view::npos) pattern_ += '\\';
      pattern_ += c;
    }
  }
  std::string take() { return std::move(pattern_); }

 private:
  std::string pattern_;
};

// ---------------------------------------------------------------------------------------
// The parser.

bool is_special_parameter(char c) {
  return std::string_view("@*#?-$!0").find(c) != std::string_view::npos;
}

struct Parameter {
  std::string name;  // empty if there was none
  // False for positional ($1) and special ($@ ...) parameters: a Dockerfile has none,
  // so they are always unset and never looked up.
  bool is_variable = false;
};

class Parser {
 public:
  Parser(std::string_view source, char escape, ExpandOptions options, const VarLookup& lookup,
         std::set<std::string>* used)
      : source_(source), escape_(escape), raw_(options), lookup_(lookup), used_(used) {}

  void parse(Sink& out) { parse_until(std::nullopt, out); }

 private:
  bool at_end() const { return pos_ >= source_.size(); }
  bool consume_if(char c);
  std::string_view take_character();

  bool parse_until(std::optional<char> stop, Sink& out);
  void unquoted_escape(Sink& out);
  std::string single_quoted();
  std::string double_quoted();
  void escape_in_double_quotes(std::string& text);

  std::string dollar();
  Parameter parameter();
  std::optional<std::string> value_of(const Parameter& parameter);
  std::string braced(std::size_t start);
  std::string after_colon(const Parameter& parameter, std::size_t start);
  std::string conditional(const Parameter& parameter, char op, bool empty_is_unset,
                          std::size_t start);
  std::string trim(const Parameter& parameter, char op, std::size_t start);
  std::string replace(const Parameter& parameter, std::size_t start);
  std::string nested_word(std::size_t start);
  std::optional<std::string> nested_pattern(char stop);

  ExpandError missing_brace(std::size_t start) const;
  ExpandError bad_substitution(std::size_t start) const;

  std::string_view source_;
  std::size_t pos_ = 0;
  char escape_;
  ExpandOptions raw_;  // switched off while reading a pattern, which is never output
  const VarLookup& lookup_;
  std::set<std::string>* used_;
};

bool Parser::consume_if(char c) {
  if (at_end() || source_[pos_] != c) return false;
  ++pos_;
  return true;
}

std::string_view Parser::take_character() {
  const std::size_t length = sequence_length(source_, pos_);
  const std::string_view character = source_.substr(pos_, length);
  pos_ += length;
  return character;
}

// Reads up to `stop` (consumed) or the end of the input. Returns whether `stop` was found.
bool Parser::parse_until(std::optional<char> stop, Sink& out) {
  while (!at_end()) {
    const char c = source_[pos_];
    if (stop && c == *stop) {
      ++pos_;
      return true;
    }
    if (c == '$') {
      out.unquoted(dollar());
    } else if (c == '\'') {
      out.quoted(single_quoted());
    } else if (c == '"') {
      out.quoted(double_quoted());
    } else if (c == escape_) {
      unquoted_escape(out);
    } else {
      out.unquoted(take_character());
    }
  }
  return false;
}

void Parser::unquoted_escape(Sink& out) {
  if (raw_.keep_escapes) out.quoted(source_.substr(pos_, 1));
  ++pos_;
  // A lone escape at the very end is dropped, as BuildKit does (the line continuation
  // has already been handled by the Dockerfile parser).
  if (!at_end()) out.quoted(take_character());
}

std::string Parser::single_quoted() {
  const std::size_t start = pos_++;
  const std::size_t close = source_.find('\'', pos_);
  if (close == std::string_view::npos) throw ExpandError("unterminated single quote", start);
  std::string text(source_.substr(pos_, close - pos_));
  pos_ = close + 1;
  return raw_.keep_quotes ? "'" + text + "'" : text;
}

std::string Parser::double_quoted() {
  const std::size_t start = pos_++;
  std::string text = raw_.keep_quotes ? "\"" : "";
  while (!at_end()) {
    const char c = source_[pos_];
    if (c == '"') {
      ++pos_;
      if (raw_.keep_quotes) text += '"';
      return text;
    }
    if (c == '$') {
      text += dollar();
    } else if (c == escape_) {
      escape_in_double_quotes(text);
    } else {
      text += source_[pos_++];
    }
  }
  throw ExpandError("unterminated double quote", start);
}

// Inside double quotes the escape character only escapes '"', '$' and itself; before
// anything else it is an ordinary character ("a\tb" stays a\tb).
void Parser::escape_in_double_quotes(std::string& text) {
  ++pos_;
  if (at_end()) return;  // the missing closing quote is reported by the caller
  const char next = source_[pos_];
  const bool escapes = next == '"' || next == '$' || next == escape_;
  // BuildKit writes a kept escape twice when it escapes nothing; once is what was there.
  if (raw_.keep_escapes || !escapes) text += escape_;
  if (escapes) text += source_[pos_++];
}

// pos_ is at '$'. Returns the value to insert; a '$' that starts nothing is literal.
std::string Parser::dollar() {
  const std::size_t start = pos_++;
  if (consume_if('{')) return braced(start);
  const Parameter param = parameter();
  if (param.name.empty()) return "$";
  return value_of(param).value_or("");
}

// Reads a name ($PWD), a positional parameter (all digits: $1, $001) or a one-character
// special parameter ($@).
Parameter Parser::parameter() {
  if (at_end()) return {};
  const std::size_t start = pos_;
  if (is_ascii_digit(source_[pos_])) {
    while (!at_end() && is_ascii_digit(source_[pos_]))
      ++pos_;
    return {std::string(source_.substr(start, pos_ - start)), false};
  }
  if (is_special_parameter(source_[pos_])) return {std::string(1, source_[pos_++]), false};
  while (!at_end()) {
    const std::size_t length = sequence_length(source_, pos_);
    if (!is_name_char(decode(source_, pos_, length))) break;
    pos_ += length;
  }
  return {std::string(source_.substr(start, pos_ - start)), true};
}

std::optional<std::string> Parser::value_of(const Parameter& param) {
  if (!param.is_variable) return std::nullopt;
  if (used_ != nullptr) used_->insert(param.name);
  return lookup_ ? lookup_(param.name) : std::nullopt;
}

// pos_ is just past "${", which starts at `start`.
std::string Parser::braced(std::size_t start) {
  if (at_end()) throw missing_brace(start);
  // A parameter is required: "${}", "${:-x}" and "${{x}" are errors, "${.}" below.
  const char first = source_[pos_];
  if (first == '{' || first == '}' || first == ':') throw bad_substitution(start);
  const Parameter param = parameter();
  if (param.name.empty()) throw bad_substitution(start);
  if (at_end()) throw missing_brace(start);
  const char op = source_[pos_++];
  switch (op) {
    case '}':
      return value_of(param).value_or("");
    case ':':
      return after_colon(param, start);
    case '-':
    case '+':
    case '?':
      return conditional(param, op, false, start);
    case '#':
    case '%':
      return trim(param, op, start);
    case '/':
      return replace(param, start);
    default:  // also ${X=w}: a Dockerfile cannot assign
      throw bad_substitution(start);
  }
}

// ${X:-w}, ${X:+w} and ${X:?w}; bash's ${X:=w} and substrings ${X:1:2} are not supported.
std::string Parser::after_colon(const Parameter& param, std::size_t start) {
  if (at_end()) throw missing_brace(start);
  const char op = source_[pos_];
  if (op != '-' && op != '+' && op != '?') throw bad_substitution(start);
  ++pos_;
  return conditional(param, op, true, start);
}

std::string Parser::conditional(const Parameter& param, char op, bool empty_is_unset,
                                std::size_t start) {
  // The word is read and expanded whichever way the test goes, as BuildKit does; so an
  // error in it counts, and the variables it names are reported as used.
  const std::string word = nested_word(start);
  const std::optional<std::string> value = value_of(param);
  const bool missing = !value || (empty_is_unset && value->empty());
  switch (op) {
    case '-':
      return missing ? word : *value;
    case '+':
      return missing ? std::string() : word;
    default:  // '?'
      if (missing) {
        throw ExpandError(param.name + ": " + (word.empty() ? "parameter not set or null" : word),
                          start);
      }
      return *value;
  }
}

// ${V#p} ${V##p} ${V%p} ${V%%p}. The doubled operator is recognised in the source, so
// "${V#'#'x}" removes the literal prefix "#x", as in bash.
std::string Parser::trim(const Parameter& param, char op, std::size_t start) {
  const bool longest = consume_if(op);
  const std::optional<std::string> pattern = nested_pattern('}');
  if (!pattern) throw missing_brace(start);
  const std::string value = value_of(param).value_or("");
  const Glob glob(*pattern);
  return op == '#' ? remove_prefix(value, glob, longest) : remove_suffix(value, glob, longest);
}

// ${V/p/r} and ${V//p/r}. As in BuildKit the second '/' is required and the pattern runs
// to it, '}' included. The replacement keeps its escape characters, as BuildKit does
// (bash would remove them): docker turns "${F//\//\/}" into "\/tmp\/f".
std::string Parser::replace(const Parameter& param, std::size_t start) {
  const bool all = consume_if('/');
  const std::optional<std::string> pattern = nested_pattern('/');
  if (!pattern) throw ExpandError("missing '/' in ${...}", start);
  const ExpandOptions saved = raw_;
  raw_.keep_escapes = true;
  const std::string replacement = nested_word(start);
  raw_ = saved;
  const std::optional<std::string> value = value_of(param);
  if (!value) return {};  // unlike an empty value, which "${EMPTY/*/x}" replaces
  return replace_matches(*value, Glob(*pattern), replacement, all);
}

// Reads the word after an operator, up to and including the closing '}'.
std::string Parser::nested_word(std::size_t start) {
  TextSink out;
  if (!parse_until('}', out)) throw missing_brace(start);
  return out.take();
}

// Reads a pattern up to `stop` as glob syntax; nullopt if the input ends first.
std::optional<std::string> Parser::nested_pattern(char stop) {
  // Quotes and escapes of a pattern are syntax, never output. No need to restore raw_ on
  // an exception: it ends the whole expansion.
  const ExpandOptions saved = raw_;
  raw_ = {};
  PatternSink out;
  const bool found = parse_until(stop, out);
  raw_ = saved;
  if (!found) return std::nullopt;
  return out.take();
}

ExpandError Parser::missing_brace(std::size_t start) const {
  return ExpandError("missing '}' in ${...}", start);
}

// Quotes the whole ${...} in the message, as bash does, so that the user sees which one.
ExpandError Parser::bad_substitution(std::size_t start) const {
  std::size_t depth = 0;
  std::size_t end = source_.size();
  for (std::size_t i = start; i < source_.size(); ++i) {
    if (source_.substr(i, 2) == "${") {
      ++depth;
      ++i;
    } else if (source_[i] == '}' && --depth == 0) {
      end = i + 1;
      break;
    }
  }
  return ExpandError("bad substitution: " + std::string(source_.substr(start, end - start)), start);
}

}  // namespace

std::string Expander::word(std::string_view text, const VarLookup& lookup,
                           std::set<std::string>* used) const {
  TextSink out;
  Parser(text, escape_, options_, lookup, used).parse(out);
  return out.take();
}

std::vector<std::string> Expander::words(std::string_view text, const VarLookup& lookup,
                                         std::set<std::string>* used) const {
  WordsSink out;
  Parser(text, escape_, options_, lookup, used).parse(out);
  return out.take();
}

VarLookup lookup_in(const std::vector<std::pair<std::string, std::string>>& vars) {
  auto table = std::make_shared<std::map<std::string, std::string, std::less<>>>();
  for (const auto& [name, value] : vars)
    (*table)[name] = value;
  return [table](std::string_view name) -> std::optional<std::string> {
    const auto found = table->find(name);
    if (found == table->end()) return std::nullopt;
    return found->second;
  };
}

}  // namespace cairn::frontend
