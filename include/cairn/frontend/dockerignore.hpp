// .dockerignore matching, as docker's build-context loader applies it.
#pragma once

#include <filesystem>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace cairn::frontend {

// One cleaned .dockerignore line.
struct IgnorePattern {
  std::string text;        // cleaned pattern, without '!' and without leading '/'
  bool exclusion = false;  // line started with '!': re-includes what earlier lines excluded
  int line = 0;            // 1-based line in the source file (0 when built from a list)
};

// Thrown for a pattern that cannot be compiled (e.g. an unterminated '[' class).
class IgnorePatternError : public std::runtime_error {
 public:
  IgnorePatternError(const std::string& message, int line)
      : std::runtime_error(message), line_(line) {}
  int line() const { return line_; }

 private:
  int line_;
};

class IgnoreMatcher {
 public:
  IgnoreMatcher() = default;
  explicit IgnoreMatcher(std::vector<IgnorePattern> patterns);

  // Parses .dockerignore text: one pattern a line; '#' lines are comments; blank lines are
  // skipped; surrounding whitespace is trimmed; each pattern is path-cleaned and loses a
  // leading '/'. Throws IgnorePatternError for a malformed pattern.
  static IgnoreMatcher parse(std::string_view text);

  // True when `path` (relative to the context root, '/'-separated, may start with "./")
  // is excluded from the context: the last pattern that matches the path or one of its
  // parent directories decides; '!' patterns re-include.
  bool excluded(std::string_view path) const;

  // For the context walker: true when a directory that is itself excluded must still be
  // entered because an exception pattern could re-include something below it (and true for
  // a directory that is not excluded at all).
  bool must_descend(std::string_view dir) const;

  const std::vector<IgnorePattern>& patterns() const { return patterns_; }
  bool empty() const { return patterns_.empty(); }

 private:
  struct Compiled;  // one pattern's matcher, defined in dockerignore.cpp

  std::vector<IgnorePattern> patterns_;
  std::vector<std::shared_ptr<const Compiled>> compiled_;  // parallel to patterns_
  // Exception patterns without a trailing "/**" or "/*", each followed by '/'.
  std::vector<std::string> exception_stems_;
  bool exception_has_glob_ = false;  // an exception stem has a glob or escape character
};

// The ignore file docker would use: "<dockerfile>.dockerignore" beside a Dockerfile given
// with -f (when it exists), else "<context>/.dockerignore"; nullopt when neither exists.
std::optional<std::filesystem::path> find_ignore_file(
    const std::filesystem::path& context, const std::optional<std::filesystem::path>& dockerfile);

}  // namespace cairn::frontend
