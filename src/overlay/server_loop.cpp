#include "server_loop.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/epoll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <climits>
#include <cstdint>
#include <cstdlib>
#include <thread>
#include <utility>
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

// The CPUs this process may run on, in order.
std::vector<int> usable_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (::sched_getaffinity(0, sizeof set, &set) != 0) return {0};
  std::vector<int> cpus;
  for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu)
    if (CPU_ISSET(cpu, &set)) cpus.push_back(cpu);
  return cpus;
}

void pin_to(int cpu) {
  cpu_set_t one;
  CPU_ZERO(&one);
  CPU_SET(cpu, &one);
  ::sched_setaffinity(0, sizeof one, &one);  // best effort: unpinned still serves correctly
}

// Why poll at all: a request is a round trip between the caller and this server, and on a
// virtual machine whose idle CPUs halt, waking a sleeping thread on another CPU costs tens of
// microseconds each way. Programs that write a file 4 KiB at a time pay one round trip per
// write (the kernel asks for security.capability before every write, to clear it), so
// `apt-get update` took twice as long as on a local disk. While requests come in a burst,
// up to one thread per usable CPU keeps polling the device for the next one instead of
// sleeping; an isolated request never starts a poll, so an idle mount costs no CPU.
//
// Why every poller defers to a local one: the cheapest round trip is the one served on the
// caller's own CPU. The caller sleeps in the kernel until the reply; a poller that shares
// its CPU runs at once (no wake-up of another CPU), serves, and the caller wakes on the same
// CPU. That poller notices it was descheduled while the caller ran (a long pause between
// two of its looks) and takes the request at once. A poller that kept looking without a
// pause is on another CPU: it leaves a request to the local poller for kDeferNs and takes it
// only if it is still waiting then. 40,000 writes of 4 KiB: 1.05 s with one poller, 0.35 s
// with this; fsbench's untar of 20,000 files 7.6 s against 3.0 s.
//
// Why, with a poller on every CPU, each is pinned to its CPU and sleeps after serving a local
// request: a caller that computes between requests (apt's `store` decompresses between two
// 4 KiB writes) is runnable again on that CPU, and the kernel's fair scheduler lets a
// yielding poller keep its fair share, so a poller that went on polling there delayed the
// caller by 15-25 µs after every reply (`apt-get update`: 0.3 s). Sleeping in an epoll set
// without EPOLLEXCLUSIVE, it is woken on its own CPU by the caller's next request, for no
// more than a switch; a request made on another CPU wakes it too, finds the request taken
// and polls again. Unpinned, the scheduler woke it on the other, idle CPU. Without a poller
// per CPU (more CPUs than threads) pollers are neither pinned nor sleep after local requests.
// `apt-get update` and install in `cairn run`: 2.85 s polling only, 2.45-2.6 s thus (2.2 s
// on the disk); fsbench's `make -j2` went the other way, 2.23 -> 2.37-2.56 s.
//
// Threads beyond one per CPU stand by while any poller polls: woken for every request only
// to find it taken, they made polling slower than one thread alone. They serve when no
// thread polls, or when every poller has spent over kStandbyNs on one request (a large
// copy-up) while others wait.
class ServerLoop {
 public:
  ServerLoop(fuse_session* session, const ServerLoopOptions& options)
      : session_(session),
        device_(fuse_session_fd(session)),
        threads_(options.threads == 0 ? 1 : options.threads),
        cpus_(usable_cpus()),
        spin_ns_(cpus_.size() > 1 ? static_cast<long long>(options.spin_us) * 1000 : 0),
        pollers_(spin_ns_ > 0 ? std::min<unsigned>(threads_, cpus_.size()) : 0),
        per_cpu_(pollers_ > 0 && pollers_ == cpus_.size()),
        states_(pollers_) {}

