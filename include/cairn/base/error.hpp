// cairn's error type: what failed, on which path, with which errno, and the chain of
// context it gathered on the way up ("RUN step 4/9: mount overlay at /x: Permission denied").
#pragma once

#include <exception>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace cairn {

class Error : public std::exception {
 public:
  explicit Error(std::string message);
  // An operation on a path that failed with an errno: "open /etc/x: Permission denied".
  Error(std::string operation, std::string path, int errno_value);

  // Adds an outer layer of context; the outermost is printed first.
  Error& context(std::string what);
  // A suggestion for the user, printed after an em dash.
  Error& hint(std::string text);

  int errno_value() const { return errno_; }
  const std::string& path() const { return path_; }
  const std::string& message() const { return message_; }
  const std::string& hint_text() const { return hint_; }
  const char* what() const noexcept override;

 private:
  void render();

  std::string message_;
  std::string path_;
  std::string hint_;
  std::vector<std::string> context_;  // innermost first
  int errno_ = 0;
  std::string what_;
};

// Throws Error(operation, path, errno_value).
[[noreturn]] void throw_errno(std::string_view operation, std::string_view path,
                              int errno_value);

// Runs `body`; an Error escaping it gains `what` as context. For control-plane code that
// wants to say which step it was in without a try/catch at every call.
template <typename Body>
decltype(auto) with_context(std::string_view what, Body&& body) {
  try {
    return std::forward<Body>(body)();
  } catch (Error& e) {
    e.context(std::string(what));
    throw;
  }
}

}  // namespace cairn
