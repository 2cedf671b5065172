#include "transfer_progress.hpp"

#include <fmt/format.h>

namespace cairn::build {

namespace {

std::string size_text(std::uint64_t bytes) {
  if (bytes < 1000) return fmt::format("{}B", bytes);
  if (bytes < 1000 * 1000) return fmt::format("{:.1f}kB", bytes / 1e3);
  if (bytes < 1000ull * 1000 * 1000) return fmt::format("{:.1f}MB", bytes / 1e6);
  return fmt::format("{:.2f}GB", bytes / 1e9);
}

}  // namespace

TransferProgress::TransferProgress(ProgressMode mode) : mode_(mode) {}

TransferProgress::~TransferProgress() {
  std::lock_guard lock(mutex_);
  if (mode_ == ProgressMode::tty) {
    last_draw_ = {};
    redraw();
  }
}

void TransferProgress::message(const std::string& text) {
  std::lock_guard lock(mutex_);
  if (mode_ == ProgressMode::quiet) return;
  if (mode_ == ProgressMode::tty && drawn_ > 0) {
    // Messages go above the blob lines: clear those, print, draw them again.
    fmt::print(out_, "\033[{}A\033[J", drawn_);
    drawn_ = 0;
    fmt::print(out_, "{}\n", text);
    last_draw_ = {};
    redraw();
    return;
  }
  fmt::print(out_, "{}\n", text);
  std::fflush(out_);
}

std::size_t TransferProgress::add(const std::string& digest, std::uint64_t size, const std::string& state) {
  std::lock_guard lock(mutex_);
  const std::string hex = digest.substr(digest.find(':') + 1);
  blobs_.push_back({hex.substr(0, 12), size, 0, state});
  if (mode_ == ProgressMode::plain) fmt::print(out_, "{}\n", render(blobs_.back()));
  if (mode_ == ProgressMode::tty) {
    last_draw_ = {};
    redraw();
  }
  return blobs_.size() - 1;
}

void TransferProgress::state(std::size_t blob, const std::string& state) {
  std::lock_guard lock(mutex_);
  if (blobs_[blob].state == state) return;
  blobs_[blob].state = state;
  if (mode_ == ProgressMode::plain) {
    fmt::print(out_, "{}\n", render(blobs_[blob]));
    std::fflush(out_);
  }
  if (mode_ == ProgressMode::tty) {
    last_draw_ = {};
    redraw();
  }
}

void TransferProgress::bytes(std::size_t blob, std::uint64_t done) {
  std::lock_guard lock(mutex_);
  blobs_[blob].done = done;
  if (mode_ == ProgressMode::tty) redraw();
}

std::string TransferProgress::render(const Blob& b) const {
  std::string line = b.id + ": " + b.state;
  if (mode_ == ProgressMode::tty && b.size > 0 && b.done > 0 && b.done < b.size) {
    constexpr int width = 40;
    const int filled = static_cast<int>(width * b.done / b.size);
    line += fmt::format(" [{}>{}] {}/{}", std::string(static_cast<std::size_t>(filled), '='),
                        std::string(static_cast<std::size_t>(width - filled), ' '), size_text(b.done),
                        size_text(b.size));
  }
  return line;
}

// At most ten redraws a second: progress callbacks come per received chunk.
void TransferProgress::redraw() {
  const auto now = std::chrono::steady_clock::now();
  if (now - last_draw_ < std::chrono::milliseconds(100)) return;
  last_draw_ = now;
  std::string text = drawn_ > 0 ? fmt::format("\033[{}A", drawn_) : "";
  for (const auto& b : blobs_) text += "\033[2K" + render(b) + "\n";
  drawn_ = blobs_.size();
  std::fputs(text.c_str(), out_);
  std::fflush(out_);
}

}  // namespace cairn::build
