#include "server_loop.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sched.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <climits>
#include <cstdint>
#include <cstdlib>
#include <thread>
#include <vector>

#include "cairn/base/error.hpp"
#include "cairn/base/fd.hpp"
#include "cairn/base/sys.hpp"

namespace cairn::overlay {
namespace {

long long now_ns() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1'000'000'000LL + ts.tv_nsec;
}

unsigned usable_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (::sched_getaffinity(0, sizeof set, &set) != 0) return 1;
  return static_cast<unsigned>(CPU_COUNT(&set));
}

// Why poll at all: a request is a round trip between the caller and this server, and on a
// virtual machine whose idle CPUs halt, waking a sleeping thread on the other CPU costs tens
// of microseconds each way. Programs that write a file 4 KiB at a time pay one round trip
// per write (the kernel asks for security.capability before every write, to clear it), so
// `apt-get update` took twice as long as on a local disk. While requests come in a burst,
// the first thread keeps polling the device for the next one; an isolated request never
// starts a poll, so an idle or lightly used mount costs no CPU.
//
// The other threads stand by meanwhile: woken for every request only to find it taken
// (or taking it on another CPU) they made the poller slower than one thread alone. They
// serve when the first thread sleeps, or when it has spent over kStandbyNs on one request
// (a large copy-up) while others wait.
class ServerLoop {
 public:
  ServerLoop(fuse_session* session, const ServerLoopOptions& options)
      : session_(session),
        device_(fuse_session_fd(session)),
        threads_(options.threads == 0 ? 1 : options.threads),
        spin_ns_(usable_cpus() > 1 ? static_cast<long long>(options.spin_us) * 1000 : 0) {}

  int run() {
    // Non-blocking reads let a thread tell "nothing yet" from a request. A thread with
    // nothing to do sleeps in its own epoll set with EPOLLEXCLUSIVE: a request wakes one
    // sleeper, as a blocking read would, and the poller may look at the device meanwhile.
    // All sets also watch `ending_`, written once when a thread stops serving (unmount, a
    // signal that exited the session, a read error), so no other thread sleeps on.
    std::vector<UniqueFd> sleep_sets;
    try {
      ending_ = sys::eventfd();
      for (unsigned i = 0; i < threads_; ++i) {
        sleep_sets.push_back(sys::epoll_watch(device_, EPOLLIN | EPOLLEXCLUSIVE));
        sys::epoll_add(sleep_sets.back().get(), ending_.get(), EPOLLIN);
      }
    } catch (const Error& e) {
      return -(e.errno_value() != 0 ? e.errno_value() : EIO);
    }
    const int flags = ::fcntl(device_, F_GETFL);
    if (flags < 0 || ::fcntl(device_, F_SETFL, flags | O_NONBLOCK) < 0) return -errno;
    std::vector<std::thread> others;
    for (unsigned i = 1; i < threads_; ++i)
      others.emplace_back([this, &sleep_sets, i] { work(sleep_sets[i].get(), false); });
    work(sleep_sets[0].get(), true);
    for (auto& t : others) t.join();
    return error_.load();
  }

 private:
  static constexpr long long kStandbyNs = 2'000'000;
  enum class First { sleeping, polling, serving };

  void work(int sleep_set, bool first) {
    fuse_buf buf{};
    while (!fuse_session_exited(session_)) {
      if (!first && !may_serve()) {
        nap(kStandbyNs);
        continue;
      }
      const int res = fuse_session_receive_buf(session_, &buf);
      if (res > 0) {
        note_request(first);
        fuse_session_process_buf(session_, &buf);
        if (first) state_.store(First::sleeping, std::memory_order_relaxed);
      } else if (res == 0) {
        break;  // unmounted: libfuse has marked the session exited
      } else if (res == -EAGAIN) {
        if (first) {
          wait_as_first(sleep_set);
        } else {
          epoll_event event{};
          ::epoll_wait(sleep_set, &event, 1, -1);
        }
      } else if (res != -EINTR) {
        int none = 0;
        error_.compare_exchange_strong(none, res);
        break;
      }
    }
    std::free(buf.mem);
    // One thread ending ends them all: the session is over, and the others must not sleep.
    fuse_session_exit(session_);
    const std::uint64_t one = 1;
    [[maybe_unused]] const ssize_t n = ::write(ending_.get(), &one, sizeof one);
  }

  // A standby thread may take requests unless the first thread polls, or serves one
  // that began less than kStandbyNs ago.
  bool may_serve() const {
    if (spin_ns_ == 0) return true;
    switch (state_.load(std::memory_order_relaxed)) {
      case First::sleeping: return true;
      case First::polling: return false;
      case First::serving:
        return now_ns() - serving_since_.load(std::memory_order_relaxed) >= kStandbyNs;
    }
    return true;
  }

  void note_request(bool first) {
    const long long now = now_ns();
    const long long previous = last_request_.exchange(now, std::memory_order_relaxed);
    last_gap_.store(now - previous, std::memory_order_relaxed);
    if (first) {
      serving_since_.store(now, std::memory_order_relaxed);
      state_.store(First::serving, std::memory_order_relaxed);
    }
  }

  void wait_as_first(int sleep_set) {
    if (spin_ns_ > 0 && last_gap_.load(std::memory_order_relaxed) < spin_ns_) {
      state_.store(First::polling, std::memory_order_relaxed);
      while (now_ns() - last_request_.load(std::memory_order_relaxed) < spin_ns_) {
        pollfd ready{device_, POLLIN, 0};
        if (::poll(&ready, 1, 0) != 0) return;  // a request, or the mount is gone
        // Polling must not slow down a build that needs both CPUs (make -j2 on the
        // overlay: 3.5 s without polling, 4.4 s polling, 3.6 s polling with this yield).
        // SCHED_IDLE would do better but cannot be undone without CAP_SYS_NICE.
        ::sched_yield();
      }
    }
    state_.store(First::sleeping, std::memory_order_relaxed);
    epoll_event event{};
    ::epoll_wait(sleep_set, &event, 1, -1);  // EINTR or a wake-up for nothing: the read tells
  }

  static void nap(long long ns) {
    timespec pause{0, ns};
    ::nanosleep(&pause, nullptr);
  }

  fuse_session* session_;
  int device_;
  unsigned threads_;
  long long spin_ns_;
  std::atomic<long long> last_request_{0};
  std::atomic<long long> last_gap_{LLONG_MAX};
  std::atomic<long long> serving_since_{0};
  std::atomic<First> state_{First::sleeping};
  std::atomic<int> error_{0};
  UniqueFd ending_;
};

}  // namespace

int run_server_loop(fuse_session* session, const ServerLoopOptions& options) {
  return ServerLoop(session, options).run();
}

}  // namespace cairn::overlay
