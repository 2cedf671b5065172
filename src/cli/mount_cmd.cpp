// cairn mount / cairn umount: an image's layers (or layer directories) as one overlay.
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

#include "app.hpp"
#include "cairn/base/error.hpp"
#include "cairn/overlay/mount.hpp"
#include "cairn/store/image.hpp"

namespace cairn::cli {
namespace {

namespace fs = std::filesystem;

struct MountArgs {
  std::vector<std::string> sources;  // images or layer directories, bottom first; then MOUNTPOINT
  std::string upper;
  bool foreground = false;
  bool read_only = false;
  bool stats = false;
};

bool is_layer_dir(const std::string& path) {
  std::error_code ec;
  return fs::is_directory(fs::path(path) / "root", ec);
}

// The lowers for the sources, top-most first: an image contributes its layers.
std::vector<overlay::LayerSource> lowers_of(const std::vector<std::string>& sources,
                                            std::optional<store::Store>& store,
                                            const Config& config) {
  std::vector<overlay::LayerSource> bottom_first;
  for (const std::string& source : sources) {
    if (is_layer_dir(source)) {
      bottom_first.push_back({fs::absolute(source), overlay::Format::cairn});
      continue;
    }
    std::error_code ec;
    if (fs::is_directory(source, ec))
      throw Error(source + " is a directory but not a cairn layer (it has no root/)")
          .hint("plain directories mount with cairn-overlayfs -o lowerdir=...");
    if (!store) store.emplace(open_store(config));
    const auto image = resolve(*store, source);
    with_context("image " + source, [&] { store::ensure_unpacked(*store, image); });
    const auto top_first = store::layer_dirs(*store, store::read_config(*store, image), source);
    for (auto dir = top_first.rbegin(); dir != top_first.rend(); ++dir)
      bottom_first.push_back({dir->path, overlay::Format::cairn});
  }
  return {bottom_first.rbegin(), bottom_first.rend()};
}

// A cairn layer directory for the upper, made if missing.
overlay::LayerSource upper_of(const std::string& dir) {
  std::error_code ec;
  fs::create_directories(fs::path(dir) / "root", ec);
  if (ec) throw_errno("mkdir", dir + "/root", ec.value());
  return {fs::absolute(dir), overlay::Format::cairn};
}

int run_mount(const MountArgs& args, const Config& config) {
  if (args.sources.size() < 2)
    throw Error("cairn mount needs at least one image or layer directory and a mount point");
  const std::string mountpoint = args.sources.back();
  const std::vector<std::string> sources(args.sources.begin(), args.sources.end() - 1);
  // The store stays open (its shared lock held) while the mount lives: prune waits.
  std::optional<store::Store> store;
  overlay::MountOptions options;
  options.lowers = lowers_of(sources, store, config);
  if (!args.upper.empty()) options.upper = upper_of(args.upper);
  options.read_only = args.read_only || args.upper.empty();
  options.fsname = "cairn";
  overlay::Mount mount = with_context("cairn mount " + mountpoint, [&] {
    return overlay::Mount(std::move(options), mountpoint);
  });
  overlay::Mount::daemonize(args.foreground);
  mount.handle_signals();
  const int status = mount.serve();
  if (args.stats) {
    fmt::print(stderr, "cairn mount: {} inodes at most; {} paths changed\n", mount.peak_inodes(),
               mount.changes().size());
    for (const std::string& path : mount.changes()) fmt::print(stderr, "  /{}\n", path);
  }
  return status == 0 ? 0 : 1;
}

Command register_mount(CLI::App& root) {
  auto args = std::make_shared<MountArgs>();
  CLI::App* app = root.add_subcommand(
      "mount", "Mount images or layer directories as one overlay (cairn's FUSE filesystem)");
  app->add_option("source", args->sources,
                  "IMAGE or LAYERDIR..., bottom first, then MOUNTPOINT")
      ->required()
      ->expected(2, -1);
  app->add_option("--upper", args->upper,
                  "Writable layer directory for changes (made if missing); without it the "
                  "mount is read-only")
      ->type_name("DIR");
  app->add_flag("-f,--foreground", args->foreground,
                "Serve in the foreground until unmounted or interrupted");
  app->add_flag("--read-only", args->read_only, "Mount read-only even with --upper");
  app->add_flag("--stats", args->stats,
                "With --foreground: print the inode peak and the changed paths at the end");
  return {app, [args](const Config& config) { return run_mount(*args, config); }};
}

Command register_umount(CLI::App& root) {
  auto mountpoint = std::make_shared<std::string>();
  auto lazy = std::make_shared<bool>(false);
  CLI::App* app = root.add_subcommand("umount", "Unmount a cairn mount");
  app->add_option("mountpoint", *mountpoint, "Where it is mounted")->required();
  app->add_flag("-z,--lazy", *lazy, "Detach now, finish when no longer busy");
  return {app, [mountpoint, lazy](const Config&) {
            overlay::unmount(*mountpoint, *lazy);
            return 0;
          }};
}

}  // namespace

std::vector<Command> register_mount_commands(CLI::App& root) {
  return {register_mount(root), register_umount(root)};
}

}  // namespace cairn::cli
