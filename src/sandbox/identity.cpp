#include "cairn/sandbox/identity.hpp"

#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <charconv>
#include <filesystem>

#include "cairn/base/error.hpp"
#include "cairn/base/process.hpp"
#include "cairn/base/sys.hpp"

namespace cairn::sandbox {
namespace {

std::vector<std::string_view> split(std::string_view text, char separator) {
  std::vector<std::string_view> out;
  for (;;) {
    const auto at = text.find(separator);
    out.push_back(text.substr(0, at));
    if (at == std::string_view::npos) return out;
    text.remove_prefix(at + 1);
  }
}

std::optional<unsigned> parse_id(std::string_view text) {
  unsigned value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || text.empty()) return std::nullopt;
  return value;
}

// Lines of an /etc/passwd-like text, split into fields; comments and blanks skipped.
template <typename Visit>
void for_each_entry(std::string_view text, Visit&& visit) {
  for (std::string_view line : split(text, '\n')) {
    if (line.empty() || line.front() == '#') continue;
    if (visit(split(line, ':'))) return;
  }
}

std::string read_or_empty(const char* path) {
  try {
    return sys::read_file(path);
  } catch (const Error&) {
    return {};
  }
}

bool executable(const char* path) { return ::access(path, X_OK) == 0; }

std::string find_program(const char* name) {
  for (const char* dir : {"/usr/bin/", "/usr/sbin/", "/bin/", "/sbin/", "/usr/local/bin/"}) {
    const std::string path = std::string(dir) + name;
    if (executable(path.c_str())) return path;
  }
  return {};
}

}  // namespace

std::string_view to_string(IdMode mode) { return mode == IdMode::range ? "range" : "single-id"; }

std::optional<IdModeChoice> parse_id_mode_choice(std::string_view text) {
  if (text == "auto") return IdModeChoice::automatic;
  if (text == "single" || text == "single-id") return IdModeChoice::single;
  if (text == "range") return IdModeChoice::range;
  return std::nullopt;
}

std::optional<SubidRange> find_subid_range(std::string_view file_text, std::string_view user,
                                           unsigned id) {
  std::optional<SubidRange> found;
  for_each_entry(file_text, [&](const std::vector<std::string_view>& f) {
    if (f.size() != 3) return false;
    const auto owner_id = parse_id(f[0]);
    if (f[0] != user && !(owner_id && *owner_id == id)) return false;
    const auto start = parse_id(f[1]);
    const auto count = parse_id(f[2]);
    if (!start || !count || *count == 0) return false;
    found = SubidRange{*start, *count};
    return true;
  });
  return found;
}

SubidRange free_subid_range(std::string_view subuid_text, std::string_view subgid_text) {
  constexpr unsigned long kCount = 65536;
  std::vector<std::pair<unsigned long, unsigned long>> taken;  // [start, end)
  for (std::string_view text : {subuid_text, subgid_text})
    for_each_entry(text, [&](const std::vector<std::string_view>& f) {
      const auto start = f.size() == 3 ? parse_id(f[1]) : std::nullopt;
      const auto count = f.size() == 3 ? parse_id(f[2]) : std::nullopt;
      if (start && count) taken.emplace_back(*start, static_cast<unsigned long>(*start) + *count);
      return false;
    });
  unsigned long start = 100000;
  for (bool moved = true; moved;) {
    moved = false;
    for (const auto& [from, to] : taken)
      if (from < start + kCount && start < to) {
        start = to;
        moved = true;
      }
  }
  return {static_cast<unsigned>(start), static_cast<unsigned>(kCount)};
}

HostIds probe_host() {
  HostIds host;
  host.uid = ::getuid();
  host.gid = ::getgid();
  if (const passwd* pw = ::getpwuid(host.uid)) host.user_name = pw->pw_name;
  host.have_newuidmap = !find_program("newuidmap").empty();
  host.have_newgidmap = !find_program("newgidmap").empty();
  const std::string subuid = read_or_empty("/etc/subuid");
  const std::string subgid = read_or_empty("/etc/subgid");
  host.subuid = find_subid_range(subuid, host.user_name, host.uid);
  host.subgid = find_subid_range(subgid, host.user_name, host.gid);
  host.free_range = free_subid_range(subuid, subgid);
  return host;
}

