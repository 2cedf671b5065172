#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "cairn/base/error.hpp"
#include "catch_error.hpp"
#include "cairn/base/fd.hpp"
#include "cairn/base/process.hpp"
#include "cairn/base/sys.hpp"

namespace cairn {
namespace {

namespace fs = std::filesystem;

bool is_open(int fd) {
  return ::fcntl(fd, F_GETFD) != -1;
}

bool is_closed(int fd) {
  return ::fcntl(fd, F_GETFD) == -1 && errno == EBADF;
}

bool is_cloexec(int fd) {
  const int flags = ::fcntl(fd, F_GETFD);
  return flags != -1 && (flags & FD_CLOEXEC) != 0;
}

// A plain descriptor without close-on-exec, as a foreign library would create.
int raw_dev_null() {
  const int fd = ::open("/dev/null", O_RDONLY);
  if (fd < 0) std::abort();
  return fd;
}

bool running_as_root() {
  return ::geteuid() == 0;
}

// A fresh directory under /tmp, removed with everything in it at the end of the test.
class TempDir {
 public:
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "cairn-base-test-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) std::abort();
    path_ = pattern;
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir() {
    std::error_code ec;
    // Tests may have taken permissions away; give them back so that removal works.
    for (auto it = fs::recursive_directory_iterator(path_, ec);
         !ec && it != fs::recursive_directory_iterator(); it.increment(ec))
      if (it->is_directory(ec)) ::chmod(it->path().c_str(), 0700);
    ::chmod(path_.c_str(), 0700);
    fs::remove_all(path_, ec);
  }

  const fs::path& path() const { return path_; }
  std::string file(const std::string& name) const { return (path_ / name).string(); }

  // Names of the entries in the directory (not recursive).
  std::set<std::string> entries() const {
    std::set<std::string> names;
    for (const auto& entry : fs::directory_iterator(path_))
      names.insert(entry.path().filename().string());
    return names;
  }

 private:
  fs::path path_;
};

// Sets the umask for the duration of a test.
class ScopedUmask {
 public:
  explicit ScopedUmask(mode_t mask) : saved_(::umask(mask)) {}
  ~ScopedUmask() { ::umask(saved_); }

