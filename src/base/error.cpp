#include "cairn/base/error.hpp"

#include <cstring>

namespace cairn {

Error::Error(std::string message) : message_(std::move(message)) { render(); }

Error::Error(std::string operation, std::string path, int errno_value)
    : message_(std::move(operation)), path_(std::move(path)), errno_(errno_value) {
  render();
}

Error& Error::context(std::string what) {
  context_.push_back(std::move(what));
  render();
  return *this;
}

Error& Error::hint(std::string text) {
  hint_ = std::move(text);
  render();
  return *this;
}

const char* Error::what() const noexcept { return what_.c_str(); }

void Error::render() {
  std::string out;
  for (auto it = context_.rbegin(); it != context_.rend(); ++it) {
    out += *it;
    out += ": ";
  }
  out += message_;
  if (!path_.empty()) {
    out += ' ';
    out += path_;
  }
  if (errno_ != 0) {
    out += ": ";
    out += std::strerror(errno_);
  }
  if (!hint_.empty()) {
    out += " — hint: ";
    out += hint_;
  }
  what_ = std::move(out);
}

void throw_errno(std::string_view operation, std::string_view path, int errno_value) {
  throw Error(std::string(operation), std::string(path), errno_value);
}

}  // namespace cairn
