#include "progress.hpp"

#include <fmt/format.h>

namespace cairn::build {
namespace {

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

}  // namespace

void Progress::step_started(const std::string& label, const std::string& text) {
  current_ = fmt::format("[{}] {}", label, text);
  started_ = std::chrono::steady_clock::now();
  if (quiet()) return;
  if (mode_ == ProgressMode::tty) {
    fmt::print(out_, "\033[1m{}\033[0m", current_);
    line_open_ = true;
  } else {
    fmt::print(out_, "{}\n", current_);
  }
  std::fflush(out_);
}

void Progress::step_cached() {
  if (quiet()) return;
  if (mode_ == ProgressMode::tty)
    fmt::print(out_, "\r\033[K{} \033[36mCACHED\033[0m\n", current_);
  else
    fmt::print(out_, "  CACHED\n");
  line_open_ = false;
  std::fflush(out_);
}

void Progress::step_output_follows() {
  if (quiet() || !line_open_) return;
  fmt::print(out_, "\n");
  line_open_ = false;
  std::fflush(out_);
}

void Progress::step_done() {
  if (quiet()) return;
  const double took = seconds_since(started_);
  if (mode_ == ProgressMode::tty && line_open_)
    fmt::print(out_, "\r\033[K{} \033[32mdone\033[0m {:.2f}s\n", current_, took);
  else
    fmt::print(out_, "  done {:.2f}s\n", took);
  line_open_ = false;
  std::fflush(out_);
}

void Progress::note(const std::string& text) {
  if (quiet()) return;
  step_output_follows();
  fmt::print(out_, "{}\n", text);
  std::fflush(out_);
}

void Progress::finished(const std::string& image_id, const std::vector<std::string>& tags,
                        std::size_t steps, std::size_t cached) {
  if (quiet()) return;
  fmt::print(out_, "built {} in {:.2f}s ({} steps, {} cached)\n", image_id.substr(0, 19),
             seconds_since(build_started_), steps, cached);
  for (const std::string& tag : tags) fmt::print(out_, "tagged {}\n", tag);
  std::fflush(out_);
}

}  // namespace cairn::build
