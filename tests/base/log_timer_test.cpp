#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "cairn/base/log.hpp"
#include "cairn/base/timer.hpp"

namespace {
// An argument whose formatting is observable, to check that filtered messages cost nothing.
struct CountsFormatting {
  int* count;
};
}  // namespace

template <>
struct fmt::formatter<CountsFormatting> : fmt::formatter<std::string_view> {
  auto format(const CountsFormatting& value, fmt::format_context& ctx) const {
    ++*value.count;
    return fmt::formatter<std::string_view>::format("formatted", ctx);
  }
};

namespace cairn {
namespace {

using namespace std::chrono_literals;

// Points fd 2 at a temporary file for its lifetime and restores the real stderr after.
class StderrCapture {
 public:
  StderrCapture() {
    std::fflush(stderr);
    saved_ = ::dup(STDERR_FILENO);
    file_ = std::tmpfile();
    if (saved_ < 0 || file_ == nullptr || ::dup2(::fileno(file_), STDERR_FILENO) < 0) std::abort();
  }
  StderrCapture(const StderrCapture&) = delete;
  StderrCapture& operator=(const StderrCapture&) = delete;
  ~StderrCapture() {
    restore();
    std::fclose(file_);
  }

  // Restores stderr and returns everything written to fd 2 so far.
  std::string finish() {
    restore();
    std::string out;
    char buffer[4096];
    ssize_t n;
    off_t offset = 0;
    while ((n = ::pread(::fileno(file_), buffer, sizeof buffer, offset)) > 0) {
      out.append(buffer, static_cast<size_t>(n));
      offset += n;
    }
    return out;
  }

 private:
  void restore() {
    if (saved_ < 0) return;
    std::fflush(stderr);
    ::dup2(saved_, STDERR_FILENO);
    ::close(saved_);
    saved_ = -1;
  }

  int saved_ = -1;
  std::FILE* file_ = nullptr;
};

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);)
    lines.push_back(line);
  return lines;
}

// Restores the process-wide level after each test.
class Log : public ::testing::Test {
 protected:
  void TearDown() override { set_log_level(saved_); }
  LogLevel saved_ = log_level();
};

// --- level names ------------------------------------------------------------------------

TEST(LogLevelNames, NamesAreTheDocumentedWords) {
  EXPECT_EQ(log_level_name(LogLevel::error), "error");
  EXPECT_EQ(log_level_name(LogLevel::warn), "warn");
  EXPECT_EQ(log_level_name(LogLevel::info), "info");
  EXPECT_EQ(log_level_name(LogLevel::debug), "debug");
  EXPECT_EQ(log_level_name(LogLevel::trace), "trace");
}

TEST(LogLevelNames, ParseRoundTripsEveryLevel) {
  for (LogLevel level :
       {LogLevel::error, LogLevel::warn, LogLevel::info, LogLevel::debug, LogLevel::trace}) {
    auto parsed = parse_log_level(log_level_name(level));
    ASSERT_TRUE(parsed.has_value()) << log_level_name(level);
    EXPECT_EQ(*parsed, level);
  }
}

TEST(LogLevelNames, WarningIsAnAliasOfWarn) {
  EXPECT_EQ(parse_log_level("warning"), LogLevel::warn);
}

TEST(LogLevelNames, BadNamesAreRejected) {
  for (const char* bad : {"", "WARN", "Debug", "verbose", "fatal", " warn", "warn ", "err",
                          "tracee", "2", "warnings"})
    EXPECT_FALSE(parse_log_level(bad).has_value()) << "'" << bad << "'";
}

TEST(LogLevelNames, LevelsAreOrderedBySeverity) {
  EXPECT_LT(LogLevel::error, LogLevel::warn);
  EXPECT_LT(LogLevel::warn, LogLevel::info);
  EXPECT_LT(LogLevel::info, LogLevel::debug);
  EXPECT_LT(LogLevel::debug, LogLevel::trace);
}

// --- filtering and format ---------------------------------------------------------------

TEST_F(Log, SetLogLevelIsVisibleThroughLogLevel) {
  set_log_level(LogLevel::debug);
  EXPECT_EQ(log_level(), LogLevel::debug);
  set_log_level(LogLevel::error);
  EXPECT_EQ(log_level(), LogLevel::error);
}

TEST_F(Log, LogEnabledFollowsTheLevel) {
  set_log_level(LogLevel::warn);
  EXPECT_TRUE(log_enabled(LogLevel::error));
  EXPECT_TRUE(log_enabled(LogLevel::warn));
  EXPECT_FALSE(log_enabled(LogLevel::info));
  EXPECT_FALSE(log_enabled(LogLevel::trace));
  set_log_level(LogLevel::trace);
  EXPECT_TRUE(log_enabled(LogLevel::trace));
}

TEST_F(Log, WarningLineFormat) {
  set_log_level(LogLevel::warn);
  StderrCapture capture;
  log(LogLevel::warn, "disk almost full ({}%)", 95);
  EXPECT_EQ(capture.finish(), "cairn: warning: disk almost full (95%)\n");
}

