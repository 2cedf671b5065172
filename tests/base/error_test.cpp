#include "cairn/base/error.hpp"
#include "catch_error.hpp"

#include <gtest/gtest.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>
#include <type_traits>

namespace cairn {
namespace {

using testing::catch_error;

// --- rendering --------------------------------------------------------------------------

TEST(Error, PlainMessageRendersAsItself) {
  const Error error("something broke");
  EXPECT_STREQ(error.what(), "something broke");
  EXPECT_EQ(error.message(), "something broke");
  EXPECT_EQ(error.errno_value(), 0);
  EXPECT_EQ(error.path(), "");
  EXPECT_EQ(error.hint_text(), "");
}

TEST(Error, OperationPathAndErrnoRenderLikeThePosixTools) {
  const Error error("open", "/x", ENOENT);
  EXPECT_STREQ(error.what(), "open /x: No such file or directory");
  EXPECT_EQ(error.message(), "open");
  EXPECT_EQ(error.path(), "/x");
  EXPECT_EQ(error.errno_value(), ENOENT);
}

TEST(Error, EmptyPathIsLeftOut) {
  const Error error("pipe2", "", EMFILE);
  EXPECT_EQ(std::string(error.what()), std::string("pipe2: ") + std::strerror(EMFILE));
}

TEST(Error, ZeroErrnoAddsNoSystemMessage) {
  const Error error("lock", "/var/lib/cairn", 0);
  EXPECT_STREQ(error.what(), "lock /var/lib/cairn");
}

TEST(Error, IsAStdException) {
  static_assert(std::is_base_of_v<std::exception, Error>);
  try {
    throw Error("read", "/etc/x", EACCES);
  } catch (const std::exception& e) {
    EXPECT_STREQ(e.what(), "read /etc/x: Permission denied");
  }
}

// --- context and hints ------------------------------------------------------------------

TEST(Error, ContextIsPrintedOutermostFirst) {
  Error error("mount overlay at", "/x", EPERM);
  error.context("RUN step 4/9");
  EXPECT_STREQ(error.what(), "RUN step 4/9: mount overlay at /x: Operation not permitted");

  Error denied("mount overlay at", "/x", EACCES);
  denied.context("RUN step 4/9");
  EXPECT_STREQ(denied.what(), "RUN step 4/9: mount overlay at /x: Permission denied");
}

TEST(Error, LaterContextIsAddedOutside) {
  Error error("mount overlay at", "/x", EACCES);
  error.context("prepare rootfs").context("RUN step 4/9").context("build stage 'app'");
  EXPECT_STREQ(error.what(),
               "build stage 'app': RUN step 4/9: prepare rootfs: mount overlay at /x: "
               "Permission denied");
  // Context does not change the structured fields.
  EXPECT_EQ(error.message(), "mount overlay at");
  EXPECT_EQ(error.path(), "/x");
  EXPECT_EQ(error.errno_value(), EACCES);
}

TEST(Error, HintFollowsTheMessageAfterAnEmDash) {
  Error error("open", "/etc/subuid", ENOENT);
  error.hint("add a range for your user with usermod --add-subuids");
  EXPECT_STREQ(error.what(),
               "open /etc/subuid: No such file or directory — hint: add a range for your user "
               "with usermod --add-subuids");
  EXPECT_EQ(error.hint_text(), "add a range for your user with usermod --add-subuids");
}

TEST(Error, HintStaysLastWhenContextIsAddedAfterIt) {
  Error error("open", "/etc/subuid", ENOENT);
  error.hint("install uidmap").context("set up user namespace");
  EXPECT_STREQ(error.what(),
               "set up user namespace: open /etc/subuid: No such file or directory — hint: "
               "install uidmap");
}

TEST(Error, NewHintReplacesTheOldOne) {
  Error error("no storage");
  error.hint("first").hint("second");
  EXPECT_STREQ(error.what(), "no storage — hint: second");
}

TEST(Error, CopiesKeepTheRenderedText) {
  Error error("open", "/x", ENOENT);
  error.context("outer");
  const Error copy = error;
  error.context("only on the original");
  EXPECT_STREQ(copy.what(), "outer: open /x: No such file or directory");
  EXPECT_STREQ(error.what(), "only on the original: outer: open /x: No such file or directory");
}

// --- throw_errno ------------------------------------------------------------------------

TEST(ThrowErrno, ThrowsAnErrorWithTheGivenFields) {
  const Error error = catch_error([] { throw_errno("unlink", "/tmp/gone", ENOENT); });
  EXPECT_EQ(error.message(), "unlink");
  EXPECT_EQ(error.path(), "/tmp/gone");
  EXPECT_EQ(error.errno_value(), ENOENT);
  EXPECT_STREQ(error.what(), "unlink /tmp/gone: No such file or directory");
}

// --- with_context -----------------------------------------------------------------------

TEST(WithContext, PassesTheReturnValueThrough) {
  EXPECT_EQ(with_context("compute", [] { return 42; }), 42);
  EXPECT_EQ(with_context("name", [] { return std::string("cairn"); }), "cairn");
  auto owned = with_context("allocate", [] { return std::make_unique<int>(7); });
  ASSERT_TRUE(owned);
  EXPECT_EQ(*owned, 7);
}

TEST(WithContext, PassesReferencesThroughWithoutCopying) {
  int value = 1;
  int& ref = with_context("find", [&value]() -> int& { return value; });
  EXPECT_EQ(&ref, &value);
  ref = 5;
  EXPECT_EQ(value, 5);
}

TEST(WithContext, RunsVoidBodiesExactlyOnce) {
  int calls = 0;
  with_context("count", [&calls] { ++calls; });
  EXPECT_EQ(calls, 1);
}

TEST(WithContext, AddsContextToAnEscapingError) {
  const Error error = catch_error(
      [] { with_context("RUN step 4/9", [] { throw_errno("mount overlay at", "/x", EACCES); }); });
  EXPECT_STREQ(error.what(), "RUN step 4/9: mount overlay at /x: Permission denied");
  EXPECT_EQ(error.errno_value(), EACCES);
  EXPECT_EQ(error.path(), "/x");
}

TEST(WithContext, NestedCallsStackOutermostFirst) {
  const Error error = catch_error([] {
    with_context("build", [] {
      return with_context("RUN step 4/9",
                          []() -> int { throw Error("mount overlay at", "/x", EACCES); });
    });
  });
  EXPECT_STREQ(error.what(), "build: RUN step 4/9: mount overlay at /x: Permission denied");
}

TEST(WithContext, LeavesOtherExceptionsAlone) {
  try {
    with_context("parse", [] { throw std::runtime_error("not a cairn error"); });
    FAIL() << "expected std::runtime_error";
  } catch (const Error&) {
    FAIL() << "a foreign exception must not become a cairn::Error";
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "not a cairn error");
  }
}

}  // namespace
}  // namespace cairn
