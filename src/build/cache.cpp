#include "cache.hpp"

#include <fcntl.h>
#include <unistd.h>

#include "cairn/base/digest.hpp"
#include "cairn/base/error.hpp"
#include "cairn/base/sys.hpp"

namespace cairn::build {
namespace fs = std::filesystem;
using nlohmann::json;

std::string step_key(const std::string& parent, const json& inputs) {
  // json dumps objects with sorted keys: the same inputs always give the same text.
  return Sha256()
      .update(kCacheVersion)
      .update("\n")
      .update(parent)
      .update("\n")
      .update(inputs.dump())
      .hex_digest();
}

StepCache::StepCache(store::Store& store)
    : store_(store), dir_(store.root() / "cairn/build-cache") {
  std::error_code ec;
  fs::create_directories(dir_, ec);
}

std::optional<ImageState> StepCache::lookup(const std::string& key) const {
  const int fd = ::open((dir_ / key).c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  const UniqueFd file(fd);
  try {
    ImageState state = state_from_json(json::parse(sys::read_all(file.get(), "cache entry")));
    // A prune may have removed what the entry names: then it is a miss.
    for (const auto& blob : state.layers)
      if (!store_.has_blob(blob.digest) || !store_.has_layer(blob.diff_id)) return std::nullopt;
    return state;
  } catch (const std::exception&) {
    return std::nullopt;  // a damaged entry is a miss; the step rewrites it
  }
}

void StepCache::save(const std::string& key, const ImageState& state) const {
  const json entry = state_to_json(state);
  const fs::path temp = dir_ / (key + ".tmp" + std::to_string(::getpid()));
  {
    const UniqueFd out = sys::open(temp.string(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    sys::write_all(out.get(), entry.dump(), temp.string());
  }
  if (::rename(temp.c_str(), (dir_ / key).c_str()) != 0)
    throw_errno("rename", temp.string(), errno);
}

}  // namespace cairn::build
