// BuildKit's per-instruction argument rules. Each rule reproduces what the reference
// parser produces, since `cairn parse` must print BuildKit's dump byte for byte.
#include "node_builder.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <optional>

#include "text.hpp"

namespace cairn::frontend {
namespace {

using text::is_blank;
using text::space_length;

struct ArgSplit {
  std::vector<std::string> args;
  bool json = false;
};

// A JSON array of strings, or nullopt when the text is not a JSON array at all (the caller
// falls back to the instruction's plain form). A valid array holding a non-string is an
// error, as in BuildKit.
std::optional<std::vector<std::string>> parse_json_array(std::string_view rest, std::size_t at) {
  rest.remove_prefix(text::leading_space(rest));
  if (rest.empty() || rest.front() != '[') return std::nullopt;
  auto value = nlohmann::json::parse(rest.begin(), rest.end(), nullptr, false);
  if (value.is_discarded() || !value.is_array()) return std::nullopt;
  std::vector<std::string> out;
  for (const auto& element : value) {
    if (!element.is_string())
      throw NodeSyntaxError{"JSON arguments must be an array of strings", at};
    out.push_back(element.get<std::string>());
  }
  return out;
}

std::vector<std::string> split_on_blanks(std::string_view rest) {
  std::vector<std::string> out;
  if (rest.empty()) return out;
  std::size_t start = 0;
  for (std::size_t i = 0; i <= rest.size(); ++i) {
    if (i == rest.size() || is_blank(rest[i])) {
      out.emplace_back(rest.substr(start, i - start));
      while (i < rest.size() && is_blank(rest[i])) ++i;
      start = i;
      if (i == rest.size()) break;
    }
  }
  return out;
}

ArgSplit maybe_json(std::string_view rest, std::size_t at) {
  if (rest.empty()) return {};
  if (auto array = parse_json_array(rest, at)) return {std::move(*array), true};
  return {{std::string(rest)}, false};
}

ArgSplit maybe_json_to_list(std::string_view rest, std::size_t at) {
  if (auto array = parse_json_array(rest, at)) return {std::move(*array), true};
  return {split_on_blanks(rest), false};
}

ArgSplit single_string(std::string_view rest) {
  if (rest.empty()) return {};
  return {{std::string(rest)}, false};
}

// ENV and LABEL: "KEY value" (legacy) or "K=V K2=V2"; rendered as key, value, separator.
ArgSplit name_values(std::string_view rest, std::string_view keyword, char escape,
                     std::size_t at) {
  auto words = split_words_keep_quotes(rest, escape);
  if (words.empty()) return {};
  ArgSplit out;
  if (words[0].find('=') == std::string::npos) {
    std::size_t i = 0;
    while (i < rest.size() && !is_blank(rest[i])) ++i;
    std::size_t value = i;
    while (value < rest.size() && is_blank(rest[value])) ++value;
    if (i == rest.size())
      throw NodeSyntaxError{std::string(keyword) + " must have two arguments", at};
    out.args = {std::string(rest.substr(0, i)), std::string(rest.substr(value)), ""};
    return out;
  }
  for (const auto& word : words) {
    auto eq = word.find('=');
    if (eq == std::string::npos)
      throw NodeSyntaxError{"Syntax error - can't find = in \"" + word +
                                "\". Must be of the form: name=value",
                            at + rest.find(word)};
    out.args.push_back(word.substr(0, eq));
    out.args.push_back(word.substr(eq + 1));
    out.args.push_back("=");
  }
  return out;
}

ArgSplit healthcheck(std::string_view rest, std::size_t at) {
  std::size_t sep = 0;
  while (sep < rest.size() && space_length(rest, sep) == 0) ++sep;
  if (sep == 0) return {};
  std::size_t next = sep + text::leading_space(rest.substr(sep));
  ArgSplit command = maybe_json(rest.substr(next), at + next);
  command.args.insert(command.args.begin(), std::string(rest.substr(0, sep)));
  return command;
}

// Splits "KEYWORD rest" at the first run of blanks; flags come off the front of rest.
struct CommandSplit {
  std::string keyword;
  std::vector<std::string> flags;
  std::vector<std::size_t> flag_offsets;
  std::size_t args_begin = 0;
  std::size_t args_end = 0;
};

// BuildKit's extractBuilderFlags: leading words that start with "--" are flags; quotes
// in them are removed and a backslash escapes the next character. "--" ends the flags.
std::size_t extract_flags(std::string_view line, std::size_t pos, CommandSplit& out) {
  enum { kSpaces, kWord, kQuote } phase = kSpaces;
  std::string word;
  std::size_t word_start = pos;
  char quote = 0;
  bool blank_ok = false;
  auto finish_word = [&] {
    if (blank_ok || !word.empty()) {
      out.flags.push_back(word);
      out.flag_offsets.push_back(word_start);
    }
    word.clear();
    blank_ok = false;
  };
  for (; pos <= line.size(); ++pos) {
    const bool at_end = pos == line.size();
    const char ch = at_end ? '\0' : line[pos];
    if (phase == kSpaces) {
      if (at_end) return pos;
      if (space_length(line, pos) != 0) continue;
      if (ch != '-' || pos + 1 == line.size() || line[pos + 1] != '-') return pos;
      phase = kWord;
      word_start = pos;
    }
    if (at_end) {
      if (word != "--") finish_word();
      return pos;
    }
    if (phase == kWord) {
      if (space_length(line, pos) != 0) {
        if (word == "--") return pos;
        finish_word();
        phase = kSpaces;
        continue;
      }
      if (ch == '\'' || ch == '"') {
        quote = ch;
        blank_ok = true;
        phase = kQuote;
        continue;
      }
      if (ch == '\\') {
        if (pos + 1 == line.size()) continue;
        ++pos;
      }
      word += line[pos];
      continue;
    }
    // kQuote
    if (ch == quote) {
      phase = kWord;
      continue;
    }
    if (ch == '\\') {
      if (pos + 1 == line.size()) {
        phase = kWord;
        continue;
      }
      ++pos;
    }
    word += line[pos];
  }
  return line.size();
}

CommandSplit split_command(std::string_view line) {
  CommandSplit out;
  std::size_t begin = text::leading_space(line);
  std::size_t end = line.size() - text::trailing_space(line);
  std::size_t keyword_end = begin;
  while (keyword_end < end && !is_blank(line[keyword_end])) ++keyword_end;
  out.keyword = std::string(line.substr(begin, keyword_end - begin));
  std::size_t rest = keyword_end;
  while (rest < end && is_blank(line[rest])) ++rest;
  if (rest < end) rest = extract_flags(line.substr(0, end), rest, out);
  // BuildKit trims the remaining argument text.
  std::string_view remaining = line.substr(std::min(rest, end), end - std::min(rest, end));
  out.args_begin = std::min(rest, end) + text::leading_space(remaining);
  out.args_end = end;
  if (out.args_end < out.args_begin) out.args_end = out.args_begin;
  return out;
}

ArgSplit split_arguments(Node& node, std::string_view rest, std::size_t at, char escape) {
  const std::string& k = node.keyword;
  if (k == "from" || k == "expose") return {split_on_blanks(rest), false};
  if (k == "add" || k == "copy" || k == "volume") return maybe_json_to_list(rest, at);
  if (k == "run" || k == "cmd" || k == "entrypoint" || k == "shell") return maybe_json(rest, at);
  if (k == "healthcheck") return healthcheck(rest, at);
  if (k == "env" || k == "label") return name_values(rest, k == "env" ? "ENV" : "LABEL", escape, at);
  if (k == "arg") return {split_words_keep_quotes(rest, escape), false};
  if (k == "maintainer" || k == "user" || k == "workdir" || k == "stopsignal")
    return single_string(rest);
  // Unknown instructions keep their keyword and one empty argument, as BuildKit's
  // parseIgnore does; the instruction layer reports them with a position.
  return {{""}, false};
}

// Nested ONBUILD text starts at `base` in the outer text; its segments shift with it.
std::vector<TextSegment> shifted_segments(const std::vector<TextSegment>& outer,
                                          std::size_t base) {
  std::vector<TextSegment> out;
  for (std::size_t i = 0; i < outer.size(); ++i) {
    const std::size_t next = i + 1 < outer.size() ? outer[i + 1].offset : SIZE_MAX;
    if (next <= base) continue;
    TextSegment s = outer[i];
    if (s.offset < base) {
      s.column += static_cast<int>(base - s.offset);
      s.offset = 0;
    } else {
      s.offset -= base;
    }
    out.push_back(s);
  }
  return out;
}

}  // namespace

std::vector<std::string> split_words_keep_quotes(std::string_view rest, char escape) {
  enum { kSpaces, kWord, kQuote } phase = kSpaces;
  std::vector<std::string> words;
  std::string word;
  char quote = 0;
  bool blank_ok = false;
  for (std::size_t pos = 0; pos <= rest.size();) {
    const bool at_end = pos == rest.size();
    const std::size_t space = at_end ? 0 : space_length(rest, pos);
    if (phase == kSpaces) {
      if (at_end) break;
      if (space != 0) {
        pos += space;
        continue;
      }
      phase = kWord;
    }
    if (at_end) {
      if (blank_ok || !word.empty()) words.push_back(word);
      break;
    }
    const char ch = rest[pos];
    if (phase == kWord) {
      if (space != 0) {
        if (blank_ok || !word.empty()) words.push_back(word);
        word.clear();
        blank_ok = false;
        phase = kSpaces;
        pos += space;
        continue;
      }
      if (ch == '\'' || ch == '"') {
        quote = ch;
        blank_ok = true;
        phase = kQuote;
      }
      if (ch == escape) {
        if (pos + 1 == rest.size()) {
          ++pos;
          continue;  // an escape at the very end is dropped
        }
        word += ch;  // unquoted: keep the escape and the character it escapes
        ++pos;
      }
      word += rest[pos];
      ++pos;
      continue;
    }
    // kQuote: the escape is literal inside single quotes.
    if (ch == quote) phase = kWord;
    if (ch == escape && quote != '\'') {
      if (pos + 1 == rest.size()) {
        phase = kWord;
        ++pos;
        continue;
      }
      word += ch;
      ++pos;
    }
    word += rest[pos];
    ++pos;
  }
  return words;
}

Node build_node(std::string line, char escape) {
  CommandSplit split = split_command(line);
  if (!is_known_keyword(split.keyword))
    throw NodeSyntaxError{unknown_instruction_message(split.keyword),
                          text::leading_space(line)};
  Node node;
  node.original_keyword = split.keyword;
  node.keyword = text::lower(split.keyword);
  node.flags = std::move(split.flags);
  node.flag_offsets = std::move(split.flag_offsets);
  node.args_offset = split.args_begin;
  const std::string_view rest =
      std::string_view(line).substr(split.args_begin, split.args_end - split.args_begin);
  if (node.keyword == "onbuild") {
    if (!rest.empty()) {
      Node inner;
      try {
        inner = build_node(std::string(rest), escape);
      } catch (NodeSyntaxError& e) {
        e.offset += split.args_begin;
        throw;
      }
      node.nested = std::make_unique<Node>(std::move(inner));
    }
  } else {
    ArgSplit args = split_arguments(node, rest, split.args_begin, escape);
    node.args = std::move(args.args);
    node.json = args.json;
  }
  node.text = std::move(line);
  return node;
}

void attach_segments(Node& node, std::vector<TextSegment> segments) {
  if (node.nested) attach_segments(*node.nested, shifted_segments(segments, node.args_offset));
  node.segments = std::move(segments);
}

namespace {

// Removes quotes and applies escapes as the shell would, leaving $ alone (BuildKit lexes
// heredoc names with unset variables kept). Returns nullopt for text that is not one word.
std::optional<std::string> unquote_word(std::string_view raw) {
  std::string out;
  char quote = 0;
  for (std::size_t i = 0; i < raw.size(); ++i) {
    const char c = raw[i];
    if (quote == '\'') {
      if (c == '\'') quote = 0; else out += c;
    } else if (quote == '"') {
      if (c == '"') {
        quote = 0;
      } else if (c == '\\' && i + 1 < raw.size() &&
                 (raw[i + 1] == '"' || raw[i + 1] == '\\' || raw[i + 1] == '$')) {
        out += raw[++i];
      } else {
        out += c;
      }
    } else if (c == '\'' || c == '"') {
      quote = c;
    } else if (c == '\\') {
      if (i + 1 < raw.size()) out += raw[++i];
    } else if (space_length(raw, i) != 0) {
      return std::nullopt;
    } else {
      out += c;
    }
  }
  if (quote != 0) return std::nullopt;
  return out;
}

std::size_t count_quotes(std::string_view s) {
  std::size_t n = 0;
  for (char c : s) n += (c == '\'' || c == '"');
  return n;
}

// "[n]<<[-]NAME" as one raw word; nullopt for any other word.
std::optional<Heredoc> heredoc_from_word(const std::string& word) {
  std::size_t i = 0;
  while (i < word.size() && word[i] >= '0' && word[i] <= '9') ++i;
  if (word.compare(i, 2, "<<") != 0) return std::nullopt;
  Heredoc doc;
  if (i > 0) doc.fd = std::stoi(word.substr(0, std::min<std::size_t>(i, 9)));
  i += 2;
  if (i < word.size() && word[i] == '-') {
    doc.chomp = true;
    ++i;
  }
  std::string_view rest = std::string_view(word).substr(i);
  if (rest.empty() || rest.find('<') != std::string_view::npos) return std::nullopt;
  auto name = unquote_word(rest);
  if (!name || name->empty()) return std::nullopt;
  // A quoted delimiter (any part of it) means the body is taken literally.
  doc.expand = count_quotes(*name) == count_quotes(rest);
  doc.name = std::move(*name);
  return doc;
}

}  // namespace

std::vector<Heredoc> heredoc_openers(std::string_view line) {
  std::vector<Heredoc> docs;
  for (const auto& word : split_words_keep_quotes(line, '\\'))
    if (auto doc = heredoc_from_word(word)) docs.push_back(std::move(*doc));
  return docs;
}

namespace {

constexpr std::string_view kKeywords[] = {
    "add",         "arg",   "cmd",        "copy",    "entrypoint", "env",
    "expose",      "from",  "healthcheck", "label",  "maintainer", "onbuild",
    "run",         "shell", "stopsignal", "user",    "volume",     "workdir"};

std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      std::size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] != b[j - 1])});
      diagonal = above;
    }
  }
  return row[b.size()];
}

}  // namespace

bool is_known_keyword(std::string_view keyword) {
  const std::string lowered = text::lower(keyword);
  for (auto k : kKeywords)
    if (k == lowered) return true;
  return false;
}

std::string unknown_instruction_message(std::string_view keyword) {
  std::string message = "unknown instruction: " + std::string(keyword);
  const std::string lowered = text::lower(keyword);
  std::string_view best;
  std::size_t best_distance = 3;  // suggest only near misses
  for (auto k : kKeywords) {
    const std::size_t d = edit_distance(lowered, k);
    if (d < best_distance) {
      best_distance = d;
      best = k;
    }
  }
  if (!best.empty()) {
    std::string suggestion(best);
    for (char& c : suggestion) c = static_cast<char>(c - 'a' + 'A');
    message += " (did you mean " + suggestion + "?)";
  }
  return message;
}

bool can_contain_heredoc(const Node& node) {
  const Node* target = node.keyword == "onbuild" && node.nested ? node.nested.get() : &node;
  const auto& k = target->keyword;
  return (k == "run" || k == "copy" || k == "add") && !target->json;
}

}  // namespace cairn::frontend
