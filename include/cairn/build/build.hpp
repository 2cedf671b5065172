// `cairn build`: a Dockerfile and its context to an image in the store, as docker
// (BuildKit) builds it. Parse → plan (stages, steps, cache keys) → execute each step that
// the layer cache does not already hold: COPY/ADD write a new layer directory directly,
// RUN runs in the sandbox on cairn's overlay and its upper becomes the layer, the other
// instructions change the image config.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "cairn/config.hpp"
#include "cairn/frontend/stages.hpp"
#include "cairn/sandbox/identity.hpp"
#include "cairn/sandbox/sandbox.hpp"
#include "cairn/store/image.hpp"
#include "cairn/store/store.hpp"

namespace cairn::build {

enum class ProgressMode { plain, tty, quiet };

struct Secret {
  std::string id;
  std::filesystem::path source;  // a file on the host
};

struct OutputSpec {
  std::string type;  // hybrid, docker, oci
  std::filesystem::path dest;
};

// When FROM's image is taken from a registry: never (the store only), when the store lacks
// it, or always (the registry's current image for the tag).
enum class PullPolicy { never, missing, always };

struct BuildOptions {
  std::optional<std::filesystem::path> context;  // none: `cairn build -` (no context)
  std::string dockerfile_text;
  std::string dockerfile_name = "Dockerfile";            // for messages
  std::optional<std::filesystem::path> dockerfile_path;  // -f FILE (for FILE.dockerignore)
  std::vector<std::string> tags;
  frontend::StageOptions stage_options;  // build args, target, platforms
  bool no_cache = false;
  sandbox::Network network = sandbox::Network::host;
  std::map<std::string, std::string> labels;  // --label, on the final image
  std::vector<Secret> secrets;
  // --ssh ID[=SOCKET]: ssh agent sockets for RUN --mount=type=ssh, by id.
  std::map<std::string, std::filesystem::path> ssh_agents;
  sandbox::IdModeChoice userns = sandbox::IdModeChoice::automatic;
  std::optional<std::int64_t> source_date_epoch;
  ProgressMode progress = ProgressMode::plain;
  // Stages built at once when they do not depend on each other (1: one after another).
  unsigned jobs = 1;
  std::vector<OutputSpec> outputs;
  PullPolicy pull = PullPolicy::missing;
  RegistrySettings registry;  // how base images are pulled
  // Registry build caches (references): read on local misses, and written when done.
  std::vector<std::string> cache_from;
  std::optional<std::string> cache_to;
};

struct BuildResult {
  std::string image_id;  // the config digest
  store::ImageEntry image;
  std::size_t steps = 0;
  std::size_t cached_steps = 0;
};

// Builds and stores (and tags) the image. Throws Error with the step, the Dockerfile's
// file:line and the cause; a failed build leaves the store as it was (step layers that
// were finished stay in the cache). May enter a user namespace (for RUN steps): call it
// from a process that has started no other thread.
BuildResult build_image(store::Store& store, const BuildOptions& options);

// "type=oci,dest=out.tar" (also "dest=..,type=.."); throws Error when malformed.
OutputSpec parse_output(std::string_view text);
// --cache-from/--cache-to "type=registry,ref=REF[,mode=max|min]" (or a bare REF): the
// reference; throws Error naming `flag` when malformed.
std::string parse_cache_ref(std::string_view text, std::string_view flag);
// "id=ID,src=PATH" (also source=, type=file); throws Error.
Secret parse_secret(std::string_view text);
// --ssh "default" (the agent of $SSH_AUTH_SOCK) or "ID=SOCKET"; throws Error unless the path
// is an agent's socket (key files need an agent: ssh-add them to one).
std::pair<std::string, std::filesystem::path> parse_ssh(std::string_view text,
                                                        const char* auth_sock_env);

}  // namespace cairn::build