namespace {

// Why range mode is impossible, or empty when it is possible.
std::string range_blocker(const HostIds& host) {
  const std::string who = host.user_name.empty() ? std::to_string(host.uid) : host.user_name;
  if (host.uid == 0) return "cairn runs as root, whose ids need no subordinate range";
  if (!host.have_newuidmap || !host.have_newgidmap)
    return "newuidmap/newgidmap are not installed (Debian/Ubuntu: apt-get install uidmap)";
  const std::string range = std::to_string(host.free_range.start) + "-" +
                            std::to_string(host.free_range.start + host.free_range.count - 1);
  if (!host.subuid)
    return "/etc/subuid has no range for " + who + " (an administrator runs: usermod "
           "--add-subuids " + range + " --add-subgids " + range + " " + who + ")";
  if (!host.subgid)
    return "/etc/subgid has no range for " + who + " (an administrator runs: usermod "
           "--add-subgids " + range + " " + who + ")";
  return {};
}

std::vector<IdMapEntry> range_map(unsigned self, const SubidRange& range) {
  return {{0, self, 1}, {1, range.start, std::min(range.count, 65535u)}};
}

}  // namespace

Identity choose_identity(IdModeChoice choice, const HostIds& host) {
  Identity id;
  id.host_uid = host.uid;
  id.host_gid = host.gid;
  const std::string blocker = range_blocker(host);
  if (choice == IdModeChoice::range && !blocker.empty())
    throw Error("range mode (--userns=range) is not possible: " + blocker)
        .hint("use --userns=single, or auto to fall back by itself");
  if (choice != IdModeChoice::single && blocker.empty()) {
    id.mode = IdMode::range;
    id.uid_map = range_map(host.uid, *host.subuid);
    id.gid_map = range_map(host.gid, *host.subgid);
    id.reason = "newuidmap and a subordinate id range are available";
    return id;
  }
  id.mode = IdMode::single;
  id.uid_map = {{0, host.uid, 1}};
  id.gid_map = {{0, host.gid, 1}};
  id.fell_back = choice == IdModeChoice::automatic && host.uid != 0;
  id.reason = choice == IdModeChoice::single ? "asked for (single)" : blocker;
  return id;
}

