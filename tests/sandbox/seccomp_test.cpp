#include "cairn/sandbox/seccomp.hpp"

#include <gtest/gtest.h>
#include <seccomp.h>

#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

namespace cairn::sandbox {
namespace {

const PolicyOptions kSingle{IdMode::single, true};
const PolicyOptions kRange{IdMode::range, true};

TEST(SeccompTable, EveryRowHasAReasonAndAKnownName) {
  for (const PolicyRule& rule : policy_table()) {
    EXPECT_FALSE(rule.reason.empty()) << rule.syscall;
    // Known to libseccomp on some architecture (a pseudo number is fine).
    EXPECT_NE(seccomp_syscall_resolve_name(std::string(rule.syscall).c_str()), __NR_SCMP_ERROR)
        << rule.syscall;
  }
}

TEST(SeccompTable, NoSyscallHasTwoVerdictsInOneMode) {
  for (IdMode mode : {IdMode::single, IdMode::range}) {
    std::map<std::string_view, Verdict> seen;
    for (const PolicyRule& rule : policy_table()) {
      const bool applies = rule.applies == PolicyRule::Applies::always ||
                           (rule.applies == PolicyRule::Applies::single_id) == (mode == IdMode::single);
      if (!applies) continue;
      const auto [it, inserted] = seen.emplace(rule.syscall, rule.verdict);
      EXPECT_TRUE(inserted || it->second == rule.verdict) << rule.syscall;
    }
  }
}

TEST(SeccompVerdicts, WhatABuildNeverNeedsIsDenied) {
  for (const char* name : {"kexec_load", "init_module", "finit_module", "delete_module", "bpf",
                           "perf_event_open", "keyctl", "add_key", "request_key", "userfaultfd",
                           "swapon", "swapoff", "reboot", "settimeofday", "clock_settime",
                           "adjtimex", "mount", "umount2", "pivot_root", "setns",
                           "open_by_handle_at", "io_uring_setup"})
    for (const auto& options : {kSingle, kRange})
      EXPECT_EQ(verdict_for(name, options), Verdict::deny) << name;
}

TEST(SeccompVerdicts, UnknownAndClone3AnswerEnosys) {
  EXPECT_EQ(verdict_for("clone3", kSingle), Verdict::enosys);
  EXPECT_EQ(verdict_for("no_such_syscall", kSingle), Verdict::enosys);
  EXPECT_EQ(verdict_for("fchmodat2", kRange), Verdict::enosys);
}

TEST(SeccompVerdicts, SingleIdEmulatesRootAndRangeModeDoesItForReal) {
  for (const char* name : {"setuid", "setresgid", "setgroups", "capset", "setfsuid"}) {
    EXPECT_EQ(verdict_for(name, kSingle), Verdict::fake) << name;
    EXPECT_EQ(verdict_for(name, kRange), Verdict::allow) << name;
  }
  for (const char* name : {"chown", "fchown", "lchown", "fchownat"}) {
    EXPECT_EQ(verdict_for(name, kSingle), Verdict::supervise) << name;
    EXPECT_EQ(verdict_for(name, kRange), Verdict::allow) << name;
    EXPECT_EQ(verdict_for(name, {IdMode::single, false}), Verdict::fake) << name;
  }
}

TEST(SeccompVerdicts, ArgumentRulesReportTheirStricterSide) {
  EXPECT_EQ(verdict_for("unshare", kSingle), Verdict::deny);  // with CLONE_NEWUSER
  EXPECT_EQ(verdict_for("clone", kRange), Verdict::deny);
  EXPECT_EQ(verdict_for("mknodat", kRange), Verdict::supervise);  // devices
}

TEST(SeccompVerdicts, EverydayCallsAreAllowed) {
  for (const char* name : {"read", "openat", "execve", "fork", "futex", "getdents64", "statx",
                           "socket", "ioctl", "rt_sigaction", "seccomp", "ptrace"})
    EXPECT_EQ(verdict_for(name, kSingle), Verdict::allow) << name;
}

TEST(SeccompCompile, BothModesCompileToAProgram) {
  for (const auto& options : {kSingle, kRange, PolicyOptions{IdMode::single, false}}) {
    const auto program = compile_policy(options);
    EXPECT_GT(program.size(), 100u);
    EXPECT_LT(program.size(), 4096u);  // BPF_MAXINSNS
  }
}

TEST(SeccompCache, ReusesAndRejectsACorruptedProgram) {
  const auto dir = std::filesystem::temp_directory_path() /
                   ("cairn-seccomp-test-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  const auto compiled = compile_policy(kSingle);
  const auto first = cached_policy(kSingle, dir);
  ASSERT_EQ(first.size(), compiled.size());
  EXPECT_EQ(std::memcmp(first.data(), compiled.data(), first.size() * sizeof(sock_filter)), 0);
  std::vector<std::filesystem::path> files;
  for (const auto& e : std::filesystem::directory_iterator(dir)) files.push_back(e.path());
  ASSERT_EQ(files.size(), 1u);
  // Flip one instruction byte: the digest no longer matches, so the cache is not trusted.
  {
    std::fstream f(files[0], std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(8);
    f.put('\x7f');
  }
  const auto again = cached_policy(kSingle, dir);
  EXPECT_EQ(std::memcmp(again.data(), compiled.data(), again.size() * sizeof(sock_filter)), 0);
  // The range-mode program is another file.
  (void)cached_policy(kRange, dir);
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir), {}), 2);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace cairn::sandbox
