// The steps that touch files: RUN (sandbox on the overlay), COPY/ADD (a new layer
// directory written directly) and WORKDIR (a directory made when the image lacks it).
#include <fcntl.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <linux/openat2.h>
#include <unistd.h>

#include <algorithm>

#include "builder.hpp"
#include "cairn/base/digest.hpp"
#include "cairn/base/error.hpp"
#include "cairn/base/sys.hpp"
#include "cairn/base/timer.hpp"
#include "cairn/build/image_config.hpp"
#include "cairn/sandbox/identity.hpp"
#include "copy_paths.hpp"
#include "download.hpp"

namespace cairn::build {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

std::string trimmed(const std::string& s) {
  const auto b = s.find_first_not_of(" \t\n");
  const auto e = s.find_last_not_of(" \t\n");
  return b == std::string::npos ? "" : s.substr(b, e - b + 1);
}

std::string chomped(const frontend::Heredoc& h) {
  if (!h.chomp) return h.content;
  std::string out;
  bool line_start = true;
  for (char c : h.content) {
    if (line_start && c == '\t') continue;
    line_start = c == '\n';
    out += c;
  }
  return out;
}

// A heredoc that is the whole command ("RUN <<EOF"): BuildKit runs its body as a script.
bool heredoc_is_command(const frontend::RunInstruction& run) {
  if (run.heredocs.size() != 1 || run.command.args.empty()) return false;
  const std::string cmd = trimmed(run.command.args.front());
  return cmd.rfind("<<", 0) == 0 && cmd.find_first_of(" \t") == std::string::npos;
}

// The contents of a file of the image ("" when it has none).
std::string read_image_file(const overlay::Stack& image, const std::string& path) {
  const auto r = image.lookup(resolve_in_image(image, path, true));
  if (!r || !S_ISREG(r->attr.mode)) return {};
  const int fd = sys::try_openat2(image.root_fd(r->data_layer), r->path, O_RDONLY,
                                  RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS);
  if (fd < 0) return {};
  const UniqueFd file(fd);
  return sys::read_all(file.get(), path);
}

bool is_number(const std::string& s) {
  return !s.empty() && s.find_first_not_of("0123456789") == std::string::npos;
}

// USER as the sandbox resolves it, in the image's own /etc/passwd and /etc/group (a name
// without a group gets its primary group).
std::pair<uid_t, gid_t> resolve_user_spec(const std::string& spec, const overlay::Stack& image,
                                          const std::string& what) {
  const sandbox::User u = with_context(what, [&] {
    return sandbox::resolve_user(spec, read_image_file(image, "/etc/passwd"),
                                 read_image_file(image, "/etc/group"));
  });
  return {u.uid, u.gid};
}

// --chown as BuildKit reads it: as USER, except that a bare number is also the gid.
std::pair<uid_t, gid_t> resolve_chown(const std::string& spec, const overlay::Stack& image) {
  const auto [uid, gid] = resolve_user_spec(spec, image, "--chown=" + spec);
  return {uid, is_number(spec) ? static_cast<gid_t>(uid) : gid};
}

mode_t parse_chmod(const std::string& text) {
  if (text.empty() || text.size() > 4 || text.find_first_not_of("01234567") != std::string::npos)
    throw Error("--chmod=" + text + ": not an octal mode (such as 0755)");
  return static_cast<mode_t>(std::stoul(text, nullptr, 8));
}

bool dest_names_directory(const std::string& dest) {
  if (dest.empty()) return false;
  if (dest.back() == '/') return true;
  return dest == "." || dest == ".." ||
         (dest.size() >= 2 && dest.compare(dest.size() - 2, 2, "/.") == 0);
}

}  // namespace

fs::path Builder::new_scratch(const std::string& purpose) {
  if (!temp_) {
    temp_ = store_.make_temp("build");
    watch_.emplace(temp_->path().string());
  }
  const fs::path dir =
      temp_->path() / fmt::format("{}{}-{}", scratch_prefix_, purpose, ++scratch_count_);
  fs::create_directories(dir);
  return dir;
}