 private:
  mode_t saved_;
};

mode_t permissions(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return static_cast<mode_t>(-1);
  return st.st_mode & 07777;
}

using testing::catch_error;

// --- UniqueFd ---------------------------------------------------------------------------

TEST(UniqueFd, DefaultIsEmpty) {
  UniqueFd fd;
  EXPECT_EQ(fd.get(), -1);
  EXPECT_FALSE(fd);
}

TEST(UniqueFd, DestructorClosesTheDescriptor) {
  const int raw = raw_dev_null();
  {
    UniqueFd fd(raw);
    EXPECT_TRUE(fd);
    EXPECT_EQ(fd.get(), raw);
    EXPECT_TRUE(is_open(raw));
  }
  EXPECT_TRUE(is_closed(raw));
}

TEST(UniqueFd, MovedFromObjectDoesNotCloseAgain) {
  const int raw = raw_dev_null();
  auto first = std::make_unique<UniqueFd>(raw);
  UniqueFd second(std::move(*first));
  EXPECT_EQ(first->get(), -1);
  EXPECT_FALSE(*first);
  EXPECT_EQ(second.get(), raw);

  second.reset();
  ASSERT_TRUE(is_closed(raw));
  // The lowest free number is reused; a second close would hit the new descriptor.
  const int reused = raw_dev_null();
  first.reset();
  EXPECT_TRUE(is_open(reused));
  ::close(reused);
}

TEST(UniqueFd, MoveAssignmentClosesTheOldDescriptorAndTakesTheNewOne) {
  const int a = raw_dev_null();
  const int b = raw_dev_null();
  UniqueFd target(a);
  UniqueFd source(b);
  target = std::move(source);
  EXPECT_TRUE(is_closed(a));
  EXPECT_EQ(target.get(), b);
  EXPECT_EQ(source.get(), -1);
  EXPECT_TRUE(is_open(b));
}

TEST(UniqueFd, SelfMoveAssignmentKeepsTheDescriptor) {
  const int raw = raw_dev_null();
  UniqueFd fd(raw);
  UniqueFd& alias = fd;
  fd = std::move(alias);
  EXPECT_EQ(fd.get(), raw);
  EXPECT_TRUE(is_open(raw));
}

TEST(UniqueFd, ReleaseGivesUpOwnershipWithoutClosing) {
  const int raw = raw_dev_null();
  {
    UniqueFd fd(raw);
    EXPECT_EQ(fd.release(), raw);
    EXPECT_EQ(fd.get(), -1);
  }
  EXPECT_TRUE(is_open(raw));
  ::close(raw);
}

TEST(UniqueFd, ResetClosesTheOldDescriptorAndOwnsTheNewOne) {
  const int a = raw_dev_null();
  const int b = raw_dev_null();
  {
    UniqueFd fd(a);
    fd.reset(b);
    EXPECT_TRUE(is_closed(a));
    EXPECT_EQ(fd.get(), b);
    EXPECT_TRUE(is_open(b));
    fd.reset();
    EXPECT_TRUE(is_closed(b));
    EXPECT_EQ(fd.get(), -1);
  }
}

// --- sys: descriptors -------------------------------------------------------------------

TEST(Sys, OpenSetsCloseOnExec) {
  UniqueFd fd = sys::open("/dev/null", O_RDONLY);
  ASSERT_TRUE(fd);
  EXPECT_TRUE(is_cloexec(fd.get()));
}

TEST(Sys, OpenCreatesWithTheGivenMode) {
  TempDir dir;
  ScopedUmask umask(022);
  const std::string path = dir.file("new");
  {
    UniqueFd fd = sys::open(path, O_WRONLY | O_CREAT | O_EXCL, 0640);
    EXPECT_TRUE(is_cloexec(fd.get()));
  }
  EXPECT_EQ(permissions(path), 0640u);
}

TEST(Sys, OpenOfAMissingFileThrowsWithPathAndErrno) {
  TempDir dir;
  const std::string missing = dir.file("does-not-exist");
  const Error error = catch_error([&] { sys::open(missing, O_RDONLY); });
  EXPECT_EQ(error.errno_value(), ENOENT);
  EXPECT_EQ(error.path(), missing);
  EXPECT_NE(std::string(error.what()).find(missing), std::string::npos) << error.what();
  EXPECT_NE(std::string(error.what()).find("No such file or directory"), std::string::npos);
  EXPECT_EQ(std::string(error.what()).rfind("open ", 0), 0u) << error.what();
}

TEST(Sys, OpenatIsRelativeToTheDirectoryAndCloseOnExec) {
  TempDir dir;
  sys::write_file_atomic(dir.file("inside"), "relative");
  UniqueFd dirfd = sys::open(dir.path().string(), O_RDONLY | O_DIRECTORY);
  UniqueFd fd = sys::openat(dirfd.get(), "inside", O_RDONLY);
  EXPECT_TRUE(is_cloexec(fd.get()));
  EXPECT_EQ(sys::read_all(fd.get(), "inside"), "relative");

  const Error error = catch_error([&] { sys::openat(dirfd.get(), "missing", O_RDONLY); });
  EXPECT_EQ(error.errno_value(), ENOENT);
  EXPECT_EQ(error.path(), "missing");
}

TEST(Sys, PipeEndsAreBothCloseOnExecAndConnected) {
  auto [read_end, write_end] = sys::pipe();
  ASSERT_TRUE(read_end);
  ASSERT_TRUE(write_end);
  EXPECT_TRUE(is_cloexec(read_end.get()));
  EXPECT_TRUE(is_cloexec(write_end.get()));
  sys::write_all(write_end.get(), "through the pipe", "pipe");
  write_end.reset();
  EXPECT_EQ(sys::read_all(read_end.get(), "pipe"), "through the pipe");
}

TEST(Sys, DupIsCloseOnExecAndSharesTheFile) {
  auto [read_end, write_end] = sys::pipe();
  const int raw = ::dup(write_end.get());  // without close-on-exec
  ASSERT_FALSE(is_cloexec(raw));
  UniqueFd copy = sys::dup(raw);
  ::close(raw);
  EXPECT_NE(copy.get(), write_end.get());
  EXPECT_TRUE(is_cloexec(copy.get()));
  sys::write_all(copy.get(), "via dup", "dup");
  copy.reset();
  write_end.reset();
  EXPECT_EQ(sys::read_all(read_end.get(), "pipe"), "via dup");
}

TEST(Sys, DupOfABadDescriptorThrows) {
  const Error error = catch_error([] { sys::dup(-1); });
  EXPECT_EQ(error.errno_value(), EBADF);
}

TEST(Sys, PidfdOpenIsCloseOnExec) {
  UniqueFd fd = sys::pidfd_open(::getpid());
  EXPECT_TRUE(is_cloexec(fd.get()));
}

TEST(Sys, DescriptorsFromSysAreNotInheritedByChildren) {
  UniqueFd cloexec = sys::open("/dev/null", O_RDONLY);
  const int inherited = raw_dev_null();
  auto fd_exists_in_child = [](int fd) {
    Child child =
        Child::spawn({.argv = {"sh", "-c", "test -e /proc/self/fd/" + std::to_string(fd)}});
    return child.wait() == 0;
  };
  EXPECT_FALSE(fd_exists_in_child(cloexec.get()));
  EXPECT_TRUE(fd_exists_in_child(inherited));  // the control: the probe can see descriptors
  ::close(inherited);
}

// --- sys: reading and writing -----------------------------------------------------------

TEST(Sys, ReadFileReturnsWhatWriteAllWrote) {
  TempDir dir;
  const std::string path = dir.file("data");
  std::string content;
  for (int i = 0; i < 200000; ++i)
    content += static_cast<char>(i * 31 % 256);  // with NULs
  {
    UniqueFd fd = sys::open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    sys::write_all(fd.get(), content, path);
  }
  EXPECT_EQ(sys::read_file(path), content);
}

TEST(Sys, ReadFileOfAnEmptyFileIsEmpty) {
  TempDir dir;
  const std::string path = dir.file("empty");
  sys::open(path, O_WRONLY | O_CREAT, 0600);
  EXPECT_EQ(sys::read_file(path), "");
}

TEST(Sys, ReadFileOfAMissingFileThrows) {
  TempDir dir;
  const Error error = catch_error([&] { sys::read_file(dir.file("nope")); });
  EXPECT_EQ(error.errno_value(), ENOENT);
  EXPECT_EQ(error.path(), dir.file("nope"));
}

TEST(Sys, ReadErrorsNameTheSource) {
  UniqueFd write_only = sys::open("/dev/null", O_WRONLY);
  const Error error = catch_error([&] { sys::read_all(write_only.get(), "the null device"); });
  EXPECT_EQ(error.errno_value(), EBADF);
  EXPECT_EQ(error.path(), "the null device");
}

TEST(Sys, WriteErrorsNameTheTarget) {
  UniqueFd read_only = sys::open("/dev/null", O_RDONLY);
  const Error error = catch_error([&] { sys::write_all(read_only.get(), "x", "layer.tar"); });
  EXPECT_EQ(error.errno_value(), EBADF);
  EXPECT_NE(std::string(error.what()).find("write layer.tar"), std::string::npos) << error.what();
}

TEST(Sys, WriteAllOfNothingWritesNothing) {
  UniqueFd read_only = sys::open("/dev/null", O_RDONLY);
  EXPECT_NO_THROW(sys::write_all(read_only.get(), "", "nothing"));
}

// --- sys::write_file_atomic -------------------------------------------------------------

TEST(WriteFileAtomic, CreatesANewFile) {
  TempDir dir;
  const std::string path = dir.file("config.json");
  sys::write_file_atomic(path, "{\"a\": 1}\n");
  EXPECT_EQ(sys::read_file(path), "{\"a\": 1}\n");
  EXPECT_EQ(dir.entries(), std::set<std::string>{"config.json"});
}

TEST(WriteFileAtomic, ReplacesTheContentAndLeavesNoTempFiles) {
  TempDir dir;
  const std::string path = dir.file("index.json");
  sys::write_file_atomic(path, std::string(10000, 'x'));
  sys::write_file_atomic(path, "short");
  EXPECT_EQ(sys::read_file(path), "short");
  sys::write_file_atomic(path, "");
  EXPECT_EQ(sys::read_file(path), "");
  EXPECT_EQ(dir.entries(), std::set<std::string>{"index.json"});
}

TEST(WriteFileAtomic, ReplacesByRenameSoOpenReadersKeepTheOldContent) {
  TempDir dir;
  const std::string path = dir.file("manifest");
  sys::write_file_atomic(path, "old content");
  struct stat before {};
  ASSERT_EQ(::stat(path.c_str(), &before), 0);
  UniqueFd reader = sys::open(path, O_RDONLY);

  sys::write_file_atomic(path, "new content");

  struct stat after {};
  ASSERT_EQ(::stat(path.c_str(), &after), 0);
  EXPECT_NE(before.st_ino, after.st_ino) << "the file was rewritten in place, not replaced";
  EXPECT_EQ(sys::read_all(reader.get(), path), "old content");
  EXPECT_EQ(sys::read_file(path), "new content");
}

TEST(WriteFileAtomic, HonoursTheMode) {
  TempDir dir;
  ScopedUmask umask(022);
  sys::write_file_atomic(dir.file("private"), "secret", 0600);
  EXPECT_EQ(permissions(dir.file("private")), 0600u);
  sys::write_file_atomic(dir.file("group"), "shared", 0640);
  EXPECT_EQ(permissions(dir.file("group")), 0640u);
  sys::write_file_atomic(dir.file("default"), "public");
  EXPECT_EQ(permissions(dir.file("default")), 0644u);
}

TEST(WriteFileAtomic, ReplacementTakesTheNewMode) {
  TempDir dir;
  ScopedUmask umask(022);
  const std::string path = dir.file("key");
  sys::write_file_atomic(path, "v1", 0644);
  sys::write_file_atomic(path, "v2", 0600);
  EXPECT_EQ(permissions(path), 0600u);
  EXPECT_EQ(sys::read_file(path), "v2");
}

TEST(WriteFileAtomic, RelativePathIsResolvedInTheWorkingDirectory) {
  TempDir dir;
  const fs::path saved = fs::current_path();
  fs::current_path(dir.path());
  EXPECT_NO_THROW(sys::write_file_atomic("relative.txt", "here"));
  fs::current_path(saved);
  EXPECT_EQ(sys::read_file(dir.file("relative.txt")), "here");
  EXPECT_EQ(dir.entries(), std::set<std::string>{"relative.txt"});
}

TEST(WriteFileAtomic, MissingDirectoryThrowsAndCreatesNothing) {
  TempDir dir;
  const std::string path = dir.file("missing/file");
  const Error error = catch_error([&] { sys::write_file_atomic(path, "data"); });
  EXPECT_EQ(error.errno_value(), ENOENT);
  EXPECT_NE(std::string(error.what()).find(dir.file("missing")), std::string::npos) << error.what();
  EXPECT_TRUE(dir.entries().empty());
}

TEST(WriteFileAtomic, TargetThatIsADirectoryThrowsAndLeavesNoTempFile) {
  TempDir dir;
  const std::string path = dir.file("occupied");
  ASSERT_EQ(::mkdir(path.c_str(), 0755), 0);
  const Error error = catch_error([&] { sys::write_file_atomic(path, "data"); });
  EXPECT_NE(error.errno_value(), 0);
  EXPECT_NE(std::string(error.what()).find(path), std::string::npos) << error.what();
  EXPECT_EQ(dir.entries(), std::set<std::string>{"occupied"});
  EXPECT_TRUE(fs::is_directory(path));
  EXPECT_TRUE(fs::is_empty(path));
}

TEST(WriteFileAtomic, UnwritableDirectoryThrowsAndKeepsTheOldFile) {
  if (running_as_root()) GTEST_SKIP() << "root bypasses directory permissions";
  TempDir dir;
  const std::string path = dir.file("locked");
  sys::write_file_atomic(path, "original");
  ASSERT_EQ(::chmod(dir.path().c_str(), 0555), 0);
  const Error error = catch_error([&] { sys::write_file_atomic(path, "replacement"); });
  EXPECT_EQ(error.errno_value(), EACCES);
  ASSERT_EQ(::chmod(dir.path().c_str(), 0755), 0);
  EXPECT_EQ(sys::read_file(path), "original");
  EXPECT_EQ(dir.entries(), std::set<std::string>{"locked"});
}

TEST(WriteFileAtomic, SucceedsInADirectoryThatCanNotBeListed) {
  if (running_as_root()) GTEST_SKIP() << "root bypasses directory permissions";
  // Write and search permission are all a rename needs; the directory fsync afterwards is
  // best effort and must not turn a completed replacement into an error.
  TempDir dir;
  const std::string path = dir.file("dropbox");
  ASSERT_EQ(::chmod(dir.path().c_str(), 0300), 0);
  EXPECT_NO_THROW(sys::write_file_atomic(path, "delivered"));
  ASSERT_EQ(::chmod(dir.path().c_str(), 0700), 0);
  EXPECT_EQ(sys::read_file(path), "delivered");
  EXPECT_EQ(dir.entries(), std::set<std::string>{"dropbox"});
}

// --- Child ------------------------------------------------------------------------------

SpawnOptions command(std::vector<std::string> argv) {
  SpawnOptions options;
  options.argv = std::move(argv);
  return options;
}

int run(std::vector<std::string> argv) {
  return Child::spawn(command(std::move(argv))).wait();
}

// Spawns `options` with stdout on a pipe and returns what the child printed.
std::string output_of(SpawnOptions options, int* status = nullptr) {
  auto [read_end, write_end] = sys::pipe();
  options.stdout_fd = write_end.get();
  Child child = Child::spawn(options);
  write_end.reset();
  std::string out = sys::read_all(read_end.get(), "child stdout");
  const int code = child.wait();
  if (status) *status = code;
  return out;
}

bool process_gone(pid_t pid) {
  int status;
  const bool not_our_child = ::waitpid(pid, &status, WNOHANG) == -1 && errno == ECHILD;
  const bool no_such_process = ::kill(pid, 0) == -1 && errno == ESRCH;
  return not_our_child && no_such_process;
}

TEST(Child, ExitStatusIsReturned) {
  EXPECT_EQ(run({"true"}), 0);
  EXPECT_EQ(run({"false"}), 1);
  EXPECT_EQ(run({"sh", "-c", "exit 3"}), 3);
  EXPECT_EQ(run({"sh", "-c", "exit 255"}), 255);
}

TEST(Child, DeathBySignalIs128PlusTheSignal) {
  EXPECT_EQ(run({"sh", "-c", "kill -9 $$"}), 128 + SIGKILL);
  Child child = Child::spawn(command({"sleep", "100"}));
  child.kill(SIGTERM);
  EXPECT_EQ(child.wait(), 128 + SIGTERM);
}

TEST(Child, PidAndPidfdAreValidUntilWaited) {
  Child child = Child::spawn(command({"true"}));
  EXPECT_GT(child.pid(), 0);
  EXPECT_TRUE(is_cloexec(child.pidfd()));
  EXPECT_EQ(child.wait(), 0);
  EXPECT_EQ(child.pidfd(), -1);
}

TEST(Child, WaitingTwiceThrows) {
  Child child = Child::spawn(command({"true"}));
  EXPECT_EQ(child.wait(), 0);
  EXPECT_THROW(child.wait(), Error);
}

TEST(Child, KillAfterWaitIsHarmless) {
  Child child = Child::spawn(command({"true"}));
  child.wait();
  EXPECT_NO_THROW(child.kill(SIGKILL));
}

TEST(Child, KillOfAnExitedButUnwaitedChildDoesNotThrow) {
  Child child = Child::spawn(command({"true"}));
  // Wait until it is a zombie without reaping it; signalling a zombie is not an error.
  siginfo_t info{};
  ASSERT_EQ(::waitid(P_PID, static_cast<id_t>(child.pid()), &info, WEXITED | WNOWAIT), 0);
  EXPECT_NO_THROW(child.kill(SIGTERM));
  EXPECT_EQ(child.wait(), 0);
}

// Sets PATH for the duration of a test. execvp reports EACCES rather than ENOENT when some
// PATH entry can not be searched (as /root/... entries can not for an unprivileged user).
class ScopedPath {
 public:
  explicit ScopedPath(const char* path) {
    if (const char* old = std::getenv("PATH")) saved_ = old;
    ::setenv("PATH", path, 1);
  }
  ~ScopedPath() {
    if (saved_)
      ::setenv("PATH", saved_->c_str(), 1);
    else
      ::unsetenv("PATH");
  }

