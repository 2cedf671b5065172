// What a build shows while it runs (private to src/build): one line per step with its
// state and duration, CACHED for cache hits, and the output of RUN commands. On a terminal
// the running step's line stays at the bottom with the last lines of its command's output
// under it, and a finished step collapses to one line with its time; elsewhere (logs, CI)
// lines are only appended and the output passes through. Quiet mode keeps a RUN's output
// and shows it only when the step fails.
#pragma once

#include <chrono>
#include <cstdio>
#include <deque>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "cairn/base/fd.hpp"
#include "cairn/build/build.hpp"

namespace cairn::build {

class Progress {
 public:
  // Writes to a descriptor of its own (a copy of standard error): RUN steps point the
  // process's descriptors 1 and 2 at the output pipe while they run.
  explicit Progress(ProgressMode mode);
  ~Progress();
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  // "[build 2/5] RUN make": `label` is "2/5" or "build 2/5".
  void step_started(const std::string& label, const std::string& text);
  void step_cached();
  void step_done();
  // The running step failed: quiet mode shows the output it kept.
  void step_failed();
  // Output of the running step's command (any thread).
  void output(std::string_view bytes);
  // Lines only, no redrawing (several stage builders share the terminal): a terminal gets
  // the plain display.
  void lines_only();
  // While muted nothing is shown (a stage probed for cache hits).
  void mute(bool muted);
  // Output lines get this prefix ("[build] "), so that concurrent stages stay apart.
  void set_output_prefix(const std::string& stage);
  void finished(const std::string& image_id, const std::vector<std::string>& tags,
                std::size_t steps, std::size_t cached);

 private:
  void write(std::string_view text);
  void redraw_tail();
  void clear_tail();

  std::mutex mutex_;
  ProgressMode mode_;
  std::FILE* out_ = nullptr;
  std::string current_;
  std::chrono::steady_clock::time_point started_;
  std::chrono::steady_clock::time_point build_started_ = std::chrono::steady_clock::now();
  bool line_open_ = false;        // tty: the step's line is drawn, tail under it
  std::deque<std::string> tail_;  // tty: the last lines of output
  std::string partial_;           // tty: output after the last newline
  std::size_t drawn_tail_ = 0;    // tty: tail lines on the screen now
  std::string kept_;              // quiet: the running step's output
  std::string prefix_;            // plain: put before each output line
  ProgressMode unmuted_ = ProgressMode::quiet;
  bool muted_ = false;
};

// A pipe whose read end a thread of its own drains into Progress::output while a RUN step
// runs: the command writes to write_fd().
class OutputPump {
 public:
  explicit OutputPump(Progress& progress);
  ~OutputPump();  // closes the write end and waits for the thread to drain the pipe
  OutputPump(const OutputPump&) = delete;
  OutputPump& operator=(const OutputPump&) = delete;
  int write_fd() const { return write_.get(); }
  // Closes the write end (the command's copies are gone when the sandbox ended) and waits.
  void finish();

 private:
  UniqueFd read_, write_;
  std::thread thread_;
};

}  // namespace cairn::build