std::unique_ptr<overlay::Stack> Builder::image_stack(const ImageState& state) {
  const std::vector<layer::LayerDir> dirs = layer_dirs_of(store_, state);
  if (!dirs.empty()) return std::make_unique<overlay::Stack>(dirs, std::nullopt);
  const fs::path empty = store_.root() / "cairn/empty";
  std::error_code ec;
  fs::create_directories(empty, ec);
  return std::make_unique<overlay::Stack>(
      std::vector<overlay::LayerSource>{{empty, overlay::Format::kernel}}, false);
}

std::optional<store::LayerBlob> Builder::commit(const layer::LayerDir& dir,
                                                const ImageState& below) {
  store::PackOptions pack;
  pack.source_date_epoch = options_.source_date_epoch;
  // gzip's fastest level: compressing dominated an apt-get layer's commit at the default
  // level (156 MB: 6.5 s at zlib's level 6, 2.5 s at its level 1, for a blob about 15%
  // larger). With ISA-L (src/store/stream.cpp) level 1 is its fastest, ten times zlib's.
  pack.level = 1;
  ScopedTimer timer("build: commit layer");
  return store::add_layer(store_, dir, layer_dirs_of(store_, below), pack);
}

// ---- RUN -------------------------------------------------------------------------------

RunRequest Builder::run_request(const ImageState& state, const StepInput& input) {
  const auto& run = std::get<frontend::RunInstruction>(input.expanded->instruction.value);
  RunRequest request;
  if (run.command.exec_form) {
    request.argv = run.command.args;
  } else {
    std::string cmd = run.command.args.empty() ? "" : run.command.args.front();
    if (heredoc_is_command(run) && chomped(run.heredocs.front()).rfind("#!", 0) == 0) {
      // A script with its own interpreter: BuildKit mounts it under /dev/pipes and runs it.
      const frontend::Heredoc& h = run.heredocs.front();
      const fs::path dir = new_scratch("heredoc");
      sys::write_file_atomic((dir / h.name).string(), chomped(h), 0755);
      request.binds.push_back({dir / h.name, "/dev/pipes/" + h.name, true});
      cmd = "/dev/pipes/" + h.name;
    } else if (heredoc_is_command(run)) {
      cmd = chomped(run.heredocs.front());
    } else {
      for (const auto& h : run.heredocs)
        cmd += "\n" + chomped(h) + h.name;
    }
    request.argv = shell_of(state.config);
    request.argv.push_back(cmd);
  }
  const auto env = env_of(state.config);
  bool has_path = false;
  for (const auto& [k, v] : env) {
    request.env.push_back(k + "=" + v);
    has_path = has_path || k == "PATH";
  }
  if (!has_path)
    request.env.insert(request.env.begin(), "PATH=" + std::string(sandbox::kDefaultPath));
  std::vector<std::pair<std::string, std::string>> args;
  for (const auto& kv : *input.expanded->args)
    args.emplace_back(kv.key, kv.value);
  // The proxy variables reach RUN without an ARG, as in docker.
  for (const auto& [name, value] : options_.stage_options.build_args)
    if (value && frontend::is_predefined_arg(name)) args.emplace_back(name, *value);
  for (const auto& [key, value] : args) {  // build args, unless ENV (or an earlier one) set it
    bool shadowed = false;
    for (const auto& e : request.env)
      shadowed = shadowed || e.rfind(key + "=", 0) == 0;
    if (!shadowed) request.env.push_back(key + "=" + value);
  }
  request.cwd = workdir_of(state.config);
  request.user = state.config.value("config", json::object()).value("User", "");
  request.network = options_.network;
  if (run.network == "none") request.network = sandbox::Network::none;
  if (run.network == "host") request.network = sandbox::Network::host;
  return request;
}

