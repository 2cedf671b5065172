// Tests for .dockerignore handling. Expected answers follow docker (BuildKit's dockerignore
// reader, moby/patternmatcher's MatchesOrParentMatches, fsutil's walker), including the
// places where its rules surprise.
#include "cairn/frontend/dockerignore.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <initializer_list>
#include <string>

namespace cairn::frontend {
namespace {

bool excluded(std::string_view ignore_file, std::string_view path) {
  return IgnoreMatcher::parse(ignore_file).excluded(path);
}

// Checks several paths against one ignore file, naming the path on failure.
void expect_excluded(std::string_view ignore_file, std::initializer_list<const char*> paths,
                     bool expected = true) {
  const IgnoreMatcher matcher = IgnoreMatcher::parse(ignore_file);
  for (const char* path : paths) {
    EXPECT_EQ(matcher.excluded(path), expected)
        << "pattern(s) " << ignore_file << ", path " << path;
  }
}

void expect_kept(std::string_view ignore_file, std::initializer_list<const char*> paths) {
  expect_excluded(ignore_file, paths, false);
}

int error_line(std::string_view ignore_file) {
  try {
    IgnoreMatcher::parse(ignore_file);
  } catch (const IgnorePatternError& error) {
    return error.line();
  }
  return -1;
}

// ---------------------------------------------------------------------------------------
// Reading the file

TEST(DockerignoreParse, CommentsBlankLinesAndWhitespace) {
  const IgnoreMatcher matcher = IgnoreMatcher::parse(
      "# comment\n"
      "\n"
      "   \t\n"
      "  node_modules  \n"
      "#*.md\n"
      "  # not a comment: '#' counts only in column 1\n");
  ASSERT_EQ(matcher.patterns().size(), 2u);
  EXPECT_EQ(matcher.patterns()[0].text, "node_modules");
  EXPECT_EQ(matcher.patterns()[0].line, 4);
  EXPECT_FALSE(matcher.patterns()[0].exclusion);
  EXPECT_EQ(matcher.patterns()[1].text, "# not a comment: '#' counts only in column 1");
  EXPECT_EQ(matcher.patterns()[1].line, 6);
  EXPECT_FALSE(matcher.excluded("README.md"));  // the "#*.md" line was a comment
}

TEST(DockerignoreParse, EmptyTextHasNoPatterns) {
  EXPECT_TRUE(IgnoreMatcher::parse("").empty());
  EXPECT_TRUE(IgnoreMatcher::parse("\n\n# only comments\n").empty());
  EXPECT_TRUE(IgnoreMatcher().empty());
  EXPECT_FALSE(IgnoreMatcher().excluded("anything"));
}

TEST(DockerignoreParse, CrlfLineEndingsAndByteOrderMark) {
  const IgnoreMatcher matcher = IgnoreMatcher::parse(
      "\xEF\xBB\xBF"
      "a\r\n#b\r\nc");
  ASSERT_EQ(matcher.patterns().size(), 2u);
  EXPECT_EQ(matcher.patterns()[0].text, "a");
  EXPECT_EQ(matcher.patterns()[1].text, "c");
  EXPECT_EQ(matcher.patterns()[1].line, 3);
}

TEST(DockerignoreParse, PatternsAreCleaned) {
  const IgnoreMatcher matcher =
      IgnoreMatcher::parse("./foo\n/bar/\nbaz//qux/./\na/b/../c\n!  /keep/me/\n/\n.\n../up\n");
  const std::vector<std::pair<std::string, bool>> expected = {
      {"foo", false},    {"bar", false}, {"baz/qux", false}, {"a/c", false},
      {"keep/me", true}, {"/", false},   {".", false},       {"../up", false}};
  ASSERT_EQ(matcher.patterns().size(), expected.size());
  for (std::size_t i = 0; i < expected.size(); ++i) {
    EXPECT_EQ(matcher.patterns()[i].text, expected[i].first) << i;
    EXPECT_EQ(matcher.patterns()[i].exclusion, expected[i].second) << i;
    EXPECT_EQ(matcher.patterns()[i].line, static_cast<int>(i) + 1);
  }
}

TEST(DockerignoreParse, PatternsThatCleanToTheRootMatchNothing) {
  // Docker keeps "." and "/" but never compares them with the context root.
  expect_kept(".\n", {"foo", "foo/bar", "."});
  expect_kept("/\n", {"foo", "foo/bar"});
  expect_kept("foo/..\n", {"foo", "bar"});
}

TEST(DockerignoreParse, LeadingSlashAndDotSlashAreTheSamePattern) {
  for (const char* pattern : {"foo/bar", "/foo/bar", "./foo/bar", "foo/bar/", "foo//bar"}) {
    expect_excluded(pattern, {"foo/bar", "foo/bar/baz"});
    expect_kept(pattern, {"foo", "bar", "x/foo/bar"});
  }
}

TEST(DockerignoreParse, BuildFromPatternList) {
  const IgnoreMatcher matcher({{"/build/", false, 0}, {"build/keep", true, 0}, {"", false, 0}});
  ASSERT_EQ(matcher.patterns().size(), 2u);  // the blank one is dropped
  EXPECT_EQ(matcher.patterns()[0].text, "build");
  EXPECT_TRUE(matcher.excluded("build/x"));
  EXPECT_FALSE(matcher.excluded("build/keep/x"));
}

// ---------------------------------------------------------------------------------------
// Errors

TEST(DockerignoreErrors, MalformedPatternReportsItsLine) {
  EXPECT_EQ(error_line("ok\n# comment\n\nsrc/[abc\n"), 4);
  EXPECT_EQ(error_line("[a-]\n"), 1);     // '-' must be escaped at the end of a class
  EXPECT_EQ(error_line("x\n[]a]\n"), 2);  // ']' cannot come first
  EXPECT_EQ(error_line("[^]\n"), 1);
  EXPECT_EQ(error_line("foo\\\n"), 1);          // trailing backslash
  EXPECT_EQ(error_line("a\nb\n[z-a]x\n"), 3);   // a reversed range fails Go's regexp
  EXPECT_EQ(error_line("[Local-Only]/\n"), 1);  // so does "l-O" (moby/moby#52203)
  EXPECT_EQ(error_line("!\n"), 1);              // an exception needs a pattern
  EXPECT_EQ(error_line("a\n!   \n"), 2);
  EXPECT_EQ(error_line("*.go\n!*.md\n"), -1);
}

TEST(DockerignoreErrors, ExceptionOfTheRootIsAnError) {
  // "!/" cleans to "!" in patternmatcher, which rejects it.
  EXPECT_EQ(error_line("a\n!/\n"), 2);
  EXPECT_EQ(error_line("!.\n"), -1);  // "!." is accepted and matches nothing
}

TEST(DockerignoreErrors, ErrorCarriesMessageAndLine) {
  try {
    IgnoreMatcher::parse("\n\nbad[\n");
    FAIL() << "expected IgnorePatternError";
  } catch (const IgnorePatternError& error) {
    EXPECT_EQ(error.line(), 3);
    EXPECT_NE(std::string(error.what()).find("bad["), std::string::npos) << error.what();
    EXPECT_NE(std::string(error.what()).find("line 3"), std::string::npos) << error.what();
  }
  try {
    IgnoreMatcher({{"[", false, 7}});
    FAIL() << "expected IgnorePatternError";
  } catch (const IgnorePatternError& error) {
    EXPECT_EQ(error.line(), 7);
  }
}

// ---------------------------------------------------------------------------------------
// The Dockerfile reference's examples

TEST(DockerignoreReference, TempInImmediateSubdirectory) {
  expect_excluded("# comment\n*/temp*\n", {"somedir/temporary.txt", "somedir/temp", "a/temp/x"});
  expect_kept("*/temp*\n", {"temp", "temporary.txt", "a/b/temporary.txt", "somedir/atemp"});
}

TEST(DockerignoreReference, TempTwoLevelsDown) {
  expect_excluded("*/*/temp*\n", {"somedir/subdir/temporary.txt", "a/b/temp/c"});
  expect_kept("*/*/temp*\n", {"somedir/temporary.txt", "temp", "a/b/c/temp"});
}

TEST(DockerignoreReference, TempWithOneMoreCharacter) {
  expect_excluded("temp?\n", {"tempa", "tempb", "tempa/inside"});
  expect_kept("temp?\n", {"temp", "tempab", "dir/tempa"});
}

TEST(DockerignoreReference, GoFilesEverywhere) {
  expect_excluded("**/*.go\n", {"main.go", "cmd/main.go", "a/b/c/d.go"});
  expect_kept("**/*.go\n", {"main.go.txt", "go", "a/main.gox"});
}

TEST(DockerignoreReference, MarkdownExceptReadme) {
  expect_excluded("*.md\n!README.md\n", {"CHANGES.md", "x.md"});
  expect_kept("*.md\n!README.md\n", {"README.md", "docs/guide.md"});
}

TEST(DockerignoreReference, ExceptionThenLaterExclusion) {
  const char* file = "*.md\n!README*.md\nREADME-secret.md\n";
  expect_excluded(file, {"README-secret.md", "CHANGES.md"});
  expect_kept(file, {"README.md", "README-public.md"});
}

TEST(DockerignoreReference, ExceptionLastWins) {
  const char* file = "*.md\nREADME-secret.md\n!README*.md\n";
  expect_kept(file, {"README-secret.md", "README.md"});
  expect_excluded(file, {"CHANGES.md"});
}

TEST(DockerignoreReference, IncludeListWithStar) {
  const char* file = "*\n!src\n!Dockerfile\n";
  expect_excluded(file, {"README.md", "build/out", ".git/config"});
  expect_kept(file, {"src", "src/main.c", "src/a/b.c", "Dockerfile"});
}

// ---------------------------------------------------------------------------------------
// Wildcards

TEST(DockerignoreDoubleStar, Leading) {
  expect_excluded("**/foo\n", {"foo", "a/foo", "a/b/foo", "a/foo/bar"});
  expect_kept("**/foo\n", {"afoo", "foobar", "a/xfoo"});
}

TEST(DockerignoreDoubleStar, Trailing) {
  expect_excluded("foo/**\n", {"foo/x", "foo/x/y"});
  // "foo/**" keeps the directory itself: only what is below it goes.
  expect_kept("foo/**\n", {"foo", "foobar", "x/foo/y"});
  expect_excluded("foo/**/\n", {"foo/x"});
}

TEST(DockerignoreDoubleStar, Middle) {
  expect_excluded("a/**/b\n", {"a/b", "a/x/b", "a/x/y/b", "a/x/b/c"});
  expect_kept("a/**/b\n", {"a/xb", "b", "x/a/b", "a/b2"});
  expect_excluded("a/**/*.txt\n", {"a/1.txt", "a/x/y/2.txt"});
  expect_kept("a/**/*.txt\n", {"b/1.txt", "a/1.txt2"});
}

TEST(DockerignoreDoubleStar, Alone) {
  expect_excluded("**\n", {"a", "a/b", ".dockerignore", "Dockerfile"});
  expect_kept("**\n", {".", "./", ""});
  expect_excluded("**/\n", {"a/b"});
}

TEST(DockerignoreDoubleStar, WithoutSlashesFollowsDockersSubstitution) {
  // A pattern that starts with "**" and has no other wildcard is compared by suffix.
  expect_excluded("**foo\n", {"foo", "barfoo", "a/barfoo"});
  // Elsewhere "**" not followed by '/' still means "(any directories/)?".
  expect_excluded("a**b\n", {"ab", "a/b", "ax/b", "ax/y/b"});
  expect_kept("a**b\n", {"axb"});
  // "text**" is compared by prefix.
  expect_excluded("foo**\n", {"foo", "foobar", "foo/x"});
  expect_kept("foo**\n", {"fo", "x/foo"});
}

TEST(DockerignoreWildcards, StarStopsAtSlash) {
  expect_excluded("*.txt\n", {"a.txt", ".txt"});
  expect_kept("*.txt\n", {"dir/a.txt", "a.txt.bak"});
  expect_excluded("*\n", {"a", "a/b/c"});
  expect_excluded("a*c\n", {"ac", "abc", "abbc"});
  expect_kept("a*c\n", {"a/c", "ab/c"});
}

TEST(DockerignoreWildcards, QuestionMark) {
  expect_excluded("a?c\n", {"abc", "a.c", "a c"});
  expect_kept("a?c\n", {"ac", "a/c", "abbc"});
  expect_excluded("caf?\n", {"caf\xC3\xA9"});  // one code point, two bytes
  expect_excluded("??\n", {"\xE6\x97\xA5\xE6\x9C\xAC"});
}

TEST(DockerignoreWildcards, CharacterClasses) {
  expect_excluded("file[abc].txt\n", {"filea.txt", "filec.txt"});
  expect_kept("file[abc].txt\n", {"filed.txt", "file.txt", "fileab.txt"});
  expect_excluded("log[0-9]\n", {"log0", "log5", "log9"});
  expect_kept("log[0-9]\n", {"loga", "log10"});
  expect_excluded("x[a-cx-z]\n", {"xb", "xy"});
  expect_kept("x[a-cx-z]\n", {"xm"});
  expect_excluded("x[^a-c]\n", {"xd", "x1"});
  expect_kept("x[^a-c]\n", {"xa", "xc", "x"});
  expect_excluded("x[\\]]\n", {"x]"});
  expect_excluded("x[\\-a]\n", {"x-", "xa"});
  expect_kept("x[\\-a]\n", {"xb"});
}

TEST(DockerignoreWildcards, BangInClassIsLiteral) {
  // Go's globs and regexps negate with '^' only: "[!a]" is the class of '!' and 'a'.
  expect_excluded("x[!a]\n", {"x!", "xa"});
  expect_kept("x[!a]\n", {"xb"});
}

TEST(DockerignoreWildcards, PosixClassInBrackets) {
  expect_excluded("v[[:digit:]]\n", {"v1"});
  expect_kept("v[[:digit:]]\n", {"vx", "v:"});
  EXPECT_EQ(error_line("v[[:nope:]]\n"), 1);
}

TEST(DockerignoreWildcards, EscapedCharacters) {
  expect_excluded("foo\\*\n", {"foo*"});
  expect_kept("foo\\*\n", {"foo", "foobar"});
  expect_excluded("\\[abc\\]\n", {"[abc]"});
  expect_kept("\\[abc\\]\n", {"a", "b"});
  expect_excluded("what\\?\n", {"what?"});
  expect_kept("what\\?\n", {"whatx"});
  expect_excluded("back\\\\slash\n", {"back\\slash"});
}

TEST(DockerignoreWildcards, RegexpCharactersAreLiteral) {
  expect_excluded("a.b\n", {"a.b"});
  expect_kept("a.b\n", {"axb"});
  expect_excluded("a.b*\n", {"a.bc"});
  expect_kept("a.b*\n", {"axbc"});
  expect_excluded("(x)+{1}|$y*\n", {"(x)+{1}|$y", "(x)+{1}|$yz"});
  expect_kept("(x)+{1}|$y*\n", {"x", "xx"});
}

TEST(DockerignoreWildcards, BackslashLetterIsARegexpEscape) {
  // Docker hands "\d" through to Go's regexp, where it is a digit class.
  expect_excluded("file\\d\n", {"file1"});
  expect_kept("file\\d\n", {"filed"});
  EXPECT_EQ(error_line("file\\y\n"), 1);  // not an escape Go's regexp knows
}

TEST(DockerignoreWildcards, SubstitutionLeaksIntoBrackets) {
  // Docker copies '[' into its regexp and substitutes '*' inside it too: "x[*]" becomes
  // "^x[[^/]*]$", a class of '[', '^' and '/' repeated, then a literal ']'.
  expect_excluded("x[*]\n", {"x]", "x[^]"});
  expect_kept("x[*]\n", {"x*", "x"});
}

TEST(DockerignoreWildcards, CaretAnchorsOnlyInWildcardPatterns) {
  // '^' is not escaped by docker: in a pattern that becomes a regexp it anchors the start.
  expect_excluded("^foo*\n", {"foobar"});
  expect_kept("^foo*\n", {"^foobar"});
  expect_kept("a^b*\n", {"a^b", "ab"});
  // Without wildcards the pattern is compared as text.
  expect_excluded("^foo\n", {"^foo"});
  expect_kept("^foo\n", {"foo"});
}

TEST(DockerignoreWildcards, WordBoundaryEscape) {
  // "\b" is a regexp word boundary too (matched without the precomputed automaton).
  expect_excluded("foo\\b\n", {"foo", "foo/x"});
  expect_kept("foo\\b\n", {"foob", "x/foo"});
}

TEST(DockerignoreWildcards, PatternWithManyAutomatonStates) {
  // An 'a' eleven characters from the end: too many states to precompute, so this runs
  // on the fallback matcher, with the same answers.
  const char* file = "*a??????????\n";
  expect_excluded(file, {"xxa0123456789", "a0123456789", "xa0123456789/sub"});
  expect_kept(file, {"xxa012345678", "a/a0123456789", "dir/xa0123456789"});
}

// ---------------------------------------------------------------------------------------
// Exceptions and parent directories

TEST(DockerignoreMatch, ParentDirectoryMatches) {
  expect_excluded("foo\n", {"foo", "foo/bar", "foo/bar/baz"});
  expect_kept("foo\n", {"foobar", "bar/foo", "fo"});
  expect_excluded("a/b\n", {"a/b/c/d"});
  expect_kept("a/b\n", {"a", "a/c"});
}

TEST(DockerignoreMatch, ReincludeInsideExcludedDirectory) {
  const char* file = "build\n!build/keep.txt\n!build/assets\n";
  expect_excluded(file, {"build", "build/other.o", "build/sub/x"});
  expect_kept(file, {"build/keep.txt", "build/assets", "build/assets/logo.png"});
}

TEST(DockerignoreMatch, LaterPatternExcludesAgain) {
  const char* file = "build\n!build/keep\nbuild/keep/tmp\n";
  expect_excluded(file, {"build/x", "build/keep/tmp", "build/keep/tmp/a/b"});
  expect_kept(file, {"build/keep", "build/keep/y", "build/keep/tmpx"});
  // And an earlier exception does not survive a later general pattern.
  expect_excluded("!keep.txt\n*.txt\n", {"keep.txt"});
}

TEST(DockerignoreMatch, ExceptionWithWildcards) {
  const char* file = "vendor\n!vendor/**/*.go\n";
  expect_kept(file, {"vendor/a/b.go", "vendor/b.go"});
  expect_excluded(file, {"vendor", "vendor/a/README", "vendor/a"});
}

TEST(DockerignoreMatch, PathsAreCleaned) {
  const char* file = "foo/bar\n";
  for (const char* path : {"foo/bar", "./foo/bar", "/foo/bar", "foo/bar/", "foo//bar", "foo/./bar",
                           "foo/x/../bar", "./foo/bar/baz"}) {
    EXPECT_TRUE(excluded(file, path)) << path;
  }
  expect_kept("*\n", {".", "./", "/", "", "foo/.."});
}

TEST(DockerignoreMatch, DockerignoreAndDockerfileCanBeExcluded) {
  // Docker still sends them to the builder, but they match like any other file.
  expect_excluded(".dockerignore\nDockerfile\n", {".dockerignore", "Dockerfile"});
}

// ---------------------------------------------------------------------------------------
// must_descend

TEST(DockerignoreDescend, NotExcludedDirectoryIsEntered) {
  const IgnoreMatcher matcher = IgnoreMatcher::parse("*.o\n");
  EXPECT_TRUE(matcher.must_descend("src"));
  EXPECT_TRUE(matcher.must_descend("."));
  EXPECT_TRUE(IgnoreMatcher().must_descend("anything"));
}

TEST(DockerignoreDescend, ExcludedWithoutExceptionsIsSkipped) {
  const IgnoreMatcher matcher = IgnoreMatcher::parse("node_modules\n.git\n");
  EXPECT_FALSE(matcher.must_descend("node_modules"));
  EXPECT_FALSE(matcher.must_descend("./.git/"));
  EXPECT_FALSE(matcher.must_descend("node_modules/lodash"));
}

TEST(DockerignoreDescend, PlainExceptionsBelowTheDirectory) {
  const IgnoreMatcher matcher = IgnoreMatcher::parse("a\nother\n!a/b/c\n");
  EXPECT_TRUE(matcher.must_descend("a"));
  EXPECT_TRUE(matcher.must_descend("a/b"));
  EXPECT_FALSE(matcher.must_descend("a/x"));
  EXPECT_FALSE(matcher.must_descend("other"));
  EXPECT_TRUE(matcher.excluded("a/b"));
  EXPECT_FALSE(matcher.excluded("a/b/c/d"));
}

TEST(DockerignoreDescend, PrefixNeedsAWholeDirectoryName) {
  const IgnoreMatcher matcher = IgnoreMatcher::parse("*\n!foo/x\n");
  EXPECT_TRUE(matcher.must_descend("foo"));
  EXPECT_FALSE(matcher.must_descend("fo"));
  EXPECT_FALSE(matcher.must_descend("foobar"));
}

TEST(DockerignoreDescend, TrailingGlobOfAnExceptionIsIgnored) {
  const IgnoreMatcher matcher = IgnoreMatcher::parse("*\n!docs/**\n!src/*\n");
  EXPECT_TRUE(matcher.must_descend("docs"));
  EXPECT_TRUE(matcher.must_descend("src"));
  EXPECT_FALSE(matcher.must_descend("build"));
}

TEST(DockerignoreDescend, ExceptionWithWildcardEntersEveryExcludedDirectory) {
  const IgnoreMatcher matcher = IgnoreMatcher::parse("vendor\ntmp\n!**/*.go\n");
  EXPECT_TRUE(matcher.must_descend("vendor"));
  EXPECT_TRUE(matcher.must_descend("tmp"));
  EXPECT_FALSE(matcher.excluded("tmp/x.go"));
}

TEST(DockerignoreDescend, ReexcludedSubdirectoryIsSkipped) {
  const IgnoreMatcher matcher = IgnoreMatcher::parse("build\n!build/keep\nbuild/keep/tmp\n");
  EXPECT_TRUE(matcher.must_descend("build"));
  EXPECT_TRUE(matcher.must_descend("build/keep"));  // not excluded
  EXPECT_FALSE(matcher.must_descend("build/keep/tmp"));
  EXPECT_FALSE(matcher.must_descend("build/other"));
}

// ---------------------------------------------------------------------------------------
// find_ignore_file

class FindIgnoreFile : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern =
        (std::filesystem::temp_directory_path() / "cairn-dockerignore-XXXXXX").string();
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    root_ = pattern;
    std::filesystem::create_directories(root_ / "ctx" / "build");
  }
  void TearDown() override { std::filesystem::remove_all(root_); }

