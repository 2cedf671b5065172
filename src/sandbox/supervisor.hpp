// The seccomp user-notification supervisor: a thread that answers the sandbox's chown and
// device mknod calls by recording them through a Recorder (single-id mode's ownership).
#pragma once

#include <thread>

#include "cairn/base/fd.hpp"
#include "cairn/sandbox/sandbox.hpp"

namespace cairn::sandbox {

class Supervisor {
 public:
  Supervisor(UniqueFd listener, Recorder& recorder);
  Supervisor(const Supervisor&) = delete;
  Supervisor& operator=(const Supervisor&) = delete;
  // Waits for the thread, which ends when every process under the filter is gone.
  ~Supervisor();

 private:
  void serve();

  UniqueFd listener_;
  Recorder& recorder_;
  std::thread thread_;
};

}  // namespace cairn::sandbox