void Builder::run_instruction(ImageState& state, const StepInput& input) {
  // The scratch directory's watcher is forked first: it must stay outside the namespace,
  // where the step's mounts would make what it removes busy.
  const fs::path scratch = new_scratch("run");
  const sandbox::Identity& identity = namespace_.enter();
  const ForwardedSignals signals;  // before any overlay's threads start
  RunHolds held;                   // RUN --mount: bind sources from stages, cache mount locks
  RunRequest request = run_request(state, input);
  if (identity.mode == sandbox::IdMode::single && !request.user.empty()) {
    const auto image = image_stack(state);
    const auto ids = resolve_user_spec(request.user, *image, "USER " + request.user);
    if (ids.first != 0 || ids.second != 0) request.creates_as = ids;
  }
  add_run_mounts(request, std::get<frontend::RunInstruction>(input.expanded->instruction.value),
                 scratch.string(), identity, held);
  const layer::LayerDir upper{scratch / "upper"};
  OutputPump pump(progress_);
  request.output_fd = pump.write_fd();
  const RunOutcome outcome = run_step(identity, layer_dirs_of(store_, state), request, upper,
                                      scratch, store_.root() / "cairn/cache");
  pump.finish();
  const std::string shown = fmt::format("{}", fmt::join(request.argv, " "));
  if (!outcome.error.empty()) throw Error("RUN " + shown + ": " + outcome.error);
  if (outcome.status != 0)
    throw Error(
        fmt::format("RUN {}: the command failed with exit status {}", shown, outcome.status));
  const auto& run = std::get<frontend::RunInstruction>(input.expanded->instruction.value);
  std::string created_by = "RUN " + shown;
  if (run.command.exec_form) created_by = frontend::render_instruction(input.expanded->instruction);
  record_step(state, created_by, input.created,
              outcome.changed ? commit(upper, state) : std::nullopt);
}

// ---- COPY / ADD ------------------------------------------------------------------------

StageResult Builder::source_state(const std::string& ref, std::string& label) {
  for (const frontend::Stage& stage : description_.stages) {
    if ((stage.name && *stage.name == ref) || std::to_string(stage.index) == ref) {
      label = "stage " + stage.display_name();
      return results_.at(stage.index);
    }
  }
  label = "image " + ref;
  return image_base(ref);
}

const SourceTree& Builder::copy_source(const frontend::CopyInstruction& copy,
                                       std::string& from_key) {
  if (copy.from) {
    std::string label;
    const StageResult source = source_state(*copy.from, label);
    from_key = source.key;
    const overlay::Stack& stack = source_stack(source.state);
    return trees_[label + " " + from_key] = SourceTree{&stack, nullptr, false, label};
  }
  if (!options_.context)
    throw Error("COPY and ADD need a build context; `cairn build -` has none")
        .hint("give a directory as the context: cairn build -f - DIR");
  return context_tree();
}

const SourceTree& Builder::context_tree() {
  if (!ignore_) {
    ignore_.emplace();
    if (const auto file = frontend::find_ignore_file(*options_.context, options_.dockerfile_path))
      ignore_ = with_context(".dockerignore " + file->string(), [&] {
        return frontend::IgnoreMatcher::parse(sys::read_file(file->string()));
      });
  }
  return directory_tree(*options_.context, "build context", &*ignore_);
}

const SourceTree& Builder::directory_tree(const fs::path& dir, const std::string& name,
                                          const frontend::IgnoreMatcher* ignore) {
  const std::string key = "directory " + dir.string();
  auto& stack = stacks_[key];
  if (!stack)
    stack = std::make_unique<overlay::Stack>(
        std::vector<overlay::LayerSource>{{dir, overlay::Format::kernel}}, false);
  return trees_[key] = SourceTree{stack.get(), ignore, true, name};
}

const overlay::Stack& Builder::source_stack(const ImageState& state) {
  std::string key = "layers";
  for (const auto& l : state.layers)
    key += " " + l.diff_id;
  auto& stack = stacks_[key];
  if (!stack) stack = image_stack(state);
  return *stack;
}

const SourceTree& Builder::download_tree(const frontend::CopyInstruction& copy,
                                         std::vector<std::string>& names) {
  if (!std::all_of(copy.sources.begin(), copy.sources.end(), is_url))
    throw Error("ADD with URLs and local files together is not supported; give each its own ADD");
  const fs::path dir = new_scratch("download");
  names.clear();
  for (const std::string& url : copy.sources)
    names.push_back(download(url, dir, copy.checksum).filename().string());
  return directory_tree(dir, "download", nullptr);
}