  int run() {
    // Non-blocking reads let a thread tell "nothing yet" from a request. A thread with
    // nothing to do sleeps in its own epoll set with EPOLLEXCLUSIVE: a request wakes one
    // sleeper, as a blocking read would, and the pollers may look at the device meanwhile.
    // All sets also watch `ending_`, written once when a thread stops serving (unmount, a
    // signal that exited the session, a read error), so no other thread sleeps on.
    std::vector<UniqueFd> sleep_sets;
    try {
      ending_ = sys::eventfd();
      for (unsigned i = 0; i < threads_; ++i) {
        const bool every_request = per_cpu_ && i < pollers_;  // woken by each, see above
        sleep_sets.push_back(
            sys::epoll_watch(device_, every_request ? EPOLLIN : EPOLLIN | EPOLLEXCLUSIVE));
        sys::epoll_add(sleep_sets.back().get(), ending_.get(), EPOLLIN);
      }
    } catch (const Error& e) {
      return -(e.errno_value() != 0 ? e.errno_value() : EIO);
    }
    const int flags = ::fcntl(device_, F_GETFL);
    if (flags < 0 || ::fcntl(device_, F_SETFL, flags | O_NONBLOCK) < 0) return -errno;
    // A signal that ends the session (libfuse's handlers for SIGHUP, SIGINT and SIGTERM
    // only set a flag) must find a thread waiting, or a thread that polls, serves or is
    // about to sleep misses it and every thread sleeps on (seen: SIGTERM right after a
    // burst). So the serving threads take them only inside their waits (epoll_pwait with
    // the caller's mask), never between. Signals the caller blocks stay blocked.
    sigset_t outside_waits;
    ::sigemptyset(&outside_waits);
    ::pthread_sigmask(SIG_SETMASK, nullptr, &wait_mask_);
    for (int sig : {SIGHUP, SIGINT, SIGTERM})
      if (::sigismember(&wait_mask_, sig) == 0) ::sigaddset(&outside_waits, sig);
    ::pthread_sigmask(SIG_BLOCK, &outside_waits, nullptr);  // inherited by the threads
    std::vector<std::thread> others;
    for (unsigned i = 1; i < threads_; ++i)
      others.emplace_back([this, &sleep_sets, i] { work(sleep_sets[i].get(), i); });
    work(sleep_sets[0].get(), 0);
    for (auto& t : others) t.join();
    ::pthread_sigmask(SIG_SETMASK, &wait_mask_, nullptr);
    return error_.load();
  }

 private:
  static constexpr long long kStandbyNs = 2'000'000;
  // Longer than a poller's look at the device plus sched_yield with nothing else to run
  // (about 1 µs here), shorter than any caller's turn on the CPU between two requests.
  static constexpr long long kPauseNs = 3'000;
  // Time for the caller's CPU to switch to its own poller; 2 and 4 µs measured alike, 10 µs
  // no better.
  static constexpr long long kDeferNs = 4'000;

  enum class State { sleeping, polling, serving };
  struct PollerState {
    std::atomic<State> state{State::sleeping};
    std::atomic<long long> serving_since{0};
    // Owned by the poller's thread: its last wait ended in a wake-up; the request it serves
    // came from a caller on its CPU.
    bool woken = false;
    bool local = false;
  };