 private:
  std::optional<std::string> saved_;
};

TEST(Child, MissingProgramThrowsNamingItWithEnoent) {
  ScopedPath path("/usr/bin:/bin");
  const Error error = catch_error([] { Child::spawn(command({"cairn-no-such-program-7f3a"})); });
  EXPECT_EQ(error.errno_value(), ENOENT);
  EXPECT_EQ(error.path(), "cairn-no-such-program-7f3a");
  EXPECT_NE(std::string(error.what()).find("cairn-no-such-program-7f3a"), std::string::npos);
  EXPECT_NE(std::string(error.what()).find("No such file or directory"), std::string::npos);
  // The failed child was reaped: this process has no children left.
  int status;
  EXPECT_EQ(::waitpid(-1, &status, WNOHANG), -1);
  EXPECT_EQ(errno, ECHILD);
}

TEST(Child, MissingAbsolutePathThrowsEnoent) {
  TempDir dir;
  const std::string missing = dir.file("missing-program");
  const Error error = catch_error([&] { Child::spawn(command({missing})); });
  EXPECT_EQ(error.errno_value(), ENOENT);
  EXPECT_EQ(error.path(), missing);
  EXPECT_NE(std::string(error.what()).find(missing), std::string::npos) << error.what();
}

TEST(Child, NonExecutableFileThrowsEacces) {
  TempDir dir;
  const std::string script = dir.file("not-executable");
  sys::write_file_atomic(script, "#!/bin/sh\nexit 0\n", 0644);
  const Error error = catch_error([&] { Child::spawn(command({script})); });
  EXPECT_EQ(error.errno_value(), EACCES);
  EXPECT_EQ(error.path(), script);
}

TEST(Child, EmptyArgvThrows) {
  EXPECT_THROW(Child::spawn(SpawnOptions{}), Error);
}

TEST(Child, StdoutCanBeRedirectedToAPipe) {
  int status = -1;
  EXPECT_EQ(output_of(command({"echo", "hello", "world"}), &status), "hello world\n");
  EXPECT_EQ(status, 0);
}

TEST(Child, StderrCanBeRedirectedToAPipe) {
  auto [read_end, write_end] = sys::pipe();
  SpawnOptions options = command({"sh", "-c", "echo oops >&2; echo fine"});
  options.stderr_fd = write_end.get();
  options.stdout_fd = ::open("/dev/null", O_WRONLY);
  ASSERT_GE(options.stdout_fd, 0);
  Child child = Child::spawn(options);
  ::close(options.stdout_fd);
  write_end.reset();
  EXPECT_EQ(sys::read_all(read_end.get(), "child stderr"), "oops\n");
  EXPECT_EQ(child.wait(), 0);
}

TEST(Child, StdinCanComeFromAPipe) {
  auto [in_read, in_write] = sys::pipe();
  SpawnOptions options = command({"tr", "a-z", "A-Z"});
  options.stdin_fd = in_read.get();
  sys::write_all(in_write.get(), "shout\n", "stdin pipe");
  in_write.reset();
  // The child owns the only write end it needs; ours is closed, so it sees EOF.
  const std::string out = [&] {
    auto [out_read, out_write] = sys::pipe();
    options.stdout_fd = out_write.get();
    Child child = Child::spawn(options);
    out_write.reset();
    std::string text = sys::read_all(out_read.get(), "child stdout");
    EXPECT_EQ(child.wait(), 0);
    return text;
  }();
  EXPECT_EQ(out, "SHOUT\n");
}

TEST(Child, DescriptorAlreadyAtItsTargetNumberIsKeptOpenAcrossExec) {
  // The caller's fd 1 is a close-on-exec pipe and stdout_fd is 1 itself: dup2 would be a
  // no-op that leaves close-on-exec set, so spawn has to clear the flag.
  auto [read_end, write_end] = sys::pipe();
  std::fflush(stdout);
  const int saved_stdout = ::dup(STDOUT_FILENO);
  ASSERT_GE(saved_stdout, 0);
  ASSERT_EQ(::dup3(write_end.get(), STDOUT_FILENO, O_CLOEXEC), STDOUT_FILENO);
  write_end.reset();
  int status = -1;
  std::string error;
  try {
    SpawnOptions options = command({"echo", "on fd 1"});
    options.stdout_fd = STDOUT_FILENO;
    status = Child::spawn(options).wait();
  } catch (const Error& e) {
    error = e.what();
  }
  ::dup2(saved_stdout, STDOUT_FILENO);
  ::close(saved_stdout);
  EXPECT_EQ(error, "");
  EXPECT_EQ(status, 0);
  EXPECT_EQ(sys::read_all(read_end.get(), "pipe"), "on fd 1\n");
}

TEST(Child, EnvOptionReplacesTheEnvironment) {
  SpawnOptions options = command({"env"});
  options.env = std::vector<std::string>{"A=1", "B=two words"};
  EXPECT_EQ(output_of(options), "A=1\nB=two words\n");
}

TEST(Child, EmptyEnvOptionGivesAnEmptyEnvironment) {
  SpawnOptions options = command({"env"});
  options.env = std::vector<std::string>{};
  EXPECT_EQ(output_of(options), "");
}

TEST(Child, WithoutEnvOptionTheEnvironmentIsInherited) {
  ASSERT_EQ(::setenv("CAIRN_TEST_INHERITED", "yes-inherited", 1), 0);
  const std::string out = output_of(command({"env"}));
  ::unsetenv("CAIRN_TEST_INHERITED");
  EXPECT_NE(out.find("CAIRN_TEST_INHERITED=yes-inherited\n"), std::string::npos) << out;
}

TEST(Child, SignalMaskIsResetInTheChild) {
  sigset_t term, saved;
  sigemptyset(&term);
  sigaddset(&term, SIGTERM);
  ASSERT_EQ(::pthread_sigmask(SIG_BLOCK, &term, &saved), 0);
  int status = -1;
  try {
    // With SIGTERM still blocked the shell would survive its own kill and exit 7.
    status = run({"sh", "-c", "kill -TERM $$; exit 7"});
  } catch (...) {
  }
  ::pthread_sigmask(SIG_SETMASK, &saved, nullptr);
  EXPECT_EQ(status, 128 + SIGTERM);
}

TEST(Child, DestroyingAnUnwaitedChildKillsAndReapsIt) {
  pid_t pid;
  {
    Child child = Child::spawn(command({"sleep", "100"}));
    pid = child.pid();
    ASSERT_EQ(::kill(pid, 0), 0);
  }
  EXPECT_TRUE(process_gone(pid));
}

TEST(Child, MoveAssignmentKillsTheChildItReplaces) {
  Child child = Child::spawn(command({"sleep", "100"}));
  const pid_t first = child.pid();
  child = Child::spawn(command({"sh", "-c", "exit 4"}));
  EXPECT_TRUE(process_gone(first));
  EXPECT_NE(child.pid(), first);
  EXPECT_EQ(child.wait(), 4);
}

TEST(Child, MoveConstructionTransfersTheProcess) {
  auto first = std::make_unique<Child>(Child::spawn(command({"sh", "-c", "exit 5"})));
  const pid_t pid = first->pid();
  ASSERT_GT(pid, 0);
  Child second(std::move(*first));
  EXPECT_EQ(second.pid(), pid);
  EXPECT_GE(second.pidfd(), 0);
  EXPECT_EQ(first->pid(), -1);
  EXPECT_EQ(first->pidfd(), -1);
  // Destroying the moved-from object must neither kill nor reap the process.
  first.reset();
  EXPECT_EQ(second.wait(), 5);
}

TEST(Child, ChildrenCanBeKeptInAVector) {
  std::vector<Child> children;
  for (int code = 0; code < 5; ++code)
    children.push_back(Child::spawn(command({"sh", "-c", "exit " + std::to_string(code)})));
  for (int code = 0; code < 5; ++code)
    EXPECT_EQ(children[code].wait(), code);
}

int open_descriptor_count() {
  int count = 0;
  for ([[maybe_unused]] const auto& entry : fs::directory_iterator("/proc/self/fd"))
    ++count;
  return count;
}

TEST(Child, SpawningLeaksNoDescriptors) {
  ScopedPath path("/usr/bin:/bin");
  const int before = open_descriptor_count();
  for (int i = 0; i < 10; ++i) {
    EXPECT_EQ(run({"true"}), 0);
    EXPECT_THROW(Child::spawn(command({"cairn-no-such-program-7f3a"})), Error);
    { Child unwaited = Child::spawn(command({"sleep", "100"})); }
    Child killed = Child::spawn(command({"sleep", "100"}));
    killed.kill(SIGKILL);
    EXPECT_EQ(killed.wait(), 128 + SIGKILL);
  }
  EXPECT_EQ(open_descriptor_count(), before);
}

// What happens to a grandchild when the process that spawned it exits. Runs in a forked
// helper that is a child subreaper, so the orphan is reparented to it and can be waited
// for. Returns the helper's verdict: 0 killed by SIGKILL, 1 still running, other: broken.
int orphan_fate(bool die_with_parent) {
  const pid_t helper = ::fork();
  if (helper < 0) return -1;
  if (helper == 0) {
    if (::prctl(PR_SET_CHILD_SUBREAPER, 1) != 0) ::_exit(10);
    int report[2];
    if (::pipe(report) != 0) ::_exit(11);
    const pid_t spawner = ::fork();
    if (spawner < 0) ::_exit(12);
    if (spawner == 0) {
      try {
        SpawnOptions options = command({"sleep", "30"});
        options.die_with_parent = die_with_parent;
        Child child = Child::spawn(options);
        const pid_t pid = child.pid();
        (void)!::write(report[1], &pid, sizeof pid);
        ::_exit(0);  // without running Child's destructor, which would kill the grandchild
      } catch (...) {
        ::_exit(13);
      }
    }
    ::close(report[1]);
    pid_t grandchild = -1;
    if (::read(report[0], &grandchild, sizeof grandchild) != sizeof grandchild) ::_exit(15);
    // Reap the spawner; from then on the grandchild is an orphan reparented to us.
    int status;
    ::waitpid(spawner, &status, 0);
    // Wait up to five seconds for the orphan to die.
    for (int i = 0; i < 500; ++i) {
      const pid_t done = ::waitpid(grandchild, &status, WNOHANG);
      if (done == grandchild) ::_exit(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL ? 0 : 16);
      if (done < 0) ::_exit(17);
      if (!die_with_parent && i >= 30) break;  // 300 ms alive is enough to call it alive
      ::usleep(10000);
    }
    ::kill(grandchild, SIGKILL);
    ::waitpid(grandchild, &status, 0);
    ::_exit(1);
  }
  int status;
  if (::waitpid(helper, &status, 0) != helper || !WIFEXITED(status)) return -1;
  return WEXITSTATUS(status);
}

TEST(Child, DieWithParentKillsTheChildWhenItsSpawnerExits) {
  EXPECT_EQ(orphan_fate(true), 0);
}

TEST(Child, WithoutDieWithParentTheChildOutlivesItsSpawner) {
  EXPECT_EQ(orphan_fate(false), 1);
}

// ---- CleanupWatch ------------------------------------------------------------------------

bool gone_within(const fs::path& path, int tenths) {
  for (int i = 0; i < tenths; ++i) {
    std::error_code ec;
    if (!fs::exists(path, ec)) return true;
    ::usleep(100 * 1000);
  }
  return false;
}

TEST(CleanupWatch, DisarmedWatcherLeavesTheTree) {
  TempDir dir;
  const fs::path tree = dir.path() / "tree";
  fs::create_directories(tree / "sub");
  CleanupWatch watch(tree.string());
  watch.disarm();
  EXPECT_TRUE(fs::exists(tree / "sub"));
}

TEST(CleanupWatch, WatcherRemovesTheTreeWhenTheOwnerDropsItWithoutAWord) {
  TempDir dir;
  const fs::path tree = dir.path() / "tree";
  fs::create_directories(tree / "sub");
  { CleanupWatch watch(tree.string()); }  // as if the owner died: the pipe closes
  EXPECT_TRUE(gone_within(tree, 50));
}

TEST(CleanupWatch, SettleAfterTheOwnerRemovedTheTreeIsADisarm) {
  TempDir dir;
  const fs::path tree = dir.path() / "tree";
  fs::create_directories(tree);
  CleanupWatch watch(tree.string());
  fs::remove_all(tree);
  watch.settle();
  fs::create_directories(tree);  // made again afterwards: not the watcher's any more
  ::usleep(200 * 1000);
  EXPECT_TRUE(fs::exists(tree));
}

TEST(CleanupWatch, SettleWithTheTreeStillThereLeavesTheRemovalToTheWatcher) {
  TempDir dir;
  const fs::path tree = dir.path() / "tree";
  fs::create_directories(tree / "left" / "over");
  CleanupWatch watch(tree.string());
  watch.settle();  // the owner's removal failed (EBUSY while a sandbox went down)
  EXPECT_TRUE(gone_within(tree, 50));
}

}  // namespace
}  // namespace cairn
