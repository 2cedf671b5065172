// Compiles the policy table (seccomp_table.cpp) with libseccomp.
#include <errno.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <seccomp.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <sys/mman.h>

#include <cstring>
#include <memory>

#include <fcntl.h>
#include <fmt/format.h>

#include <optional>

#include "cairn/base/digest.hpp"
#include "cairn/base/error.hpp"
#include "cairn/base/sys.hpp"
#include "cairn/sandbox/seccomp.hpp"

namespace cairn::sandbox {
namespace {

bool applies(const PolicyRule& rule, IdMode mode) {
  switch (rule.applies) {
    case PolicyRule::Applies::always: return true;
    case PolicyRule::Applies::single_id: return mode == IdMode::single;
    case PolicyRule::Applies::range: return mode == IdMode::range;
  }
  return false;
}

// Argument rules, which the table cannot express by name alone:
//  - unshare and clone with CLONE_NEWUSER: EPERM. A nested user namespace would give the
//    payload back every capability the sandbox dropped (and unprivileged user namespaces
//    are where most kernel exploits start).
//  - mknod/mknodat of a character or block device: supervised in both modes. The kernel
//    never lets a user namespace make a device node; the supervisor records one in the
//    layer (an empty placeholder plus its device number), as docker's build would have it.
bool argument_rule(std::string_view name) {
  return name == "unshare" || name == "clone" || name == "mknod" || name == "mknodat";
}

Verdict supervised(const PolicyOptions& options) {
  return options.user_notification ? Verdict::supervise : Verdict::fake;
}

std::uint32_t action_of(Verdict verdict) {
  switch (verdict) {
    case Verdict::allow: return SCMP_ACT_ALLOW;
    case Verdict::deny: return SCMP_ACT_ERRNO(EPERM);
    case Verdict::enosys: return SCMP_ACT_ERRNO(ENOSYS);
    case Verdict::fake: return SCMP_ACT_ERRNO(0);
    case Verdict::supervise: return SCMP_ACT_NOTIFY;
  }
  return SCMP_ACT_ERRNO(ENOSYS);
}

struct FilterDeleter {
  void operator()(scmp_filter_ctx ctx) const { seccomp_release(ctx); }
};
using Filter = std::unique_ptr<void, FilterDeleter>;

void check(int rc, std::string_view what) {
  if (rc < 0) throw Error("seccomp: " + std::string(what) + ": " + std::strerror(-rc));
}

void add_argument_rules(scmp_filter_ctx ctx, const PolicyOptions& options) {
  const std::uint32_t device = action_of(supervised(options));
  const auto add = [&](std::uint32_t action, const char* name, unsigned arg,
                       scmp_datum_t mask, scmp_datum_t value) {
    const int nr = seccomp_syscall_resolve_name(name);
    if (nr == __NR_SCMP_ERROR) return;
    check(seccomp_rule_add(ctx, action, nr, 1, SCMP_CMP(arg, SCMP_CMP_MASKED_EQ, mask, value)),
          name);
  };
  for (const char* name : {"unshare", "clone"}) {
    add(SCMP_ACT_ALLOW, name, 0, CLONE_NEWUSER, 0);
    add(SCMP_ACT_ERRNO(EPERM), name, 0, CLONE_NEWUSER, CLONE_NEWUSER);
  }
  for (const auto& [name, arg] : {std::pair{"mknod", 1u}, std::pair{"mknodat", 2u}}) {
    add(device, name, arg, S_IFMT, S_IFCHR);
    add(device, name, arg, S_IFMT, S_IFBLK);
    for (mode_t type : {mode_t{S_IFREG}, mode_t{S_IFIFO}, mode_t{S_IFSOCK}, mode_t{0}})
      add(SCMP_ACT_ALLOW, name, arg, S_IFMT, type);
  }
}

}  // namespace

Verdict verdict_for(std::string_view syscall, const PolicyOptions& options) {
  if (syscall == "unshare" || syscall == "clone") return Verdict::deny;  // with CLONE_NEWUSER
  if (syscall == "mknod" || syscall == "mknodat") return supervised(options);  // devices
  for (const PolicyRule& rule : policy_table()) {
    if (rule.syscall != syscall || !applies(rule, options.mode)) continue;
    return rule.verdict == Verdict::supervise ? supervised(options) : rule.verdict;
  }
  return Verdict::enosys;
}

std::vector<sock_filter> compile_policy(const PolicyOptions& options) {
  Filter ctx(seccomp_init(SCMP_ACT_ERRNO(ENOSYS)));
  if (!ctx) throw Error("seccomp: seccomp_init failed");
  // no_new_privs is set by the sandbox itself, before the filter.
  check(seccomp_attr_set(ctx.get(), SCMP_FLTATR_CTL_NNP, 0), "no_new_privs attribute");
#if defined(__x86_64__)
  // 32-bit programs (i386) get the same policy instead of being killed.
  check(seccomp_arch_add(ctx.get(), SCMP_ARCH_X86), "add the x86 architecture");
#endif
  for (const PolicyRule& rule : policy_table()) {
    if (!applies(rule, options.mode) || argument_rule(rule.syscall)) continue;
    const int nr = seccomp_syscall_resolve_name(std::string(rule.syscall).c_str());
    if (nr == __NR_SCMP_ERROR) continue;  // not a syscall of these architectures
    const Verdict verdict = rule.verdict == Verdict::supervise ? supervised(options) : rule.verdict;
    if (verdict == Verdict::enosys) continue;  // the default action already
    check(seccomp_rule_add(ctx.get(), action_of(verdict), nr, 0), rule.syscall);
  }
  add_argument_rules(ctx.get(), options);
  const UniqueFd memory = sys::memfd("cairn-seccomp");
  check(seccomp_export_bpf(ctx.get(), memory.get()), "export the program");
  if (::lseek(memory.get(), 0, SEEK_SET) != 0) throw_errno("lseek", "seccomp program", errno);
  const std::string bytes = sys::read_all(memory.get(), "seccomp program");
  std::vector<sock_filter> program(bytes.size() / sizeof(sock_filter));
  std::memcpy(program.data(), bytes.data(), program.size() * sizeof(sock_filter));
  return program;
}

namespace {

std::string policy_key(const PolicyOptions& options) {
  const scmp_version* v = seccomp_version();
  std::string key = fmt::format("libseccomp {}.{}.{} mode {} notify {} arch {}\n", v->major,
                                v->minor, v->micro, static_cast<int>(options.mode),
                                options.user_notification, seccomp_arch_native());
  for (const PolicyRule& rule : policy_table())
    key += fmt::format("{} {} {}\n", rule.syscall, static_cast<int>(rule.verdict),
                       static_cast<int>(rule.applies));
  return sha256_hex(key);
}

std::string program_bytes(const std::vector<sock_filter>& program) {
  return std::string(reinterpret_cast<const char*>(program.data()),
                     program.size() * sizeof(sock_filter));
}

std::optional<std::vector<sock_filter>> load_cached(const std::filesystem::path& file) {
  std::string bytes;
  try {
    bytes = sys::read_file(file.string());
  } catch (const Error&) {
    return std::nullopt;
  }
  constexpr std::size_t kDigest = 64;
  if (bytes.size() <= kDigest || (bytes.size() - kDigest) % sizeof(sock_filter) != 0)
    return std::nullopt;
  const std::string_view body(bytes.data(), bytes.size() - kDigest);
  if (sha256_hex(body) != std::string_view(bytes).substr(body.size())) return std::nullopt;
  std::vector<sock_filter> program(body.size() / sizeof(sock_filter));
  std::memcpy(program.data(), body.data(), body.size());
  return program;
}

}  // namespace

std::vector<sock_filter> cached_policy(const PolicyOptions& options,
                                       const std::filesystem::path& cache_dir) {
  if (cache_dir.empty()) return compile_policy(options);
  const auto file = cache_dir / ("seccomp-" + policy_key(options) + ".bpf");
  if (auto program = load_cached(file)) return std::move(*program);
  std::vector<sock_filter> program = compile_policy(options);
  try {
    std::error_code ec;
    std::filesystem::create_directories(cache_dir, ec);
    const std::string body = program_bytes(program);
    const std::string temp = file.string() + ".tmp-" + std::to_string(::getpid());
    {
      const UniqueFd out = sys::open(temp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
      sys::write_all(out.get(), body + sha256_hex(body), temp);
    }
    if (::rename(temp.c_str(), file.c_str()) != 0) ::unlink(temp.c_str());
  } catch (const Error&) {
    // Only a cache: the next run compiles again.
  }
  return program;
}

bool kernel_has_user_notification() {
  seccomp_notif_sizes sizes{};
  return ::syscall(SYS_seccomp, SECCOMP_GET_NOTIF_SIZES, 0, &sizes) == 0;
}

}  // namespace cairn::sandbox