namespace {

std::string map_text(const std::vector<IdMapEntry>& map) {
  std::string out;
  for (const IdMapEntry& e : map)
    out += std::to_string(e.inside) + " " + std::to_string(e.outside) + " " +
           std::to_string(e.count) + "\n";
  return out;
}

void write_proc_file(const std::string& path, const std::string& text) {
  UniqueFd fd = sys::open(path, O_WRONLY);
  const ssize_t n = ::write(fd.get(), text.data(), text.size());
  if (n != static_cast<ssize_t>(text.size()))
    throw_errno("write", path, n < 0 ? errno : EIO)
  ;
}

[[noreturn]] void throw_unshare_error(int error) {
  Error e("unshare", "user namespace", error);
  if (error == EPERM || error == EACCES || error == ENOSPC) {
    std::string hint;
    if (read_or_empty("/proc/sys/kernel/unprivileged_userns_clone").rfind("0", 0) == 0)
      hint = "unprivileged user namespaces are disabled: sysctl -w "
             "kernel.unprivileged_userns_clone=1";
    else if (read_or_empty("/proc/sys/kernel/apparmor_restrict_unprivileged_userns").rfind("1", 0) == 0)
      hint = "AppArmor restricts unprivileged user namespaces: sysctl -w "
             "kernel.apparmor_restrict_unprivileged_userns=0, or give cairn an AppArmor "
             "profile with `userns,`";
    else if (read_or_empty("/proc/sys/user/max_user_namespaces").rfind("0", 0) == 0)
      hint = "user namespaces are disabled: sysctl -w user.max_user_namespaces=15000";
    else
      hint = "see `cairn doctor` for what this machine allows";
    e.hint(hint);
  }
  throw e;
}

// Runs newuidmap and newgidmap for `pid` (which is in a new user namespace), both at once:
// each is a setuid program that parses /etc/subuid, which is most of a run's startup in
// range mode. Throws Error with their own message.
void run_id_map_tools(pid_t pid, const Identity& id) {
  struct Tool {
    const char* name;
    const std::vector<IdMapEntry>& map;
    UniqueFd output;
    std::optional<Child> child;
  };
  Tool tools[] = {{"newuidmap", id.uid_map, {}, {}}, {"newgidmap", id.gid_map, {}, {}}};
  for (Tool& tool : tools) {
    std::vector<std::string> argv = {tool.name, std::to_string(pid)};
    for (const IdMapEntry& e : tool.map) {
      argv.push_back(std::to_string(e.inside));
      argv.push_back(std::to_string(e.outside));
      argv.push_back(std::to_string(e.count));
    }
    auto [read_end, write_end] = sys::pipe();
    SpawnOptions options;
    options.argv = argv;
    options.stderr_fd = write_end.get();
    options.stdout_fd = write_end.get();
    tool.child.emplace(Child::spawn(options));
    tool.output = std::move(read_end);
  }
  for (Tool& tool : tools) {
    const std::string output = sys::read_all(tool.output.get(), tool.name);
    const int status = tool.child->wait();
    if (status == 0) continue;
    std::string message = output;
    while (!message.empty() && message.back() == '\n') message.pop_back();
    throw Error(std::string(tool.name) + " failed (exit status " + std::to_string(status) +
                "): " + message)
        .hint("check /etc/subuid and /etc/subgid, or use --userns=single");
  }
}

// A helper forked before unshare, while the caller is still in the parent user namespace
// (newuidmap is setuid root and only works from there). It waits for a byte, maps the
// caller, and reports the outcome: a status byte then a message.
class MapHelper {
 public:
  explicit MapHelper(const Identity& id) {
    auto [go_read, go_write] = sys::pipe();
    auto [result_read, result_write] = sys::pipe();
    const pid_t parent = ::getpid();
    pid_ = ::fork();
    if (pid_ < 0) throw_errno("fork", "id map helper", errno);
    if (pid_ == 0) {  // the caller is single-threaded, so the helper may allocate
      go_write.reset();
      result_read.reset();
      char byte;
      if (::read(go_read.get(), &byte, 1) != 1) ::_exit(1);
      std::string report = "0";
      try {
        run_id_map_tools(parent, id);
      } catch (const Error& e) {
        report = std::string("1") + e.what();
      }
      (void)!::write(result_write.get(), report.data(), report.size());
      ::_exit(0);
    }
    go_ = std::move(go_write);
    result_ = std::move(result_read);
  }
  MapHelper(const MapHelper&) = delete;
  MapHelper& operator=(const MapHelper&) = delete;
  ~MapHelper() {
    go_.reset();
    result_.reset();
    if (pid_ > 0) ::waitpid(pid_, nullptr, 0);
  }

  void map_now() {
    if (::write(go_.get(), "x", 1) != 1) throw_errno("write", "id map helper", errno);
    const std::string report = sys::read_all(result_.get(), "id map helper");
    ::waitpid(std::exchange(pid_, -1), nullptr, 0);
    if (report.empty()) throw Error("mapping ids: the newuidmap helper died");
    if (report[0] != '0') throw Error(report.substr(1));
  }

 private:
  pid_t pid_ = -1;
  UniqueFd go_, result_;
};

}  // namespace

