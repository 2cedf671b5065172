// Runs jobs 0..count-1 on up to `parallel` threads (private to src/build). After a job
// fails no new job starts; the first failure is rethrown once every thread has ended.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

namespace cairn::build {

template <typename Job>
void run_pool(std::size_t count, std::size_t parallel, Job&& job) {
  std::atomic<std::size_t> next{0};
  std::atomic<bool> failed{false};
  std::exception_ptr first;
  std::mutex mutex;
  auto worker = [&] {
    for (std::size_t i; !failed && (i = next++) < count;) {
      try {
        job(i);
      } catch (...) {
        std::lock_guard lock(mutex);
        if (!first) first = std::current_exception();
        failed = true;
      }
    }
  };
  const std::size_t threads = std::min(count, std::max<std::size_t>(parallel, 1));
  if (threads <= 1) {
    worker();
  } else {
    std::vector<std::thread> pool;
    for (std::size_t t = 0; t < threads; ++t) pool.emplace_back(worker);
    for (auto& t : pool) t.join();
  }
  if (first) std::rethrow_exception(first);
}

}  // namespace cairn::build
