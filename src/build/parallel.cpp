// Independent stages built at once (--jobs): each in a forked copy of cairn, which enters
// its own user namespace for its RUN steps (a process with threads could not) and hands its
// result back in a file. A stage that is the only one ready runs in this process.
#include <fmt/format.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <set>

#include "builder.hpp"
#include "cairn/base/error.hpp"
#include "cairn/base/sys.hpp"

namespace cairn::build {
namespace fs = std::filesystem;
using nlohmann::json;

// A forked stage builder.
struct Running {
  int index = 0;
  pid_t pid = -1;
  UniqueFd pidfd;
  fs::path result;
};

namespace {

bool ready(const frontend::Stage& stage, const std::set<int>& done) {
  for (int dependency : stage.dependencies)
    if (!done.count(dependency)) return false;
  return true;
}

int wait_status(pid_t pid) {
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  return 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

// Blocks until one of the children has ended; returns its position.
std::size_t wait_any(const std::vector<Running>& running) {
  std::vector<pollfd> fds;
  for (const Running& r : running)
    fds.push_back({r.pidfd.get(), POLLIN, 0});
  for (;;) {
    if (::poll(fds.data(), fds.size(), -1) < 0) {
      if (errno == EINTR) continue;
      throw_errno("wait for stage builders", "", errno);
    }
    for (std::size_t i = 0; i < fds.size(); ++i)
      if (fds[i].revents) return i;
  }
}

}  // namespace

bool Builder::has_independent_stages(const std::vector<int>& order) const {
  std::set<int> done;
  for (int index : order) {  // stages that become ready together can run together
    int ready_now = 0;
    for (int other : order)
      if (!done.count(other) && ready(description_.stages.at(other), done)) ++ready_now;
    if (ready_now > 1) return true;
    done.insert(index);
  }
  return false;
}

bool Builder::fully_cached(int index) {
  if (options_.no_cache) return false;
  const std::size_t steps = steps_, cached = cached_;
  probing_ = true;
  progress_.mute(true);
  bool hit = true;
  try {
    build_stage(index);
  } catch (const CacheMiss&) {
    hit = false;
  } catch (...) {
    hit = false;  // the stage's own build says what is wrong
  }
  probing_ = false;
  progress_.mute(false);
  results_.erase(index);
  steps_ = steps;
  cached_ = cached;
  return hit;
}

[[noreturn]] void Builder::stage_child(int index, const fs::path& result) {
  int status = 0;
  try {
    scratch_prefix_ = fmt::format("s{}-", index);
    progress_.set_output_prefix(stage_label(description_.stages.at(index)));
    build_stage(index);
    const StageResult& r = results_.at(index);
    json seen = json::object();
    for (const auto& [key, state] : steps_seen_) seen[key] = state_to_json(state);
    sys::write_file_atomic(result.string(), json{{"state", state_to_json(r.state)},
                                                 {"key", r.key},
                                                 {"steps", steps_},
                                                 {"cached", cached_},
                                                 {"steps_seen", seen}}
                                                .dump());
  } catch (const std::exception& e) {
    fmt::print(stderr, "cairn: error: {}\n", e.what());
    status = 1;
  }
  std::fflush(nullptr);
  ::_exit(status);  // the parent owns the scratch directory and everything else
}

void Builder::collect(const Running& r) {
  const json result = json::parse(sys::read_file(r.result.string()));
  results_[r.index] = {state_from_json(result.at("state")), result.at("key")};
  steps_ += result.at("steps").get<std::size_t>();
  cached_ += result.at("cached").get<std::size_t>();
  for (const auto& [key, state] : result.at("steps_seen").items()) steps_seen_[key] = state_from_json(state);
}

void Builder::build_stages(const std::vector<int>& order, unsigned jobs) {
  if (jobs <= 1 || !has_independent_stages(order)) {
    for (int index : order)
      build_stage(index);
    return;
  }
  const fs::path results = new_scratch("results");
  progress_.lines_only();  // several stages write at once: no redrawing
  std::vector<int> pending = order;
  std::vector<Running> running;
  std::set<int> done;
  std::string failed;
  while (failed.empty() && (!pending.empty() || !running.empty())) {
    std::vector<int> now;
    for (int index : pending)
      if (now.size() + running.size() < jobs && ready(description_.stages.at(index), done))
        now.push_back(index);
    for (int index : now)
      pending.erase(std::find(pending.begin(), pending.end(), index));
    // A stage that is alone, or that the cache holds whole, needs no other process.
    std::vector<int> here;
    for (int index : now)
      if ((now.size() == 1 && running.empty()) || fully_cached(index)) here.push_back(index);
    for (int index : here) {
      build_stage(index);
      done.insert(index);
      now.erase(std::find(now.begin(), now.end(), index));
    }
    if (!here.empty() && now.empty()) continue;
    for (int index : now) {
      Running r{index, -1, {}, results / fmt::format("stage-{}.json", index)};
      std::fflush(nullptr);
      r.pid = ::fork();
      if (r.pid < 0) throw_errno("fork a stage builder", "", errno);
      if (r.pid == 0) stage_child(index, r.result);
      r.pidfd = sys::pidfd_open(r.pid);
      running.push_back(std::move(r));
    }
    if (running.empty()) continue;
    const std::size_t at = wait_any(running);
    Running finished = std::move(running[at]);
    running.erase(running.begin() + static_cast<long>(at));
    if (wait_status(finished.pid) != 0) {
      failed = stage_label(description_.stages.at(finished.index));
      break;
    }
    collect(finished);
    done.insert(finished.index);
  }
  for (Running& r : running) {  // a stage failed: the others are not needed any more
    ::kill(r.pid, SIGKILL);
    wait_status(r.pid);
  }
  if (!failed.empty()) throw Error("stage " + failed + " failed (its error is above)");
}

}  // namespace cairn::build
