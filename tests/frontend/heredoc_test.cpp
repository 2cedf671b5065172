#include <gtest/gtest.h>

#include "cairn/frontend/ast.hpp"
#include "cairn/frontend/diagnostic.hpp"
#include "cairn/frontend/instructions.hpp"

namespace cairn::frontend {
namespace {

Dockerfile parse(std::string_view text) { return parse_dockerfile(text, "Dockerfile"); }

TEST(Heredoc, RunBodyIsCollectedUpToTheTerminator) {
  auto file = parse("FROM x\nRUN <<EOF\necho a\necho b\nEOF\nCMD c\n");
  ASSERT_EQ(file.nodes.size(), 3u);
  const Node& run = file.nodes[1];
  ASSERT_EQ(run.heredocs.size(), 1u);
  EXPECT_EQ(run.heredocs[0].name, "EOF");
  EXPECT_EQ(run.heredocs[0].content, "echo a\necho b\n");
  EXPECT_TRUE(run.heredocs[0].expand);
  EXPECT_FALSE(run.heredocs[0].chomp);
  EXPECT_EQ(run.start_line, 2);
  EXPECT_EQ(run.end_line, 5);
  EXPECT_EQ(run.heredocs[0].start_line, 3);
  EXPECT_EQ(run.heredocs[0].end_line, 5);
  EXPECT_EQ(run.args[0], "<<EOF");
}

TEST(Heredoc, DashStripsTabsForTheTerminatorOnly) {
  auto file = parse("RUN <<-EOT\n\techo a\n\tEOT\n");
  ASSERT_EQ(file.nodes[0].heredocs.size(), 1u);
  EXPECT_TRUE(file.nodes[0].heredocs[0].chomp);
  // The body keeps its tabs; the shell (or COPY) strips them when it uses the body.
  EXPECT_EQ(file.nodes[0].heredocs[0].content, "\techo a\n");
}

TEST(Heredoc, QuotedDelimiterDisablesExpansion) {
  for (const char* opener : {"<<'EOF'", "<<\"EOF\"", "<<E\"O\"F"}) {
    auto file = parse(std::string("RUN ") + opener + "\n$HOME\nEOF\n");
    ASSERT_EQ(file.nodes[0].heredocs.size(), 1u) << opener;
    EXPECT_EQ(file.nodes[0].heredocs[0].name, "EOF") << opener;
    EXPECT_FALSE(file.nodes[0].heredocs[0].expand) << opener;
  }
}

TEST(Heredoc, SeveralHeredocsOnOneInstructionInOrder) {
  auto file = parse("RUN <<A cat && 3<<-B cat\nfirst\nA\n\tsecond\n\tB\nCMD x\n");
  const Node& run = file.nodes[0];
  ASSERT_EQ(run.heredocs.size(), 2u);
  EXPECT_EQ(run.heredocs[0].content, "first\n");
  EXPECT_EQ(run.heredocs[1].name, "B");
  EXPECT_EQ(run.heredocs[1].fd, 3);
  EXPECT_EQ(run.heredocs[1].content, "\tsecond\n");
  EXPECT_EQ(file.nodes.size(), 2u);
}

TEST(Heredoc, CopyFromHeredoc) {
  auto file = parse("FROM x\nCOPY <<EOF /etc/motd\nhello\nEOF\n");
  const Node& copy = file.nodes[1];
  ASSERT_EQ(copy.heredocs.size(), 1u);
  Instruction ins = parse_instruction(file, copy);
  const auto& c = std::get<CopyInstruction>(ins.value);
  EXPECT_EQ(c.sources, (std::vector<std::string>{"<<EOF"}));
  EXPECT_EQ(c.destination, "/etc/motd");
  ASSERT_EQ(c.heredocs.size(), 1u);
  EXPECT_EQ(c.heredocs[0].content, "hello\n");
}

TEST(Heredoc, NotRecognisedInJsonFormOrOtherInstructions) {
  auto file = parse("RUN [\"cat\", \"<<EOF\"]\nLABEL a=<<EOF\nCMD x\n");
  EXPECT_TRUE(file.nodes[0].heredocs.empty());
  EXPECT_TRUE(file.nodes[1].heredocs.empty());
  EXPECT_EQ(file.nodes.size(), 3u);
}

TEST(Heredoc, QuotedLessThanIsNotAHeredoc) {
  auto file = parse("RUN echo \"<<EOF\"\nCMD x\n");
  EXPECT_TRUE(file.nodes[0].heredocs.empty());
  EXPECT_EQ(file.nodes.size(), 2u);
}

TEST(Heredoc, UnderOnbuild) {
  auto file = parse("ONBUILD RUN <<EOF\necho hi\nEOF\n");
  ASSERT_TRUE(file.nodes[0].nested);
  ASSERT_EQ(file.nodes[0].nested->heredocs.size(), 1u);
  EXPECT_EQ(file.nodes[0].nested->heredocs[0].content, "echo hi\n");
}

TEST(Heredoc, MissingTerminatorIsAnError) {
  try {
    parse("FROM x\nRUN <<EOF\necho a\n");
    FAIL() << "expected an error";
  } catch (const DockerfileError& e) {
    EXPECT_EQ(e.position().line, 2);
    EXPECT_NE(e.reason().find("unterminated heredoc"), std::string::npos);
  }
}

TEST(Heredoc, BodyKeepsContinuationCharactersAndComments) {
  auto file = parse("RUN <<EOF\n# not a comment \\\necho \\\nEOF\n");
  EXPECT_EQ(file.nodes[0].heredocs[0].content, "# not a comment \\\necho \\\n");
}

TEST(Heredoc, LastBodyLineWithoutNewlineAtEndOfFile) {
  EXPECT_THROW(parse("RUN <<EOF\nbody"), DockerfileError);
  auto file = parse("RUN <<EOF\nbody\nEOF");
  EXPECT_EQ(file.nodes[0].heredocs[0].content, "body\n");
}

}  // namespace
}  // namespace cairn::frontend