  static void touch(const std::filesystem::path& path) { std::ofstream(path) << "x\n"; }

  std::filesystem::path root_;
};

TEST_F(FindIgnoreFile, NoneFound) {
  EXPECT_EQ(find_ignore_file(root_ / "ctx", std::nullopt), std::nullopt);
  EXPECT_EQ(find_ignore_file(root_ / "ctx", root_ / "ctx" / "Dockerfile"), std::nullopt);
}

TEST_F(FindIgnoreFile, ContextFile) {
  touch(root_ / "ctx" / ".dockerignore");
  EXPECT_EQ(find_ignore_file(root_ / "ctx", std::nullopt), root_ / "ctx" / ".dockerignore");
  EXPECT_EQ(find_ignore_file(root_ / "ctx", root_ / "ctx" / "build" / "app.Dockerfile"),
            root_ / "ctx" / ".dockerignore");
}

TEST_F(FindIgnoreFile, DockerfileSpecificFileWins) {
  touch(root_ / "ctx" / ".dockerignore");
  const auto dockerfile = root_ / "ctx" / "build" / "app.Dockerfile";
  touch(dockerfile);
  touch(root_ / "ctx" / "build" / "app.Dockerfile.dockerignore");
  EXPECT_EQ(find_ignore_file(root_ / "ctx", dockerfile),
            root_ / "ctx" / "build" / "app.Dockerfile.dockerignore");
}

TEST_F(FindIgnoreFile, DockerfileSpecificFileWithoutContextFile) {
  const auto dockerfile = root_ / "elsewhere.Dockerfile";
  touch(root_ / "elsewhere.Dockerfile.dockerignore");
  EXPECT_EQ(find_ignore_file(root_ / "ctx", dockerfile),
            root_ / "elsewhere.Dockerfile.dockerignore");
}

TEST_F(FindIgnoreFile, DirectoryIsNotAnIgnoreFile) {
  std::filesystem::create_directory(root_ / "ctx" / ".dockerignore");
  EXPECT_EQ(find_ignore_file(root_ / "ctx", std::nullopt), std::nullopt);
}

}  // namespace
}  // namespace cairn::frontend