TEST_F(Log, OtherLevelsUseTheirNames) {
  set_log_level(LogLevel::trace);
  StderrCapture capture;
  log(LogLevel::error, "e{}", 1);
  log(LogLevel::info, "i");
  log(LogLevel::debug, "d");
  log(LogLevel::trace, "t {} {}", "x", 2.5);
  EXPECT_EQ(capture.finish(),
            "cairn: error: e1\ncairn: info: i\ncairn: debug: d\ncairn: trace: t x 2.5\n");
}

TEST_F(Log, MessageWithTrailingNewlineIsNotDoubled) {
  StderrCapture capture;
  log_line(LogLevel::error, "already terminated\n");
  log_line(LogLevel::error, "");
  EXPECT_EQ(capture.finish(), "cairn: error: already terminated\ncairn: error: \n");
}

TEST_F(Log, MessagesBelowTheLevelAreDropped) {
  set_log_level(LogLevel::warn);
  StderrCapture capture;
  log(LogLevel::info, "hidden info");
  log(LogLevel::debug, "hidden debug");
  log(LogLevel::trace, "hidden trace");
  log(LogLevel::warn, "shown warning");
  log(LogLevel::error, "shown error");
  EXPECT_EQ(capture.finish(), "cairn: warning: shown warning\ncairn: error: shown error\n");
}

TEST_F(Log, ErrorLevelDropsWarnings) {
  set_log_level(LogLevel::error);
  StderrCapture capture;
  log(LogLevel::warn, "hidden");
  log(LogLevel::error, "shown");
  EXPECT_EQ(capture.finish(), "cairn: error: shown\n");
}

TEST_F(Log, DroppedMessagesAreNotFormatted) {
  int formatted = 0;
  set_log_level(LogLevel::error);
  StderrCapture capture;
  log(LogLevel::debug, "{}", CountsFormatting{&formatted});
  EXPECT_EQ(formatted, 0);
  set_log_level(LogLevel::debug);
  log(LogLevel::debug, "{}", CountsFormatting{&formatted});
  EXPECT_EQ(formatted, 1);
  EXPECT_EQ(capture.finish(), "cairn: debug: formatted\n");
}

TEST_F(Log, ConcurrentLinesDoNotInterleave) {
  set_log_level(LogLevel::info);
  constexpr int kThreads = 8;
  constexpr int kLines = 200;
  StderrCapture capture;
  {
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t)
      threads.emplace_back([t] {
        const std::string payload(100, static_cast<char>('a' + t));
        for (int i = 0; i < kLines; ++i)
          log(LogLevel::info, "{} {} {}", t, i, payload);
      });
    for (auto& thread : threads)
      thread.join();
  }
  const auto lines = lines_of(capture.finish());
  ASSERT_EQ(lines.size(), static_cast<size_t>(kThreads * kLines));
  std::set<std::string> seen;
  for (const auto& line : lines) {
    bool matched = false;
    for (int t = 0; t < kThreads && !matched; ++t) {
      const std::string prefix = "cairn: info: " + std::to_string(t) + " ";
      const std::string suffix = " " + std::string(100, static_cast<char>('a' + t));
      matched = line.rfind(prefix, 0) == 0 && line.size() > prefix.size() + suffix.size() &&
                line.compare(line.size() - suffix.size(), suffix.size(), suffix) == 0;
    }
    EXPECT_TRUE(matched) << "mangled line: " << line;
    seen.insert(line);
  }
  EXPECT_EQ(seen.size(), lines.size());
}

// --- timings ----------------------------------------------------------------------------

class TimingsTest : public ::testing::Test {
 protected:
  void SetUp() override { Timings::global().clear(); }
  void TearDown() override { Timings::global().clear(); }
};

std::string printed(const Timings& timings) {
  std::FILE* file = std::tmpfile();
  if (file == nullptr) std::abort();
  timings.print(file);
  std::fflush(file);
  std::rewind(file);
  std::string out;
  char buffer[4096];
  size_t n;
  while ((n = std::fread(buffer, 1, sizeof buffer, file)) > 0)
    out.append(buffer, n);
  std::fclose(file);
  return out;
}

TEST_F(TimingsTest, StartsEmptyAfterClear) {
  EXPECT_TRUE(Timings::global().snapshot().empty());
}

TEST_F(TimingsTest, ScopedTimersAccumulatePerPhaseInFirstSeenOrder) {
  for (const char* phase : {"parse", "fetch", "parse", "unpack", "fetch", "parse"}) {
    ScopedTimer timer(phase);
  }
  const auto entries = Timings::global().snapshot();
  ASSERT_EQ(entries.size(), 3u);
  EXPECT_EQ(entries[0].phase, "parse");
  EXPECT_EQ(entries[0].count, 3);
  EXPECT_EQ(entries[1].phase, "fetch");
  EXPECT_EQ(entries[1].count, 2);
  EXPECT_EQ(entries[2].phase, "unpack");
  EXPECT_EQ(entries[2].count, 1);
}

