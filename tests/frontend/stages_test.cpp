#include <gtest/gtest.h>

#include "cairn/frontend/diagnostic.hpp"
#include "cairn/frontend/stages.hpp"

namespace cairn::frontend {
namespace {

struct Built {
  Dockerfile file;
  BuildDescription build;
};

Built describe(std::string_view text, StageOptions options = {}) {
  Built b{parse_dockerfile(text, "Dockerfile"), {}};
  b.build = describe_build(b.file, options);
  return b;
}

std::string describe_error(std::string_view text, StageOptions options = {}) {
  try {
    describe(text, options);
  } catch (const DockerfileError& e) {
    return e.reason();
  }
  return "(no error)";
}

// The final ENV/ARG of a stage, expanded with an empty image environment.
std::vector<ExpandedInstruction> steps_of(const Built& b, int stage, StageOptions options = {}) {
  return expand_stage(b.file, b.build, b.build.stages[stage], {}, options).steps;
}

std::string env_value(const ExpandedInstruction& step, const std::string& key) {
  for (const auto& kv : *step.env)
    if (kv.key == key) return kv.value;
  return "<unset>";
}

TEST(Stages, GlobalArgsExpandInFromAndNeedRedeclaration) {
  StageOptions options;
  options.build_args["TAG"] = "1.36";
  auto b = describe("ARG IMAGE=busybox\nARG TAG=latest\nFROM ${IMAGE}:${TAG}\n"
                    "ENV A=${TAG}\nARG TAG\nENV B=${TAG}\n",
                    options);
  EXPECT_EQ(b.build.stages[0].base, "busybox:1.36");
  auto steps = steps_of(b, 0, options);
  EXPECT_EQ(env_value(steps[0], "A"), "");      // not declared in the stage yet
  EXPECT_EQ(env_value(steps[2], "B"), "1.36");  // re-declared: takes the override
}

TEST(Stages, RedeclaredGlobalArgTakesGlobalDefault) {
  auto b = describe("ARG V=3\nFROM x\nARG V\nENV E=$V\n");
  EXPECT_EQ(env_value(steps_of(b, 0)[1], "E"), "3");
}

TEST(Stages, ArgDefaultsAndOverrides) {
  StageOptions options;
  options.build_args["B"] = "given";
  auto b = describe("FROM x\nARG A=a B=b C\nENV R=\"$A-$B-${C:-none}\"\n", options);
  auto steps = steps_of(b, 0, options);
  EXPECT_EQ(env_value(steps[1], "R"), "a-given-none");
}

TEST(Stages, EnvWinsOverArg) {
  auto b = describe("FROM x\nARG V=arg\nENV V=env\nENV W=$V\n");
  EXPECT_EQ(env_value(steps_of(b, 0)[2], "W"), "env");
}

TEST(Stages, EnvPairsOnOneLineSeeTheEarlierEnvironment) {
  // docker: ENV a=1 b=$a on one line expands $a from before the instruction.
  auto b = describe("FROM x\nENV a=old\nENV a=new b=$a\n");
  EXPECT_EQ(env_value(steps_of(b, 0)[1], "b"), "old");
}

TEST(Stages, PlatformArgsAreAutomaticInFromAndOnDeclaration) {
  StageOptions options;
  options.target_platform = Platform::parse("linux/arm64");
  options.build_platform = Platform::parse("linux/amd64");
  auto b = describe("FROM --platform=$BUILDPLATFORM img-$TARGETARCH\nARG TARGETARCH\n"
                    "ENV T=$TARGETARCH O=$TARGETOS\n",
                    options);
  EXPECT_EQ(b.build.stages[0].base, "img-arm64");
  EXPECT_EQ(b.build.stages[0].platform, "linux/amd64");
  auto steps = steps_of(b, 0, options);
  EXPECT_EQ(env_value(steps[1], "T"), "arm64");
  EXPECT_EQ(env_value(steps[1], "O"), "");  // TARGETOS was not declared in the stage
}

TEST(Stages, UsedArgsForCacheKeys) {
  StageOptions options;
  options.build_args["HTTP_PROXY"] = "http://proxy:3128";
  auto b = describe("FROM x\nARG A=1 B=2\nLABEL l=$A\nRUN make\nWORKDIR /w\n", options);
  auto steps = steps_of(b, 0, options);
  EXPECT_EQ(steps[1].used_args, (std::set<std::string>{"A"}));
  // RUN sees every ARG in scope, and given proxy args, in its environment.
  EXPECT_EQ(steps[2].used_args, (std::set<std::string>{"A", "B", "HTTP_PROXY"}));
  EXPECT_TRUE(steps[3].used_args.empty());
}

TEST(Stages, ExpansionOnlyInTheInstructionsThatExpand) {
  auto b = describe("FROM x\nENV D=/data\nWORKDIR $D\nRUN echo $D\nCMD echo $D\n"
                    "COPY $D/a ${D}/b\nUSER ${D#/}\nEXPOSE ${P:-80} 443\n");
  auto steps = steps_of(b, 0);
  EXPECT_EQ(std::get<WorkdirInstruction>(steps[1].instruction.value).path, "/data");
  EXPECT_EQ(std::get<RunInstruction>(steps[2].instruction.value).command.args[0], "echo $D");
  EXPECT_EQ(std::get<CmdInstruction>(steps[3].instruction.value).command.args[0], "echo $D");
  const auto& copy = std::get<CopyInstruction>(steps[4].instruction.value);
  EXPECT_EQ(copy.sources[0], "/data/a");
  EXPECT_EQ(copy.destination, "/data/b");
  EXPECT_EQ(std::get<UserInstruction>(steps[5].instruction.value).user, "data");
  EXPECT_EQ(std::get<ExposeInstruction>(steps[6].instruction.value).ports,
            (std::vector<std::string>{"80", "443"}));
}

TEST(Stages, MountOptionsExpand) {
  auto b = describe("FROM x\nARG CACHE=/root/.cache\nRUN --mount=type=cache,target=$CACHE make\n");
  auto steps = steps_of(b, 0);
  EXPECT_EQ(std::get<RunInstruction>(steps[1].instruction.value).mounts[0].target, "/root/.cache");
}

TEST(Stages, CopyHeredocBodyExpandsUnlessQuoted) {
  auto b = describe("FROM x\nENV N=world\nCOPY <<EOF /a\nhello $N\nEOF\nCOPY <<'EOF' /b\nhello $N\nEOF\n");
  auto steps = steps_of(b, 0);
  EXPECT_EQ(std::get<CopyInstruction>(steps[1].instruction.value).heredocs[0].content,
            "hello world\n");
  EXPECT_EQ(std::get<CopyInstruction>(steps[2].instruction.value).heredocs[0].content,
            "hello $N\n");
}

TEST(Stages, StageBaseInheritsEnvironment) {
  const char* text = "FROM x AS base\nENV P=/opt\nFROM base\nENV Q=$P/bin\n";
  auto b = describe(text);
  EXPECT_EQ(b.build.stages[1].base_stage, 0);
  std::vector<KeyValue> parent_env = *steps_of(b, 0).back().env;
  auto steps = expand_stage(b.file, b.build, b.build.stages[1], parent_env, {}).steps;
  EXPECT_EQ(env_value(steps[0], "Q"), "/opt/bin");
}

TEST(Stages, TargetPrunesToWhatItNeeds) {
  const char* text =
      "FROM a AS one\nRUN x\n"
      "FROM b AS two\nRUN y\n"
      "FROM one AS three\nCOPY --from=two /y /y\n"
      "FROM c AS unrelated\n"
      "FROM d AS four\nRUN --mount=type=bind,from=three,target=/t z\n";
  StageOptions options;
  options.target = "THREE";
  auto b = describe(text, options);
  EXPECT_EQ(b.build.target, 2);
  EXPECT_EQ(b.build.order, (std::vector<int>{0, 1, 2}));
  auto all = describe(text);
  EXPECT_EQ(all.build.target, 4);
  EXPECT_EQ(all.build.order, (std::vector<int>{0, 1, 2, 4}));
  EXPECT_EQ(all.build.stages[4].dependencies, (std::set<int>{2}));
}

TEST(Stages, CopyFromByIndexAndImage) {
  auto b = describe("FROM a\nFROM b\nCOPY --from=0 /x /x\nCOPY --from=alpine:3 /y /y\n");
  EXPECT_EQ(b.build.stages[1].dependencies, (std::set<int>{0}));
  EXPECT_NE(describe_error("FROM a\nFROM b\nCOPY --from=1 /x /x\n").find("not defined before"),
            std::string::npos);
}

TEST(Stages, ForwardReferenceCycleIsDetected) {
  EXPECT_NE(describe_error("FROM a AS one\nCOPY --from=two /x /x\n"
                           "FROM b AS two\nCOPY --from=one /y /y\n")
                .find("circular dependency"),
            std::string::npos);
  EXPECT_NE(describe_error("FROM a AS self\nCOPY --from=self /x /x\n").find("circular"),
            std::string::npos);
}

TEST(Stages, UnknownTargetAndDuplicateNames) {
  StageOptions options;
  options.target = "nope";
  EXPECT_NE(describe_error("FROM a AS one\n", options).find("target stage \"nope\" could not be found"),
            std::string::npos);
  EXPECT_NE(describe_error("FROM a AS one\nFROM b AS ONE\n").find("duplicate stage name"),
            std::string::npos);
}

TEST(Stages, OnlyArgBeforeFirstFrom) {
  EXPECT_NE(describe_error("ENV a=1\nFROM x\n").find("only ARG may come before FROM"),
            std::string::npos);
  EXPECT_NE(describe_error("ARG x=1\n").find("no FROM"), std::string::npos);
}

TEST(Stages, ErrorsInUnneededStagesDoNotFailTheTarget) {
  StageOptions options;
  options.target = "good";
  auto b = describe("FROM a AS bad\nENV X=\"${NOPE:?must be set}\"\nFROM b AS good\n", options);
  EXPECT_EQ(b.build.order, (std::vector<int>{1}));
  EXPECT_NE(describe_error("FROM a AS bad\nENV X=\"${NOPE:?must be set}\"\n").find("must be set"),
            std::string::npos);
}

TEST(Stages, UnusedBuildArgsAreReported) {
  StageOptions options;
  options.build_args["USED"] = "1";
  options.build_args["UNUSED"] = "2";
  options.build_args["http_proxy"] = "x";
  auto b = describe("FROM a\nARG USED\n", options);
  EXPECT_EQ(b.build.unused_build_args, (std::vector<std::string>{"UNUSED"}));
}

TEST(Stages, BlankBaseIsAnError) {
  EXPECT_NE(describe_error("ARG IMG\nFROM $IMG\n").find("should not be blank"), std::string::npos);
}

TEST(Stages, PlatformParsing) {
  EXPECT_EQ(Platform::parse("linux/arm/v7").str(), "linux/arm/v7");
  EXPECT_EQ(Platform::parse("linux/x86_64").architecture, "amd64");
  EXPECT_THROW(Platform::parse("linux"), std::invalid_argument);
  EXPECT_FALSE(Platform::host().architecture.empty());
}

TEST(Stages, RenderInstructionAfterExpansion) {
  auto b = describe("FROM x\nENV A=\"two words\" B=1\nCOPY --chown=1:2 [\"a b\", \"/c\"]\nCMD [\"x\"]\n");
  auto steps = steps_of(b, 0);
  EXPECT_EQ(render_instruction(steps[0].instruction), "ENV A=\"two words\" B=1");
  EXPECT_EQ(render_instruction(steps[1].instruction), "COPY --chown=1:2 [\"a b\",\"/c\"]");
  EXPECT_EQ(render_instruction(steps[2].instruction), "CMD [\"x\"]");
}

}  // namespace
}  // namespace cairn::frontend
