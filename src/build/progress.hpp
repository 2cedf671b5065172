// What a build shows while it runs (private to src/build): one line per step with its
// state and duration, CACHED for cache hits. On a terminal a finished step's line is
// rewritten in place with its time; elsewhere (logs, CI) lines are only appended.
#pragma once

#include <chrono>
#include <cstdio>
#include <string>

#include "cairn/build/build.hpp"

namespace cairn::build {

class Progress {
 public:
  explicit Progress(ProgressMode mode, std::FILE* out = stderr) : mode_(mode), out_(out) {}

  // "[build 2/5] RUN make": `label` is "2/5" or "build 2/5".
  void step_started(const std::string& label, const std::string& text);
  void step_cached();
  void step_done();
  // A step that runs a command: its output follows on the same stream.
  void step_output_follows();
  void note(const std::string& text);
  void finished(const std::string& image_id, const std::vector<std::string>& tags,
                std::size_t steps, std::size_t cached);
  bool quiet() const { return mode_ == ProgressMode::quiet; }

 private:
  std::string current_;
  std::chrono::steady_clock::time_point started_;
  std::chrono::steady_clock::time_point build_started_ = std::chrono::steady_clock::now();
  ProgressMode mode_;
  std::FILE* out_;
  bool line_open_ = false;  // tty: the step's line has no newline yet
};

}  // namespace cairn::build