void enter_user_namespace(const Identity& id) {
  std::optional<MapHelper> helper;
  if (id.mode == IdMode::range) helper.emplace(id);
  if (::unshare(CLONE_NEWUSER | CLONE_NEWNS) != 0) throw_unshare_error(errno);
  with_context("mapping ids in the user namespace", [&] {
    if (helper) {
      helper->map_now();
    } else {
      write_proc_file("/proc/self/setgroups", "deny");
      write_proc_file("/proc/self/uid_map", map_text(id.uid_map));
      write_proc_file("/proc/self/gid_map", map_text(id.gid_map));
    }
  });
  // The maps are written: become root of the namespace for real (range mode needs it to
  // set groups; both modes so that files the caller makes are its own on the host).
  if (::setresgid(0, 0, 0) != 0) throw_errno("setresgid", "0", errno);
  if (::setresuid(0, 0, 0) != 0) throw_errno("setresuid", "0", errno);
  if (id.mode == IdMode::range && ::setgroups(0, nullptr) != 0)
    throw_errno("setgroups", "none", errno);
  // Nothing cairn mounts from here on may reach the caller's view (and nothing the host
  // mounts later needs to reach ours).
  if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0)
    throw_errno("make mounts private", "/", errno);
}

namespace {

struct PasswdEntry {
  std::string name;
  uid_t uid = 0;
  gid_t gid = 0;
  std::string home;
};

std::optional<PasswdEntry> find_passwd(std::string_view text, std::string_view who) {
  std::optional<PasswdEntry> found;
  const auto numeric = parse_id(who);
  for_each_entry(text, [&](const std::vector<std::string_view>& f) {
    if (f.size() < 7) return false;
    const auto uid = parse_id(f[2]);
    const auto gid = parse_id(f[3]);
    if (!uid || !gid) return false;
    if (f[0] != who && !(numeric && *numeric == *uid)) return false;
    found = PasswdEntry{std::string(f[0]), *uid, *gid, std::string(f[5])};
    return true;
  });
  return found;
}

std::optional<gid_t> find_group(std::string_view text, std::string_view who) {
  std::optional<gid_t> found;
  const auto numeric = parse_id(who);
  for_each_entry(text, [&](const std::vector<std::string_view>& f) {
    if (f.size() < 3) return false;
    const auto gid = parse_id(f[2]);
    if (!gid || (f[0] != who && !(numeric && *numeric == *gid))) return false;
    found = *gid;
    return true;
  });
  return found;
}

std::vector<gid_t> supplementary_groups(std::string_view text, std::string_view user, gid_t primary) {
  std::vector<gid_t> groups;
  if (user.empty()) return groups;
  for_each_entry(text, [&](const std::vector<std::string_view>& f) {
    const auto gid = f.size() >= 4 ? parse_id(f[2]) : std::nullopt;
    if (!gid || *gid == primary) return false;
    for (std::string_view member : split(f[3], ','))
      if (member == user) {
        groups.push_back(*gid);
        break;
      }
    return false;
  });
  return groups;
}

}  // namespace

User resolve_user(std::string_view spec, std::string_view passwd_text,
                  std::string_view group_text) {
  const auto colon = spec.find(':');
  const std::string_view user_part = spec.substr(0, colon);
  const std::string_view group_part =
      colon == std::string_view::npos ? std::string_view() : spec.substr(colon + 1);
  if (user_part.empty()) throw Error("USER \"" + std::string(spec) + "\": no user name or id");
  User u;
  const auto entry = find_passwd(passwd_text, user_part);
  if (entry) {
    u.uid = entry->uid;
    u.gid = entry->gid;
    u.home = entry->home.empty() ? "/" : entry->home;
    u.name = entry->name;
  } else if (const auto uid = parse_id(user_part)) {
    u.uid = *uid;  // a numeric id without an entry: gid 0, home /, as docker does
  } else {
    throw Error("unable to find user " + std::string(user_part) +
                ": no matching entries in passwd file");
  }
  if (!group_part.empty()) {
    if (const auto gid = find_group(group_text, group_part))
      u.gid = *gid;
    else if (const auto numeric = parse_id(group_part))
      u.gid = *numeric;
    else
      throw Error("unable to find group " + std::string(group_part) +
                  ": no matching entries in group file");
  } else {
    u.groups = supplementary_groups(group_text, u.name, u.gid);
  }
  return u;
}

}  // namespace cairn::sandbox
