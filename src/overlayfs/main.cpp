// cairn-overlayfs: cairn's overlay filesystem as a drop-in for fuse-overlayfs. Same command
// line (also as mount.fuse3 calls it for `mount -t fuse.cairn-overlayfs`), plain directories
// as layers, the kernel's whiteout format in them; usable as containers/storage's
// mount_program and by anything written for fuse-overlayfs.
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "cairn/base/error.hpp"
#include "cairn/overlay/mount.hpp"

namespace {

constexpr const char* kUsage =
    "Usage: cairn-overlayfs [-f] [-d] -o lowerdir=DIR[:DIR...][,upperdir=DIR,workdir=DIR][,OPTION...]\n"
    "                       [SOURCE] MOUNTPOINT\n"
    "\n"
    "Mounts an overlay of the lower directories (top-most first) under an optional writable\n"
    "upper directory, in the kernel overlayfs format (whiteouts are 0/0 character devices,\n"
    "opaque directories carry trusted.overlay.opaque or user.overlay.opaque). Options as\n"
    "fuse-overlayfs: squash_to_root, squash_to_uid=N, squash_to_gid=N,\n"
    "uidmapping=IN:OUT:COUNT[:...], gidmapping=..., ro, allow_other, debug; cairn_format reads\n"
    "and writes cairn layer directories instead. Unknown options are ignored with a warning.\n"
    "\n"
    "  -f           stay in the foreground\n"
    "  -d           debug output (implies -f)\n"
    "  -o OPTIONS   mount options, comma-separated (may repeat)\n"
    "  -h, --help   this text;  -V, --version  the version\n"
    "\n"
    "Unmount with `umount MOUNTPOINT` (inside the user namespace) or `fusermount3 -u MOUNTPOINT`.\n";

struct CommandLine {
  bool foreground = false;
  bool debug = false;
  std::vector<std::string> options;
  std::vector<std::string> positional;
};

CommandLine parse(int argc, char** argv) {
  CommandLine c;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "-h" || arg == "--help") {
      std::fputs(kUsage, stdout);
      std::exit(0);
    } else if (arg == "-V" || arg == "--version") {
      std::printf("cairn-overlayfs %s\n", CAIRN_VERSION);
      std::exit(0);
    } else if (arg == "-f") {
      c.foreground = true;
    } else if (arg == "-d" || arg == "--debug") {
      c.debug = c.foreground = true;
    } else if (arg == "-o") {
      if (i + 1 == argc) throw cairn::Error("-o needs a value");
      c.options.emplace_back(argv[++i]);
    } else if (arg.rfind("-o", 0) == 0) {
      c.options.push_back(arg.substr(2));
    } else if (arg.size() > 1 && arg[0] == '-') {
      throw cairn::Error("unknown argument " + arg).hint("see cairn-overlayfs --help");
    } else {
      c.positional.push_back(arg);
    }
  }
  if (c.positional.empty() || c.positional.size() > 2)
    throw cairn::Error("expected [SOURCE] MOUNTPOINT").hint("see cairn-overlayfs --help");
  return c;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const CommandLine c = parse(argc, argv);
    auto parsed = cairn::overlay::parse_overlayfs_options(c.options);
    for (const std::string& w : parsed.warnings) std::fprintf(stderr, "cairn-overlayfs: %s\n", w.c_str());
    parsed.options.debug = parsed.options.debug || c.debug;
    cairn::overlay::Mount mount(std::move(parsed.options), c.positional.back());
    cairn::overlay::Mount::daemonize(c.foreground);
    mount.handle_signals();
    return mount.serve() == 0 ? 0 : 1;
  } catch (const cairn::Error& e) {
    std::fprintf(stderr, "cairn-overlayfs: %s\n", e.what());
    return 1;
  }
}
