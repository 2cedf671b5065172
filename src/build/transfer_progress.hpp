// What pull and push show (private to src/build): one line per blob with its state; on a
// terminal the lines are redrawn in place with a bar and the bytes moved, elsewhere a line
// is appended only when a blob's state changes. Thread-safe (blobs move in parallel).
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <mutex>
#include <string>
#include <vector>

#include "cairn/build/build.hpp"

namespace cairn::build {

class TransferProgress {
 public:
  explicit TransferProgress(ProgressMode mode);
  ~TransferProgress();
  TransferProgress(const TransferProgress&) = delete;
  TransferProgress& operator=(const TransferProgress&) = delete;

  // A line of its own, above the blob lines ("latest: Pulling from library/busybox").
  void message(const std::string& text);
  // Adds a blob line ("3f4d90098f5b: Waiting"); returns its index.
  std::size_t add(const std::string& digest, std::uint64_t size, const std::string& state);
  void state(std::size_t blob, const std::string& state);
  void bytes(std::size_t blob, std::uint64_t done);

 private:
  struct Blob {
    std::string id;
    std::uint64_t size = 0;
    std::uint64_t done = 0;
    std::string state;
  };
  std::string render(const Blob& blob) const;
  void redraw();

  std::mutex mutex_;
  ProgressMode mode_;
  std::FILE* out_ = stderr;
  std::vector<Blob> blobs_;
  std::size_t drawn_ = 0;  // blob lines on the terminal below the messages
  std::chrono::steady_clock::time_point last_draw_{};
};

}  // namespace cairn::build