TEST_F(TimingsTest, ScopedTimerMeasuresItsLifetime) {
  {
    ScopedTimer timer("sleep");
    std::this_thread::sleep_for(20ms);
  }
  {
    ScopedTimer timer("sleep");
    std::this_thread::sleep_for(10ms);
  }
  const auto entries = Timings::global().snapshot();
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(entries[0].count, 2);
  EXPECT_GE(entries[0].total, 30ms);
  EXPECT_LT(entries[0].total, 10s);
}

TEST_F(TimingsTest, NothingIsRecordedBeforeTheTimerEnds) {
  {
    ScopedTimer timer("open");
    EXPECT_TRUE(Timings::global().snapshot().empty());
  }
  EXPECT_EQ(Timings::global().snapshot().size(), 1u);
}

TEST_F(TimingsTest, AddSumsTotalsExactly) {
  auto& timings = Timings::global();
  timings.add("hash", 1500us);
  timings.add("hash", 250us);
  timings.add("write", 3ms);
  const auto entries = timings.snapshot();
  ASSERT_EQ(entries.size(), 2u);
  EXPECT_EQ(entries[0].phase, "hash");
  EXPECT_EQ(entries[0].total, 1750us);
  EXPECT_EQ(entries[0].count, 2);
  EXPECT_EQ(entries[1].phase, "write");
  EXPECT_EQ(entries[1].total, 3ms);
  EXPECT_EQ(entries[1].count, 1);
}

TEST_F(TimingsTest, ClearForgetsEverything) {
  Timings::global().add("a", 1ms);
  Timings::global().add("b", 1ms);
  Timings::global().clear();
  EXPECT_TRUE(Timings::global().snapshot().empty());
  // Phases seen after a clear start a new order.
  Timings::global().add("b", 1ms);
  Timings::global().add("a", 1ms);
  const auto entries = Timings::global().snapshot();
  ASSERT_EQ(entries.size(), 2u);
  EXPECT_EQ(entries[0].phase, "b");
  EXPECT_EQ(entries[0].count, 1);
}

TEST_F(TimingsTest, SnapshotIsACopy) {
  Timings::global().add("a", 1ms);
  auto entries = Timings::global().snapshot();
  Timings::global().add("a", 1ms);
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(entries[0].count, 1);
  EXPECT_EQ(Timings::global().snapshot()[0].count, 2);
}

TEST_F(TimingsTest, PrintShowsAHeaderAndEveryPhase) {
  Timings::global().add("resolve base image", 1500us);
  Timings::global().add("resolve base image", 1500us);
  Timings::global().add("commit layer", 250us);
  const auto lines = lines_of(printed(Timings::global()));
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_NE(lines[0].find("PHASE"), std::string::npos);
  EXPECT_NE(lines[0].find("COUNT"), std::string::npos);
  EXPECT_NE(lines[0].find("TOTAL (ms)"), std::string::npos);
  EXPECT_EQ(lines[1].rfind("resolve base image ", 0), 0u) << lines[1];
  EXPECT_NE(lines[1].find(" 2 "), std::string::npos) << lines[1];
  EXPECT_NE(lines[1].find("3.000"), std::string::npos) << lines[1];
  EXPECT_EQ(lines[2].rfind("commit layer ", 0), 0u) << lines[2];
  EXPECT_NE(lines[2].find(" 1 "), std::string::npos) << lines[2];
  EXPECT_NE(lines[2].find("0.250"), std::string::npos) << lines[2];
}

TEST_F(TimingsTest, PrintOfAnEmptyTableIsOnlyTheHeader) {
  const auto lines = lines_of(printed(Timings::global()));
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_NE(lines[0].find("PHASE"), std::string::npos);
}

TEST_F(TimingsTest, ConcurrentAddsToOnePhaseAreAllCounted) {
  constexpr int kThreads = 8;
  constexpr int kAdds = 20000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([t] {
      const char* own = t % 2 == 0 ? "even" : "odd";
      for (int i = 0; i < kAdds; ++i) {
        Timings::global().add("shared", 1ns);
        ScopedTimer timer(own);
      }
    });
  for (auto& thread : threads)
    thread.join();
  const auto entries = Timings::global().snapshot();
  ASSERT_EQ(entries.size(), 3u);
  long even = 0, odd = 0;
  for (const auto& e : entries) {
    if (e.phase == "shared") {
      EXPECT_EQ(e.count, kThreads * kAdds);
      EXPECT_EQ(e.total, std::chrono::nanoseconds(kThreads * kAdds));
    } else if (e.phase == "even") {
      even = e.count;
    } else if (e.phase == "odd") {
      odd = e.count;
    } else {
      ADD_FAILURE() << "unexpected phase " << e.phase;
    }
  }
  EXPECT_EQ(even, kThreads / 2 * kAdds);
  EXPECT_EQ(odd, kThreads / 2 * kAdds);
}

}  // namespace
}  // namespace cairn