std::string Builder::context_digest(const std::string& source) {
  if (!options_.context) return "no context";
  CopyRequest request;
  request.sources = {source.empty() ? "." : source};
  request.destination = "/mount/";
  request.destination_is_dir = true;
  const overlay::Stack& empty = source_stack(scratch_state());
  const SourceTree& tree = context_tree();
  try {
    return plan_digest(plan_copy(request, tree, empty), tree, true);
  } catch (const Error&) {
    return "missing " + source;  // the mount itself then says what is wrong
  }
}

json Builder::copy_key(const StageResult& current, const StepInput& input) {
  const auto& copy = std::get<frontend::CopyInstruction>(input.expanded->instruction.value);
  std::string from_key;
  const SourceTree* tree = nullptr;
  CopyRequest request;
  request.sources = copy.sources;
  if (!copy.heredocs.empty()) {
    const fs::path dir = new_scratch("heredoc");
    request.sources.clear();
    for (const auto& h : copy.heredocs) {
      sys::write_file_atomic((dir / h.name).string(), chomped(h), 0644);
      request.sources.push_back(h.name);
    }
    tree = &directory_tree(dir, "heredoc", nullptr);
  } else if (copy.is_add && std::any_of(copy.sources.begin(), copy.sources.end(), is_git_source)) {
    throw Error("ADD of a git repository is not supported yet")
        .hint("clone it in a RUN step, or ADD an archive of it");
  } else if (copy.is_add && std::any_of(copy.sources.begin(), copy.sources.end(), is_url)) {
    tree = &download_tree(copy, request.sources);
  } else {
    if (copy.checksum) throw Error("ADD --checksum verifies downloads: give a URL as the source");
    tree = &copy_source(copy, from_key);
  }
  if (copy.keep_git_dir) throw Error("ADD --keep-git-dir: git sources are not supported yet");
  const std::string workdir = workdir_of(current.state.config);
  request.destination = join_to_workdir(workdir, copy.destination);
  request.destination_is_dir = dest_names_directory(copy.destination) || copy.sources.size() > 1;
  // Remote files are never extracted; ADD --unpack=false keeps local archives as they are.
  request.is_add = copy.is_add && tree->name != "download" && copy.unpack.value_or(true);
  request.parents = copy.parents;
  request.excludes = copy.excludes;
  const auto image = image_stack(current.state);  // this step's only: not kept
  if (copy.chown) std::tie(request.uid, request.gid) = resolve_chown(*copy.chown, *image);
  if (copy.chmod) request.chmod = parse_chmod(*copy.chmod);
  pending_plan_ = plan_copy(request, *tree, *image);
  pending_tree_ = tree;
  return {{"from", from_key}, {"plan", plan_digest(*pending_plan_, *tree, tree->is_context)}};
}

void Builder::copy_instruction(ImageState& state, const StepInput& input) {
  const fs::path scratch = new_scratch("copy");
  const layer::LayerDir dir{scratch / "layer"};
  write_copy(*pending_plan_, *pending_tree_, dir);
  record_step(state, frontend::render_instruction(input.expanded->instruction), input.created,
              commit(dir, state));
}

// ---- WORKDIR ---------------------------------------------------------------------------

void Builder::workdir_instruction(ImageState& state, const StepInput& input) {
  StageState unused;
  apply_to_config(state.config["config"], input.expanded->instruction, unused);
  const std::string path = workdir_of(state.config);
  const auto image = image_stack(state);
  std::optional<store::LayerBlob> layer;
  if (path != "/" && !image->lookup(resolve_in_image(*image, path, true))) {
    const fs::path scratch = new_scratch("workdir");
    const layer::LayerDir dir{scratch / "layer"};
    // BuildKit gives a directory WORKDIR creates to the current USER.
    const std::string user = state.config["config"].value("User", "");
    const auto [uid, gid] = user.empty() ? std::pair<uid_t, gid_t>{0, 0}
                                         : resolve_user_spec(user, *image, "USER " + user);
    write_copy(plan_mkdir(path, *image, uid, gid), SourceTree{image.get(), nullptr, false, "image"},
               dir);
    layer = commit(dir, state);
  }
  record_step(state, "WORKDIR " + path, input.created, layer);
}

}  // namespace cairn::build
