// The loop that reads FUSE requests and hands them to libfuse (private to src/overlay).
#pragma once

#ifndef FUSE_USE_VERSION
#define FUSE_USE_VERSION 312
#endif
#include <fuse_lowlevel.h>

namespace cairn::overlay {

struct ServerLoopOptions {
  unsigned threads = 2;
  // While requests arrive closer together than this, up to a thread per CPU polls the
  // device instead of sleeping (0: never; ignored with a single CPU).
  unsigned spin_us = 0;
};

// Serves `session` until the mount goes away or the session is told to exit. Returns 0,
// or -errno when reading the device failed.
int run_server_loop(fuse_session* session, const ServerLoopOptions& options);

}  // namespace cairn::overlay
