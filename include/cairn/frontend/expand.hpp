// Shell-word expansion with BuildKit's rules (the Dockerfile "environment replacement").
//
// This is what docker applies to the arguments of ADD, COPY, ENV, EXPOSE, FROM, LABEL,
// STOPSIGNAL, USER, VOLUME, WORKDIR, ARG defaults and RUN --mount options: quote removal,
// escapes, $VAR / ${VAR} and the ${VAR<op>word} forms, including the pattern forms
// ${V#p} ${V##p} ${V%p} ${V%%p} ${V/p/r} ${V//p/r}.
#pragma once

#include <cstddef>
#include <functional>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace cairn::frontend {

// Looks a variable up; nullopt means "unset" (which differs from set-but-empty for ${V-w}).
using VarLookup = std::function<std::optional<std::string>(std::string_view name)>;

// Thrown for malformed input (${}, missing '}', unterminated quote, unsupported operator)
// and for ${V:?msg} / ${V?msg} on an unset variable. `offset` is the byte offset in the
// expanded text where the problem was found, so callers can point a caret at it.
class ExpandError : public std::runtime_error {
 public:
  ExpandError(const std::string& message, std::size_t offset)
      : std::runtime_error(message), offset_(offset) {}
  std::size_t offset() const { return offset_; }

 private:
  std::size_t offset_;
};

struct ExpandOptions {
  // Keep quote characters in the result (only expand variables): BuildKit's RawQuotes,
  // used for heredoc bodies of COPY/ADD.
  bool keep_quotes = false;
  // Keep escape characters in the result: BuildKit's RawEscapes, used with keep_quotes.
  bool keep_escapes = false;
};

class Expander {
 public:
  explicit Expander(char escape = '\\', ExpandOptions options = {})
      : escape_(escape), options_(options) {}

  // Expands `text` as one word: no splitting, whitespace kept. Names of variables that
  // the expansion looked up (set or not) are added to `used` when it is given.
  std::string word(std::string_view text, const VarLookup& lookup,
                   std::set<std::string>* used = nullptr) const;

  // Expands and splits into words as the shell would: unquoted whitespace, including
  // whitespace produced by an unquoted expansion, separates words; empty words vanish.
  std::vector<std::string> words(std::string_view text, const VarLookup& lookup,
                                 std::set<std::string>* used = nullptr) const;

  char escape() const { return escape_; }

 private:
  char escape_;
  ExpandOptions options_;
};

// Convenience lookup over "KEY=VALUE" style pairs; later entries win.
VarLookup lookup_in(const std::vector<std::pair<std::string, std::string>>& vars);

}  // namespace cairn::frontend
