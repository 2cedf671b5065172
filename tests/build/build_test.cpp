// The build's pure parts: step keys, the state of FROM scratch, -o and --secret values.
#include "cairn/build/build.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>

#include "../../src/build/cache.hpp"
#include "../../src/build/state.hpp"
#include "cairn/base/error.hpp"

namespace cairn::build {
namespace {

using nlohmann::json;

TEST(StepKey, SameInputsSameKeyAndEveryInputCounts) {
  const json inputs = {{"instruction", "RUN make"}, {"args", {{"X", "1"}}}};
  EXPECT_EQ(step_key("parent", inputs), step_key("parent", inputs));
  EXPECT_NE(step_key("other", inputs), step_key("parent", inputs));
  json changed = inputs;
  changed["args"]["X"] = "2";
  EXPECT_NE(step_key("parent", changed), step_key("parent", inputs));
  EXPECT_EQ(step_key("p", inputs).size(), 64u);
}

TEST(ScratchState, HasDockersDefaultPathAndNoLayers) {
  const ImageState s = scratch_state();
  EXPECT_TRUE(s.layers.empty());
  EXPECT_EQ(s.config["rootfs"]["diff_ids"].size(), 0u);
  ASSERT_EQ(env_of(s.config).size(), 1u);
  EXPECT_EQ(env_of(s.config)[0].first, "PATH");
}

TEST(RecordStep, ConfigOnlyStepsAreEmptyLayers) {
  ImageState s = scratch_state();
  record_step(s, "ENV A=b", "2024-01-01T00:00:00Z", std::nullopt);
  record_step(s, "COPY a /a", "2024-01-01T00:00:00Z",
              store::LayerBlob{"sha256:aa", 10, "application/vnd.oci.image.layer.v1.tar+gzip",
                               "sha256:bb"});
  ASSERT_EQ(s.config["history"].size(), 2u);
  EXPECT_TRUE(s.config["history"][0].value("empty_layer", false));
  EXPECT_FALSE(s.config["history"][1].contains("empty_layer"));
  EXPECT_EQ(s.config["rootfs"]["diff_ids"], json::array({"sha256:bb"}));
  EXPECT_EQ(s.layers.size(), 1u);
}

TEST(ParseOutput, TypeAndDest) {
  const OutputSpec o = parse_output("type=oci,dest=/tmp/x.tar");
  EXPECT_EQ(o.type, "oci");
  EXPECT_EQ(o.dest, "/tmp/x.tar");
  EXPECT_EQ(parse_output("dest=y.tar").type, "hybrid");
  EXPECT_THROW(parse_output("type=oci"), Error);
  EXPECT_THROW(parse_output("type=zip,dest=x"), Error);
  EXPECT_THROW(parse_output("type=oci,dest=x,color=red"), Error);
  EXPECT_THROW(parse_output("oops"), Error);
}

TEST(ParseSecret, NeedsAnIdAndAReadableFile) {
  char path[] = "/tmp/cairn-secret-test.XXXXXX";
  const int fd = ::mkstemp(path);
  ASSERT_GE(fd, 0);
  ::close(fd);
  const Secret s = parse_secret(std::string("id=tok,src=") + path);
  EXPECT_EQ(s.id, "tok");
  EXPECT_EQ(s.source, path);
  EXPECT_THROW(parse_secret("src=/etc/hostname"), Error);
  EXPECT_THROW(parse_secret("id=x,src=/nonexistent/file"), Error);
  ::unlink(path);
}

}  // namespace
}  // namespace cairn::build
