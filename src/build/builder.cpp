#include "builder.hpp"

#include "cairn/build/transfer.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include "cairn/base/error.hpp"
#include "cairn/base/log.hpp"
#include "cairn/base/sys.hpp"
#include "cairn/base/timer.hpp"
#include "cairn/build/image_config.hpp"
#include "cairn/frontend/diagnostic.hpp"
#include "cairn/store/image.hpp"
#include "copy.hpp"
#include "copy_paths.hpp"

namespace cairn::build {
namespace fs = std::filesystem;
using nlohmann::json;

std::string created_now(const std::optional<std::int64_t>& source_date_epoch) {
  return store::rfc3339(source_date_epoch ? *source_date_epoch
                                          : static_cast<std::int64_t>(::time(nullptr)));
}

Builder::Builder(store::Store& store, const BuildOptions& options, const frontend::Dockerfile& file,
                 const frontend::BuildDescription& description)
    : store_(store),
      options_(options),
      file_(file),
      description_(description),
      cache_(store),
      progress_(options.progress),
      namespace_(options.userns) {
  for (const auto& ref : options.no_cache ? std::vector<std::string>{} : options.cache_from) {
    remote_caches_.push_back(std::make_unique<RegistryCache>(store, options.registry, ref, options.progress));
    remote_caches_.back()->import_index();
  }
}

// A step the local cache lacks, from a --cache-from registry (its state saved locally).
std::optional<ImageState> Builder::remote_lookup(const std::string& key) {
  for (auto& remote : remote_caches_) {
    try {
      if (auto hit = remote->lookup(key)) {
        cache_.save(key, *hit);
        return hit;
      }
    } catch (const Error& e) {
      // The step can still be run: a cache that cannot deliver is only a miss.
      log(LogLevel::warn, "{}; running the step instead", e.what());
    }
  }
  return std::nullopt;
}

Builder::~Builder() {
  stacks_.clear();  // descriptors into the scratch directory
  temp_.reset();
  if (watch_) watch_->settle();
}

namespace {

// BuildKit makes sure every stage has a PATH: a base without one gets docker's default.
void ensure_path(json& config) {
  for (const auto& [key, value] : env_of(config))
    if (key == "PATH") return;
  config["config"]["Env"].push_back("PATH=" + std::string(sandbox::kDefaultPath));
}

std::vector<frontend::KeyValue> key_values(const json& config) {
  std::vector<frontend::KeyValue> out;
  for (auto& [k, v] : env_of(config))
    out.push_back({k, v});
  return out;
}

}  // namespace

// FROM's reference is an image ID (or a unique prefix of one) of an image in the store:
// such a reference is never pulled.
static bool names_image_id(const store::Store& store, const std::string& reference) {
  if (store::looks_like_image_id(reference)) return true;
  const auto image = store.resolve(reference);
  if (!image) return false;
  try {
    const std::string name = store::parse_reference(reference).str();
    return std::find(image->names.begin(), image->names.end(), name) == image->names.end();
  } catch (const std::invalid_argument&) {
    return true;
  }
}

// An image in the store under the name a pull would give it: unqualified names are
// looked up in registry.search's order, as `cairn pull` stores them.
std::optional<store::ImageEntry> Builder::resolve_base(const std::string& reference) {
  if (auto image = store_.resolve(reference)) return image;
  try {
    for (const auto& candidate : pull_candidates(reference, options_.registry.search))
      if (auto image = store_.resolve(candidate.str())) return image;
  } catch (const std::invalid_argument&) {
  }
  return std::nullopt;
}

// FROM an image the store lacks (or any, with --pull=always): from its registry.
std::optional<store::ImageEntry> Builder::pull_base(const std::string& reference) {
  registry::Session session(options_.registry,
                            registry::CredentialStore(registry::CredentialPaths::from_process()));
  PullOptions pull;
  pull.platform = options_.stage_options.target_platform.str();
  // Lines only: the build's own display owns the terminal.
  pull.progress = options_.progress == ProgressMode::quiet ? ProgressMode::quiet : ProgressMode::plain;
  return pull_image(store_, session, reference, pull).image;
}

StageResult Builder::image_base(const std::string& reference) {
  if (const auto known = images_.find(reference); known != images_.end()) return known->second;
  std::optional<store::ImageEntry> image;
  if (reference.rfind("oci:", 0) == 0) image = load_oci_layout(reference.substr(4));
  for (const char* scheme : {"oci-archive:", "docker-archive:"}) {
    if (reference.rfind(scheme, 0) != 0) continue;
    const std::string path = reference.substr(std::string_view(scheme).size());
    const UniqueFd in = sys::open(path, O_RDONLY);
    std::string loaded;
    store::load_archive(store_, in.get(), {}, [&](const std::string& name) {
      if (loaded.empty()) loaded = name;
    });
    if (loaded.empty()) throw Error("the archive " + path + " holds no image");
    image = store_.resolve(loaded);
  }
  const bool by_id = !image && names_image_id(store_, reference);
  if (!image && (options_.pull != PullPolicy::always || by_id)) image = resolve_base(reference);
  if (!image && !by_id && options_.pull != PullPolicy::never) image = pull_base(reference);
  if (!image)
    throw Error("no such image in the store")
        .hint(options_.pull == PullPolicy::never
                  ? "--pull=never: pull it first (cairn pull), or cairn load / cairn import it"
                  : "cairn images lists what there is; cairn pull, cairn load or a FROM "
                    "oci-archive:PATH / docker-archive:PATH brings an image in");
  StageResult base{state_of(store_, *image), ""};
  store::ensure_layers(store_, base.state.layers);  // a pulled image's layers are blobs until used
  base.key = "image " + store::image_config_digest(store_, *image);
  return images_[reference] = base;
}

StageResult Builder::base_of(const frontend::Stage& stage) {
  if (stage.base_stage) return results_.at(*stage.base_stage);
  if (stage.base == "scratch") return {scratch_state(), "scratch"};
  return image_base(stage.base);
}

// ONBUILD triggers of the base run first, as if written right after FROM; the new image
// does not inherit them.
frontend::Stage Builder::with_triggers(const frontend::Stage& stage, json& config) const {
  frontend::Stage out = stage;
  json& triggers = config["config"]["OnBuild"];
  if (!triggers.is_array() || triggers.empty()) {
    config["config"].erase("OnBuild");
    return out;
  }
  std::vector<frontend::Instruction> parsed;
  for (const auto& t : triggers) {
    const std::string text = t.get<std::string>();
    const frontend::Dockerfile trigger = frontend::parse_dockerfile(text, "ONBUILD " + text);
    for (const auto& node : trigger.nodes)
      parsed.push_back(frontend::parse_instruction(trigger, node));
  }
  out.instructions.insert(out.instructions.begin(), parsed.begin(), parsed.end());
  config["config"].erase("OnBuild");
  return out;
}

void Builder::build_stage(int index) {
  const frontend::Stage& declared = description_.stages.at(index);
  stage_name_ = description_.order.size() <= 1 ? "" : stage_label(declared) + " ";
  StageResult current = with_context("FROM " + declared.base, [&] { return base_of(declared); });
  ensure_path(current.state.config);
  const frontend::Stage stage = with_triggers(declared, current.state.config);
  const frontend::ExpandedStage expanded = frontend::expand_stage(
      file_, description_, stage, key_values(current.state.config), options_.stage_options);
  const std::size_t total = expanded.steps.size() + 1;
  stage_cmd_set_ = false;
  std::string from = "FROM " + (stage.base.empty() ? std::string("scratch") : stage.base);
  if (stage.name) from += " AS " + *stage.name;
  progress_.step_started(fmt::format("{}1/{}", stage_name_, total), from);
  progress_.step_done();
  for (std::size_t i = 0; i < expanded.steps.size(); ++i) {
    const frontend::ExpandedInstruction& step_ins = expanded.steps[i];
    StepInput input{&step_ins, fmt::format("{}{}/{}", stage_name_, i + 2, total),
                    created_now(options_.source_date_epoch)};
    const frontend::Instruction& ins = step_ins.instruction;
    with_context(fmt::format("{}:{}: step {} ({})", file_.filename, ins.start_line, input.label,
                             ins.keyword),
                 [&] { step(current, input); });
  }
  results_[index] = std::move(current);
}

// FROM oci:DIR[:REF]: an OCI image layout directory, loaded into the store as an archive
// of it would be; REF picks an image by its org.opencontainers.image.ref.name when the
// layout holds several.
std::optional<store::ImageEntry> Builder::load_oci_layout(const std::string& spec) {
  std::string dir = spec, ref;
  if (const auto colon = spec.rfind(':'); colon != std::string::npos && !fs::is_directory(spec)) {
    dir = spec.substr(0, colon);
    ref = spec.substr(colon + 1);
  }
  if (!fs::is_regular_file(fs::path(dir) / "index.json"))
    throw Error(dir + " is not an OCI image layout (it has no index.json)");
  const UniqueFd archive = tar_directory(dir, new_scratch("oci-layout"));
  std::vector<std::string> loaded;
  store::load_archive(store_, archive.get(), {},
                      [&](const std::string& name) { loaded.push_back(name); });
  for (const std::string& name : loaded) {
    const bool wanted =
        ref.empty() || name == ref ||
        (name.size() > ref.size() + 1 &&
         name.compare(name.size() - ref.size() - 1, std::string::npos, ":" + ref) == 0);
    if (wanted) return store_.resolve(name);
  }
  throw Error(ref.empty() ? "the layout " + dir + " holds no image"
                          : "the layout " + dir + " has no image named " + ref);
}

std::string Builder::stage_label(const frontend::Stage& stage) const {
  return stage.name ? *stage.name : fmt::format("stage-{}", stage.index);
}

json Builder::key_inputs(const StageResult& current, const StepInput& input) {
  const frontend::ExpandedInstruction& e = *input.expanded;
  json inputs = {{"instruction", render_instruction(e.instruction)}};
  json args = json::object();
  for (const std::string& name : e.used_args) {
    if (frontend::is_predefined_arg(name)) continue;  // proxies never change a result
    for (const auto& kv : *e.args)
      if (kv.key == name) args[name] = kv.value;
  }
  inputs["args"] = std::move(args);
  if (const auto* run = std::get_if<frontend::RunInstruction>(&e.instruction.value)) {
    json mounts = json::array();
    for (const auto& m : run->mounts) {
      mounts.push_back(m.raw);
      if (m.type != frontend::MountType::bind) continue;
      std::string label;  // what the bind shows: a stage's key, or the context's content
      mounts.push_back(m.from && *m.from != "context" ? source_state(*m.from, label).key
                                                      : context_digest(m.source.value_or("")));
    }
    // A USER other than root runs as root in single-id mode: the modes may differ.
    inputs["userns"] = sandbox::to_string(namespace_.identity().mode);
    inputs["mounts"] = std::move(mounts);
    inputs["network"] =
        run->network.value_or(options_.network == sandbox::Network::none ? "none" : "default");
    json heredocs = json::array();
    for (const auto& h : run->heredocs)
      heredocs.push_back(h.content);
    inputs["heredocs"] = std::move(heredocs);
  }
  if (std::holds_alternative<frontend::CopyInstruction>(e.instruction.value))
    inputs["copy"] = copy_key(current, input);
  if (options_.source_date_epoch) inputs["epoch"] = *options_.source_date_epoch;
  return inputs;
}

void Builder::step(StageResult& current, const StepInput& input) {
  const frontend::Instruction& ins = input.expanded->instruction;
  ++steps_;
  progress_.step_started(input.label, render_instruction(ins));
  const std::string key = step_key(current.key, key_inputs(current, input));
  struct CmdSeen {  // whether hit or executed, a CMD step counts as this stage's CMD
    bool& flag;
    bool is_cmd;
    ~CmdSeen() { flag = flag || is_cmd; }
  } cmd_seen{stage_cmd_set_, std::holds_alternative<frontend::CmdInstruction>(ins.value)};
  if (!options_.no_cache) {
    auto hit = cache_.lookup(key);
    if (!hit) hit = remote_lookup(key);
    if (hit) {
      current = {std::move(*hit), key};
      if (options_.cache_to) steps_seen_[key] = current.state;
      ++cached_;
      progress_.step_cached();
      return;
    }
  }
  if (probing_) throw CacheMiss{};
  try {
    execute(current.state, input);
  } catch (...) {
    progress_.step_failed();
    throw;
  }
  cache_.save(key, current.state);
  if (options_.cache_to) steps_seen_[key] = current.state;
  current.key = key;
  progress_.step_done();
}

void Builder::execute(ImageState& state, const StepInput& input) {
  const frontend::Instruction& ins = input.expanded->instruction;
  if (std::holds_alternative<frontend::RunInstruction>(ins.value))
    return run_instruction(state, input);
  if (std::holds_alternative<frontend::CopyInstruction>(ins.value))
    return copy_instruction(state, input);
  if (std::holds_alternative<frontend::WorkdirInstruction>(ins.value))
    return workdir_instruction(state, input);
  if (const auto* m = std::get_if<frontend::MaintainerInstruction>(&ins.value)) {
    state.config["author"] = m->name;
  } else if (!std::holds_alternative<frontend::ArgInstruction>(ins.value)) {
    json& config = state.config["config"];
    StageState stage_state;
    stage_state.shell = shell_of(state.config);
    stage_state.cmd_set = stage_cmd_set_;  // a CMD of this stage survives a later ENTRYPOINT
    apply_to_config(config, ins, stage_state);
  }
  record_step(state, render_instruction(ins), input.created, std::nullopt);
}

namespace {

// -o type=local: the image's root filesystem as files in DEST (which must not exist yet
// or be empty), owned by the user as any rootless export is; what the host cannot hold for
// an unprivileged user (owners, setuid bits, device nodes) is left out, as BuildKit's
// rootless local exporter does.
void export_rootfs(store::Store& store, const std::string& image_id, const fs::path& dest) {
  std::error_code ec;
  if (fs::exists(dest, ec) && !(fs::is_directory(dest, ec) && fs::is_empty(dest, ec)))
    throw Error("-o type=local: " + dest.string() + " exists and is not an empty directory");
  const auto image = store.resolve(image_id);
  const ImageState state = state_of(store, *image);
  const std::vector<layer::LayerDir> layers = layer_dirs_of(store, state);
  if (layers.empty()) {  // FROM scratch without files: an empty directory
    fs::create_directories(dest);
    return;
  }
  const overlay::Stack stack(layers, std::nullopt);
  CopyRequest request;
  request.sources = {"."};
  request.destination = "/";
  request.destination_is_dir = true;
  const SourceTree tree{&stack, nullptr, false, "image"};
  const layer::LayerDir partial{dest.string() + ".cairn-partial"};
  fs::remove_all(partial.path, ec);
  try {
    write_copy(plan_copy(request, tree, stack), tree, partial);
    fs::remove(dest, ec);
    fs::rename(partial.root(), dest);
  } catch (...) {
    fs::remove_all(partial.path, ec);
    throw;
  }
  fs::remove_all(partial.path, ec);
}

// -o: the archive names the image by this build's tags (by its ID when there are none).
void write_outputs(store::Store& store, const std::string& image_id,
                   const std::vector<std::string>& tags, const std::vector<OutputSpec>& outputs) {
  const std::vector<std::string> images = tags.empty() ? std::vector<std::string>{image_id} : tags;
  for (const OutputSpec& o : outputs) {
    if (o.type == "local") {
      export_rootfs(store, image_id, o.dest);
      continue;
    }
    const auto format = store::parse_save_format(o.type);
    if (!format) throw Error("-o type=" + o.type + ": not an output type (hybrid, docker, oci)");
    const std::string temp = o.dest.string() + ".cairn-partial";
    try {
      const UniqueFd out = sys::open(temp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
      store::save_images(store, images, *format, out.get());
      if (::fsync(out.get()) != 0) throw_errno("fsync", temp, errno);
    } catch (...) {
      ::unlink(temp.c_str());
      throw;
    }
    if (::rename(temp.c_str(), o.dest.c_str()) != 0) throw_errno("rename", temp, errno);
  }
}

}  // namespace

BuildResult build_image(store::Store& store, const BuildOptions& options) {
  store::check_names(options.tags, "build");
  const frontend::Dockerfile file = [&] {
    ScopedTimer timer("build: parse");
    return frontend::parse_dockerfile(options.dockerfile_text, options.dockerfile_name);
  }();
  for (const auto& warning : file.warnings)
    log(LogLevel::warn, "{}:{}: {}", file.filename, warning.line, warning.message);
  const frontend::BuildDescription description =
      frontend::describe_build(file, options.stage_options);
  for (const auto& name : description.unused_build_args)
    log(LogLevel::warn, "build argument {} was given but no ARG declares it", name);
  Builder builder(store, options, file, description);
  builder.build_stages(description.order, options.jobs);

  ImageState final_state = builder.result(description.target).state;
  for (const auto& [key, value] : options.labels)
    final_state.config["config"]["Labels"][key] = value;
  const json& history = final_state.config["history"];
  final_state.config["created"] = history.empty() ? created_now(options.source_date_epoch)
                                                  : history.back().value("created", "");
  BuildResult result;
  result.image =
      store::store_image(store, final_state.config.dump(), final_state.layers, options.tags);
  result.image_id = store::image_config_digest(store, result.image);
  result.steps = builder.steps();
  result.cached_steps = builder.cached();
  with_context("-o", [&] { write_outputs(store, result.image_id, options.tags, options.outputs); });
  if (options.cache_to)
    RegistryCache(store, options.registry, *options.cache_to, options.progress).export_steps(builder.steps_seen());
  builder.progress().finished(result.image_id, options.tags, result.steps, result.cached_steps);
  return result;
}

namespace {

std::vector<std::pair<std::string, std::string>> csv_fields(std::string_view text,
                                                            std::string_view what) {
  std::vector<std::pair<std::string, std::string>> out;
  std::size_t start = 0;
  while (start <= text.size()) {
    std::size_t end = text.find(',', start);
    if (end == std::string_view::npos) end = text.size();
    const std::string_view field = text.substr(start, end - start);
    const auto eq = field.find('=');
    if (eq == std::string_view::npos || eq == 0)
      throw Error(fmt::format("{} \"{}\": \"{}\" is not KEY=VALUE", what, text, field));
    out.emplace_back(std::string(field.substr(0, eq)), std::string(field.substr(eq + 1)));
    start = end + 1;
  }
  return out;
}

}  // namespace

OutputSpec parse_output(std::string_view text) {
  OutputSpec out;
  for (const auto& [key, value] : csv_fields(text, "-o"))
    if (key == "type")
      out.type = value;
    else if (key == "dest")
      out.dest = value;
    else
      throw Error(fmt::format("-o \"{}\": unknown key {} (type, dest)", text, key));
  if (out.type.empty()) out.type = "hybrid";
  if (out.dest.empty()) throw Error(fmt::format("-o \"{}\": dest=PATH is missing", text));
  if (out.type != "local" && !store::parse_save_format(out.type))
    throw Error(
        fmt::format("-o \"{}\": type {} is not hybrid, docker, oci or local", text, out.type));
  return out;
}

Secret parse_secret(std::string_view text) {
  Secret s;
  for (const auto& [key, value] : csv_fields(text, "--secret"))
    if (key == "id")
      s.id = value;
    else if (key == "src" || key == "source")
      s.source = value;
    else if (key == "type" && value == "file")
      continue;
    else
      throw Error(fmt::format("--secret \"{}\": unknown key {} (id, src)", text, key));
  if (s.id.empty()) throw Error(fmt::format("--secret \"{}\": id=ID is missing", text));
  if (s.source.empty()) s.source = s.id;
  std::error_code ec;
  if (!fs::is_regular_file(s.source, ec))
    throw Error(fmt::format("--secret id={}: {} is not a readable file", s.id, s.source.string()));
  return s;
}

std::pair<std::string, fs::path> parse_ssh(std::string_view text, const char* auth_sock_env) {
  const auto eq = text.find('=');
  const std::string id(text.substr(0, eq));
  if (id.empty()) throw Error(fmt::format("--ssh \"{}\": the id is empty", text));
  fs::path socket;
  if (eq != std::string_view::npos) {
    socket = std::string(text.substr(eq + 1));
  } else if (auth_sock_env && *auth_sock_env) {
    socket = auth_sock_env;
  } else {
    throw Error(fmt::format("--ssh {}: SSH_AUTH_SOCK is not set", text))
        .hint("start an agent (eval $(ssh-agent); ssh-add) or give --ssh " + id + "=SOCKET");
  }
  std::error_code ec;
  if (!fs::is_socket(socket, ec))
    throw Error(fmt::format("--ssh {}: {} is not an ssh agent's socket", text, socket.string()))
        .hint("give an agent's socket; key files are used through an agent (ssh-add KEY)");
  return {id, fs::absolute(socket)};
}

}  // namespace cairn::build
