#include <gtest/gtest.h>

#include "cairn/frontend/ast.hpp"
#include "cairn/frontend/diagnostic.hpp"

namespace cairn::frontend {
namespace {

Dockerfile parse(std::string_view text) { return parse_dockerfile(text, "Dockerfile"); }

TEST(Parser, DumpsInstructionsInBuildkitFormat) {
  auto file = parse("FROM busybox AS base\nRUN echo hi\nCMD [\"sh\", \"-c\"]\n");
  EXPECT_EQ(dump(file), "(from \"busybox\" \"AS\" \"base\")\n(run \"echo hi\")\n(cmd \"sh\" \"-c\")\n");
  EXPECT_TRUE(file.nodes[2].json);
  EXPECT_FALSE(file.nodes[1].json);
}

TEST(Parser, ContinuationJoinsLinesKeepingIndentOfLaterLines) {
  auto file = parse("RUN a \\\n    b \\\n\tc\n");
  ASSERT_EQ(file.nodes.size(), 1u);
  EXPECT_EQ(file.nodes[0].args[0], "a     b \tc");
  EXPECT_EQ(file.nodes[0].start_line, 1);
  EXPECT_EQ(file.nodes[0].end_line, 3);
}

TEST(Parser, CommentsAndBlankLinesInsideContinuationAreSkipped) {
  auto file = parse("RUN a \\\n# comment \\\n\n   \n  b\nCMD x\n");
  ASSERT_EQ(file.nodes.size(), 2u);
  EXPECT_EQ(file.nodes[0].args[0], "a   b");
  EXPECT_EQ(file.nodes[0].end_line, 5);
  ASSERT_EQ(file.warnings.size(), 1u);
  EXPECT_EQ(file.warnings[0].line, 1);
}

TEST(Parser, EscapedEscapeAtEndDoesNotContinue) {
  auto file = parse("RUN echo a\\\\\nRUN b\n");
  ASSERT_EQ(file.nodes.size(), 2u);
  EXPECT_EQ(file.nodes[0].args[0], "echo a\\\\");
}

TEST(Parser, ContinuationAtEndOfFileEndsTheInstruction) {
  auto file = parse("FROM x\nRUN a \\");
  ASSERT_EQ(file.nodes.size(), 2u);
  EXPECT_EQ(file.nodes[1].args[0], "a");  // argument text is trimmed
}

TEST(Parser, BacktickEscapeDirective) {
  auto file = parse("# escape=`\nFROM x\nRUN a `\n  b\nCOPY c:\\dir\\ d\n");
  EXPECT_EQ(file.directives.escape, '`');
  ASSERT_EQ(file.nodes.size(), 3u);
  EXPECT_EQ(file.nodes[1].args[0], "a   b");
  EXPECT_EQ(file.nodes[2].args[0], "c:\\dir\\");
}

TEST(Parser, DirectivesOnlyBeforeAnythingElse) {
  auto file = parse("# syntax=docker/dockerfile:1\n# check=skip=all\n\n# escape=`\nFROM x\n");
  EXPECT_EQ(file.directives.syntax, "docker/dockerfile:1");
  EXPECT_EQ(file.directives.check, "skip=all");
  EXPECT_EQ(file.directives.escape, '\\');  // after a blank line it is a comment
}

TEST(Parser, DirectiveNamesAreCaseInsensitive) {
  auto file = parse("# ESCAPE = `\nFROM x\n");
  EXPECT_EQ(file.directives.escape, '`');
}

TEST(Parser, RepeatedDirectiveIsAnError) {
  EXPECT_THROW(parse("# escape=`\n# escape=\\\nFROM x\n"), DockerfileError);
}

TEST(Parser, InvalidEscapeTokenIsAnError) {
  try {
    parse("# escape=x\nFROM x\n");
    FAIL() << "expected an error";
  } catch (const DockerfileError& e) {
    EXPECT_EQ(e.position().line, 1);
    EXPECT_NE(std::string(e.what()).find("invalid escape token"), std::string::npos);
  }
}

TEST(Parser, ByteOrderMarkAndCarriageReturnsAreStripped) {
  auto file = parse("\xEF\xBB\xBF" "FROM x\r\nRUN y\r\n");
  ASSERT_EQ(file.nodes.size(), 2u);
  EXPECT_EQ(file.nodes[0].args[0], "x");
  EXPECT_EQ(file.nodes[1].args[0], "y");
}

TEST(Parser, FlagsAreSplitOffAndUnquoted) {
  auto file = parse("COPY --from=\"build stage\" --chown=a:b -- --src /dst\n");
  const Node& n = file.nodes[0];
  ASSERT_EQ(n.flags.size(), 2u);
  EXPECT_EQ(n.flags[0], "--from=build stage");
  EXPECT_EQ(n.flags[1], "--chown=a:b");
  EXPECT_EQ(n.args, (std::vector<std::string>{"--src", "/dst"}));
  EXPECT_EQ(n.position_of(n.flag_offsets[1]).column, 27);
}

TEST(Parser, EnvForms) {
  auto legacy = parse("ENV PATH /usr/bin:/bin  with spaces\n");
  EXPECT_EQ(legacy.nodes[0].args,
            (std::vector<std::string>{"PATH", "/usr/bin:/bin  with spaces", ""}));
  auto modern = parse("ENV a=1 b=\"two words\" c=x\\ y\n");
  EXPECT_EQ(modern.nodes[0].args,
            (std::vector<std::string>{"a", "1", "=", "b", "\"two words\"", "=", "c", "x\\ y", "="}));
  EXPECT_THROW(parse("ENV a=1 b\n"), DockerfileError);
  EXPECT_THROW(parse("ENV PATH\n"), DockerfileError);
}

TEST(Parser, JsonFallsBackToShellFormWhenInvalid) {
  auto file = parse("CMD ['single', 'quotes']\nRUN [\"a\", \"b\"\n");
  EXPECT_FALSE(file.nodes[0].json);
  EXPECT_EQ(file.nodes[0].args[0], "['single', 'quotes']");
  EXPECT_FALSE(file.nodes[1].json);
}

TEST(Parser, JsonWithNonStringIsAnError) {
  EXPECT_THROW(parse("CMD [\"a\", 1]\n"), DockerfileError);
}

TEST(Parser, EmptyJsonArrayGivesNoArguments) {
  auto file = parse("CMD []\nENTRYPOINT [\"\"]\n");
  EXPECT_TRUE(file.nodes[0].args.empty());
  EXPECT_EQ(file.nodes[1].args, (std::vector<std::string>{""}));
}

TEST(Parser, HealthcheckKeepsTypeWord) {
  auto file = parse("HEALTHCHECK --interval=5s CMD curl -f http://x/\nHEALTHCHECK NONE\n");
  EXPECT_EQ(file.nodes[0].args, (std::vector<std::string>{"CMD", "curl -f http://x/"}));
  EXPECT_EQ(file.nodes[0].flags, (std::vector<std::string>{"--interval=5s"}));
  EXPECT_EQ(file.nodes[1].args, (std::vector<std::string>{"NONE"}));
}

TEST(Parser, OnbuildNestsItsInstruction) {
  auto file = parse("ONBUILD RUN echo test\nONBUILD COPY [\"a\", \"b\"]\n");
  EXPECT_EQ(dump(file), "(onbuild (run \"echo test\"))\n(onbuild (copy \"a\" \"b\"))\n");
  ASSERT_TRUE(file.nodes[0].nested);
  EXPECT_EQ(file.nodes[0].nested->keyword, "run");
}

TEST(Parser, ArgWordsKeepQuotes) {
  auto file = parse("ARG abc=\"123 456\" def\n");
  EXPECT_EQ(file.nodes[0].args, (std::vector<std::string>{"abc=\"123 456\"", "def"}));
}

TEST(Parser, UnknownInstructionIsReportedWithSuggestion) {
  try {
    parse("FROM x\n  FORM y\n");
    FAIL() << "expected an error";
  } catch (const DockerfileError& e) {
    EXPECT_EQ(e.position().line, 2);
    EXPECT_EQ(e.position().column, 3);
    EXPECT_EQ(e.reason(), "unknown instruction: FORM (did you mean FROM?)");
  }
}

TEST(Parser, EmptyFileIsRefused) {
  EXPECT_THROW(parse(""), DockerfileError);
  EXPECT_THROW(parse("# only a comment\n\n"), DockerfileError);
}

TEST(Parser, GoQuoteMatchesStrconvQuote) {
  EXPECT_EQ(go_quote("a\"b\\c"), "\"a\\\"b\\\\c\"");
  EXPECT_EQ(go_quote(std::string("\t\n\r\b\f\v\a\x01\x7f", 9)), "\"\\t\\n\\r\\b\\f\\v\\a\\x01\\x7f\"");
  EXPECT_EQ(go_quote(std::string("\0", 1)), "\"\\x00\"");
  EXPECT_EQ(go_quote("\xe2\x99\xa5"), "\"\xe2\x99\xa5\"");  // ♥ stays literal
  EXPECT_EQ(go_quote("\xff"), "\"\\xff\"");               // invalid UTF-8
  EXPECT_EQ(go_quote("\xc2\x85"), "\"\\u0085\"");          // C1 control
}

TEST(Parser, PositionsMapThroughContinuations) {
  auto file = parse("RUN a \\\n  --x \\\n  b\n");
  const Node& n = file.nodes[0];
  const auto at = n.text.find("b");
  EXPECT_EQ(n.position_of(at).line, 3);
  EXPECT_EQ(n.position_of(at).column, 3);
}

}  // namespace
}  // namespace cairn::frontend
