#include "progress.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <utility>

#include "cairn/base/error.hpp"
#include "cairn/base/sys.hpp"

namespace cairn::build {
namespace {

constexpr std::size_t kTailLines = 6;
constexpr std::size_t kKeptBytes = 1 << 20;  // quiet mode keeps this much of a step's output

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

}  // namespace

Progress::Progress(ProgressMode mode) : mode_(mode) {
  const int fd = ::fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 3);
  out_ = fd >= 0 ? ::fdopen(fd, "w") : nullptr;
  if (!out_) out_ = stderr;
}

Progress::~Progress() {
  if (out_ != stderr) std::fclose(out_);
}

void Progress::write(std::string_view text) {
  std::fwrite(text.data(), 1, text.size(), out_);
  std::fflush(out_);
}

void Progress::step_started(const std::string& label, const std::string& text) {
  std::lock_guard lock(mutex_);
  current_ = fmt::format("[{}] {}", label, text);
  started_ = std::chrono::steady_clock::now();
  tail_.clear();
  partial_.clear();
  kept_.clear();
  drawn_tail_ = 0;
  if (mode_ == ProgressMode::quiet) return;
  if (mode_ == ProgressMode::tty) {
    write(fmt::format("\033[1m{}\033[0m", current_));
    line_open_ = true;
  } else {
    write(current_ + "\n");
  }
}

void Progress::clear_tail() {
  // Up over the tail lines and the step line, clearing everything below.
  if (drawn_tail_ > 0) write(fmt::format("\033[{}A", drawn_tail_));
  write("\r\033[J");
  drawn_tail_ = 0;
}

void Progress::redraw_tail() {
  clear_tail();
  std::string screen = fmt::format("\033[1m{}\033[0m {:.1f}s", current_, seconds_since(started_));
  for (const std::string& line : tail_)
    screen += "\n\033[2m  " + line.substr(0, 200) + "\033[0m";
  write(screen);
  drawn_tail_ = tail_.size();
}

void Progress::output(std::string_view bytes) {
  std::lock_guard lock(mutex_);
  switch (mode_) {
    case ProgressMode::plain:
      if (prefix_.empty()) return write(bytes);
      partial_.append(bytes);
      for (auto nl = partial_.find('\n'); nl != std::string::npos; nl = partial_.find('\n')) {
        write(prefix_ + partial_.substr(0, nl + 1));
        partial_.erase(0, nl + 1);
      }
      return;
    case ProgressMode::quiet:
      kept_.append(bytes);
      if (kept_.size() > kKeptBytes) kept_.erase(0, kept_.size() - kKeptBytes);
      return;
    case ProgressMode::tty:
      partial_.append(bytes);
      for (auto nl = partial_.find('\n'); nl != std::string::npos; nl = partial_.find('\n')) {
        tail_.push_back(partial_.substr(0, nl));
        if (tail_.size() > kTailLines) tail_.pop_front();
        partial_.erase(0, nl + 1);
      }
      redraw_tail();
      return;
  }
}

void Progress::lines_only() {
  std::lock_guard lock(mutex_);
  if (mode_ == ProgressMode::tty) mode_ = ProgressMode::plain;
}

void Progress::mute(bool muted) {
  std::lock_guard lock(mutex_);
  if (muted == muted_) return;
  muted_ = muted;
  if (muted)
    unmuted_ = std::exchange(mode_, ProgressMode::quiet);
  else
    mode_ = unmuted_;
}

void Progress::set_output_prefix(const std::string& stage) {
  std::lock_guard lock(mutex_);
  prefix_ = "[" + stage + "] ";
}

void Progress::step_cached() {
  std::lock_guard lock(mutex_);
  if (mode_ == ProgressMode::quiet) return;
  if (mode_ == ProgressMode::tty)
    write(fmt::format("\r\033[K{} \033[36mCACHED\033[0m\n", current_));
  else
    write(fmt::format("{}  CACHED\n", prefix_.empty() ? "" : current_));
  line_open_ = false;
}

void Progress::step_done() {
  std::lock_guard lock(mutex_);
  if (mode_ == ProgressMode::quiet) return;
  const double took = seconds_since(started_);
  if (mode_ == ProgressMode::tty) {
    clear_tail();
    write(fmt::format("{} \033[32mdone\033[0m {:.2f}s\n", current_, took));
  } else {
    if (!prefix_.empty() && !partial_.empty()) write(prefix_ + partial_ + "\n");
    partial_.clear();
    write(fmt::format("{}  done {:.2f}s\n", prefix_.empty() ? "" : current_, took));
  }
  line_open_ = false;
}

void Progress::step_failed() {
  std::lock_guard lock(mutex_);
  if (mode_ == ProgressMode::quiet) {
    if (!kept_.empty()) write(fmt::format("{}\n{}", current_, kept_));
    return;
  }
  if (mode_ == ProgressMode::tty && line_open_) {
    // The whole tail stays: it says why the step failed.
    clear_tail();
    std::string screen =
        fmt::format("{} \033[31mfailed\033[0m {:.2f}s\n", current_, seconds_since(started_));
    for (const std::string& line : tail_)
      screen += "  " + line + "\n";
    if (!partial_.empty()) screen += "  " + partial_ + "\n";
    write(screen);
  }
  line_open_ = false;
}

void Progress::finished(const std::string& image_id, const std::vector<std::string>& tags,
                        std::size_t steps, std::size_t cached) {
  std::lock_guard lock(mutex_);
  if (mode_ == ProgressMode::quiet) return;
  std::string text =
      fmt::format("built {} in {:.2f}s ({} steps, {} cached)\n", image_id.substr(0, 19),
                  seconds_since(build_started_), steps, cached);
  for (const std::string& tag : tags)
    text += "tagged " + tag + "\n";
  write(text);
}

OutputPump::OutputPump(Progress& progress) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) throw_errno("pipe for RUN output", "", errno);
  read_ = UniqueFd(fds[0]);
  write_ = UniqueFd(fds[1]);
  thread_ = std::thread([this, &progress] {
    char buffer[1 << 14];
    for (;;) {
      const ssize_t n = ::read(read_.get(), buffer, sizeof buffer);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return;
      progress.output(std::string_view(buffer, static_cast<std::size_t>(n)));
    }
  });
}

void OutputPump::finish() {
  write_ = UniqueFd();
  if (thread_.joinable()) thread_.join();
}

OutputPump::~OutputPump() {
  finish();
}

}  // namespace cairn::build
