// The build's driver (private to src/build): the stages a target needs in order, each
// step a cache hit or executed, the final image stored.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cache.hpp"
#include "cairn/base/lock.hpp"
#include "cairn/base/process.hpp"
#include "cairn/build/build.hpp"
#include "cairn/frontend/ast.hpp"
#include "cairn/frontend/dockerignore.hpp"
#include "cairn/frontend/stages.hpp"
#include "cairn/overlay/stack.hpp"
#include "copy.hpp"
#include "progress.hpp"
#include "run_step.hpp"
#include "registry_cache.hpp"
#include "state.hpp"

namespace cairn::build {

struct Running;

// Thrown by a step that the cache does not hold while a stage is only being probed.
struct CacheMiss {};

struct StageResult {
  ImageState state;
  std::string key;  // the cache key of its last step: what COPY --from depends on
};

// One step as the executor sees it.
struct StepInput {
  const frontend::ExpandedInstruction* expanded = nullptr;
  std::string label;  // "2/5" or "build 2/5"
  std::string created;
};

class Builder {
 public:
  Builder(store::Store& store, const BuildOptions& options, const frontend::Dockerfile& file,
          const frontend::BuildDescription& description);
  ~Builder();
  Builder(const Builder&) = delete;
  Builder& operator=(const Builder&) = delete;

  // The stages in order; with jobs > 1, stages that do not depend on each other are built
  // at once, each in a forked copy of this process (parallel.cpp).
  void build_stages(const std::vector<int>& order, unsigned jobs);
  void build_stage(int index);
  const StageResult& result(int index) const { return results_.at(index); }
  std::size_t steps() const { return steps_; }
  std::size_t cached() const { return cached_; }
  const std::map<std::string, ImageState>& steps_seen() const { return steps_seen_; }
  Progress& progress() { return progress_; }

 private:
  // parallel.cpp
  bool has_independent_stages(const std::vector<int>& order) const;
  // Whether every step of the stage is a cache hit (nothing shown, nothing done).
  bool fully_cached(int index);
  [[noreturn]] void stage_child(int index, const std::filesystem::path& result);
  void collect(const Running& finished);
  std::string stage_label(const frontend::Stage& stage) const;

  // FROM: the base state and its key.
  StageResult base_of(const frontend::Stage& stage);
  StageResult image_base(const std::string& reference);
  std::optional<ImageState> remote_lookup(const std::string& key);
  std::optional<store::ImageEntry> pull_base(const std::string& reference);
  std::optional<store::ImageEntry> resolve_base(const std::string& reference);
  std::optional<store::ImageEntry> load_oci_layout(const std::string& spec);
  frontend::Stage with_triggers(const frontend::Stage& stage, nlohmann::json& config) const;
  void step(StageResult& current, const StepInput& input);
  nlohmann::json key_inputs(const StageResult& current, const StepInput& input);
  void execute(ImageState& state, const StepInput& input);

  // steps.cpp
  void run_instruction(ImageState& state, const StepInput& input);
  void copy_instruction(ImageState& state, const StepInput& input);
  void workdir_instruction(ImageState& state, const StepInput& input);
  nlohmann::json copy_key(const StageResult& current, const StepInput& input);
  RunRequest run_request(const ImageState& state, const StepInput& input);
  // What a RUN step's mounts hold while it runs.
  struct RunHolds {
    std::vector<std::unique_ptr<ServedMount>> mounts;  // bind sources from stages
    std::vector<FileLock> locks;                       // cache mounts' sharing
  };
  void add_run_mounts(RunRequest& request, const frontend::RunInstruction& run,
                      const std::string& scratch, const sandbox::Identity& identity,
                      RunHolds& held);
  void add_bind_mount(RunRequest& request, const frontend::MountSpec& m, const std::string& target,
                      const std::string& scratch, const sandbox::Identity& identity,
                      RunHolds& held);
  void add_secret_mount(RunRequest& request, const frontend::MountSpec& m,
                        const std::string& target);
  void add_ssh_mount(RunRequest& request, const frontend::MountSpec& m, const std::string& target);
  std::filesystem::path cache_mount_dir(const std::string& id, frontend::CacheSharing sharing,
                                        std::vector<FileLock>& locks);
  // COPY --from and RUN --mount from=: a stage by name or index, else an image.
  StageResult source_state(const std::string& ref, std::string& label);
  const SourceTree& copy_source(const frontend::CopyInstruction& copy, std::string& from_key);
  const SourceTree& context_tree();
  // ADD of URLs: the downloads as a tree of their own (`names` gets their file names).
  const SourceTree& download_tree(const frontend::CopyInstruction& copy,
                                  std::vector<std::string>& names);
  // A digest of a context path's content (a RUN bind mount's share of the step's key).
  std::string context_digest(const std::string& source);
  // The merged view of a state's layers, made anew (the image a step works on) or kept for
  // the build by its layers (sources of COPY --from and RUN --mount from=).
  std::unique_ptr<overlay::Stack> image_stack(const ImageState& state);
  const overlay::Stack& source_stack(const ImageState& state);
  // A directory of the host as a source tree (the context, heredoc files, downloads).
  const SourceTree& directory_tree(const std::filesystem::path& dir, const std::string& name,
                                   const frontend::IgnoreMatcher* ignore);
  std::optional<store::LayerBlob> commit(const layer::LayerDir& dir, const ImageState& below);
  std::filesystem::path new_scratch(const std::string& purpose);

  store::Store& store_;
  const BuildOptions& options_;
  const frontend::Dockerfile& file_;
  const frontend::BuildDescription& description_;
  StepCache cache_;
  Progress progress_;
  Namespace namespace_;
  std::map<int, StageResult> results_;
  std::size_t steps_ = 0, cached_ = 0;
  std::string stage_name_;
  bool stage_cmd_set_ = false;
  // The build's scratch directory (made on first need) and its watcher.
  std::optional<store::TempDir> temp_;
  std::optional<CleanupWatch> watch_;
  int scratch_count_ = 0;
  std::string scratch_prefix_;  // a forked stage builder's scratch names are its own
  bool probing_ = false;        // fully_cached(): a miss throws CacheMiss
  // COPY sources, kept for the build: the context and the trees of stages and images.
  std::optional<frontend::IgnoreMatcher> ignore_;
  std::map<std::string, std::unique_ptr<overlay::Stack>> stacks_;  // by directory or layers
  std::map<std::string, StageResult> images_;  // image bases by reference, loaded once
  std::map<std::string, SourceTree> trees_;
  // The COPY plan made for the step's cache key, executed on a miss.
  std::optional<CopyPlan> pending_plan_;
  const SourceTree* pending_tree_ = nullptr;
  // --cache-from: registry caches asked on a local miss; --cache-to: each step's key and
  // state (hit or executed), exported when the build is done.
  std::vector<std::unique_ptr<RegistryCache>> remote_caches_;
  std::map<std::string, ImageState> steps_seen_;
};

// "2024-05-01T12:00:00Z" for now, or SOURCE_DATE_EPOCH.
std::string created_now(const std::optional<std::int64_t>& source_date_epoch);

}  // namespace cairn::build