  void work(int sleep_set, unsigned index) {
    PollerState* self = index < pollers_ ? &states_[index] : nullptr;
    if (self != nullptr && per_cpu_) pin_to(cpus_[index]);
    fuse_buf buf{};
    while (!fuse_session_exited(session_)) {
      if (self == nullptr && !may_serve()) {
        nap(kStandbyNs);
        continue;
      }
      const int res = fuse_session_receive_buf(session_, &buf);
      if (res > 0) {
        note_request(self);
        fuse_session_process_buf(session_, &buf);
        if (self != nullptr) after_serving(*self, sleep_set);
      } else if (res == 0) {
        break;  // unmounted: libfuse has marked the session exited
      } else if (res == -EAGAIN) {
        if (self != nullptr) {
          self->woken = false;  // woken for a request another thread took
          poll_or_sleep(*self, sleep_set);
        } else {
          wait_in(sleep_set);
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

  // A standby thread may take requests unless a poller polls, or all pollers serve
  // requests that began less than kStandbyNs ago.
  bool may_serve() const {
    if (pollers_ == 0) return true;
    const long long now = now_ns();
    bool all_busy = true;
    for (const PollerState& p : states_) {
      switch (p.state.load(std::memory_order_relaxed)) {
        case State::polling: return false;
        case State::sleeping: all_busy = false; break;
        case State::serving:
          if (now - p.serving_since.load(std::memory_order_relaxed) >= kStandbyNs)
            all_busy = false;
          break;
      }
    }
    return !all_busy;
  }

  void note_request(PollerState* self) {
    const long long now = now_ns();
    const long long previous = last_request_.exchange(now, std::memory_order_relaxed);
    last_gap_.store(now - previous, std::memory_order_relaxed);
    if (self != nullptr) {
      // A pinned poller woken from its sleep runs where the caller woke it.
      if (self->woken) self->local = true;
      self->serving_since.store(now, std::memory_order_relaxed);
      self->state.store(State::serving, std::memory_order_relaxed);
    }
  }

  // A pinned poller leaves its CPU to the caller of a local request until the next request.
  void after_serving(PollerState& self, int sleep_set) {
    self.state.store(State::sleeping, std::memory_order_relaxed);
    const bool local = std::exchange(self.local, false);
    if (!per_cpu_ || !local) return;
    sleep_until_woken(self, sleep_set);
  }

  void sleep_until_woken(PollerState& self, int sleep_set) {
    self.state.store(State::sleeping, std::memory_order_relaxed);
    wait_in(sleep_set);
    self.woken = true;
  }

  // Sleeps until a request, the end of serving or a signal (EINTR, or a wake-up for a
  // request another thread took: the next read tells), with the caller's signal mask.
  void wait_in(int sleep_set) {
    epoll_event event{};
    ::epoll_pwait(sleep_set, &event, 1, -1, &wait_mask_);
  }

  // Returns when a request may be read (or the mount is gone), after polling while the
  // burst lasts and then sleeping.
  void poll_or_sleep(PollerState& self, int sleep_set) {
    if (last_gap_.load(std::memory_order_relaxed) < spin_ns_) {
      self.state.store(State::polling, std::memory_order_relaxed);
      long long last_look = now_ns();
      long long waiting_since = 0;  // when this poller first saw the pending request
      for (;;) {
        const long long now = now_ns();
        if (now - last_request_.load(std::memory_order_relaxed) >= spin_ns_) break;
        const bool paused = now - last_look >= kPauseNs;
        last_look = now;
        pollfd ready{device_, POLLIN, 0};
        if (::poll(&ready, 1, 0) == 0) {
          waiting_since = 0;
        } else {
          if (paused || (ready.revents & POLLIN) == 0) {  // local, or the mount is gone
            self.local = paused;
            return;
          }
          if (waiting_since == 0) waiting_since = now;
          else if (now - waiting_since >= kDeferNs) return;
        }
        // Polling must not slow down a build that needs every CPU (make -j2 on the
        // overlay: 3.5 s without polling, 4.4 s polling, 3.6 s polling with this yield).
        // SCHED_IDLE would do better but cannot be undone without CAP_SYS_NICE.
        ::sched_yield();
      }
    }
    sleep_until_woken(self, sleep_set);
  }

  static void nap(long long ns) {
    timespec pause{0, ns};
    ::nanosleep(&pause, nullptr);
  }

  fuse_session* session_;
  int device_;
  unsigned threads_;
  std::vector<int> cpus_;
  long long spin_ns_;
  unsigned pollers_;
  bool per_cpu_;  // a poller on every usable CPU, pinned there
  std::vector<PollerState> states_;
  std::atomic<long long> last_request_{0};
  std::atomic<long long> last_gap_{LLONG_MAX};
  std::atomic<int> error_{0};
  UniqueFd ending_;
  sigset_t wait_mask_{};  // the caller's signal mask, in force only while a thread waits
};

}  // namespace

int run_server_loop(fuse_session* session, const ServerLoopOptions& options) {
  return ServerLoop(session, options).run();
}

}  // namespace cairn::overlay
