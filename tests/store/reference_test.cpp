#include "cairn/store/reference.hpp"

#include <gtest/gtest.h>

#include <stdexcept>
#include <string>
#include <string_view>

namespace cairn::store {
namespace {

const std::string kHex = "86e0e091d0da6bde2456dbb48306f3956bbeb2eae1b5b9a43045843f69fe4aaa";
const std::string kDigest = "sha256:" + kHex;

std::string canonical(std::string_view text, bool add_default_tag = true) {
  return parse_reference(text, add_default_tag).str();
}

std::string familiar(std::string_view text, bool add_default_tag = true) {
  return parse_reference(text, add_default_tag).familiar();
}

// The message parse_reference throws, or "<accepted>".
std::string error_of(std::string_view text) {
  try {
    parse_reference(text);
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "<accepted>";
}

// --- Docker Hub defaults ----------------------------------------------------------------

TEST(Reference, OfficialImageGetsDomainLibraryAndLatest) {
  Reference ref = parse_reference("busybox");
  EXPECT_EQ(ref.domain, "docker.io");
  EXPECT_EQ(ref.path, "library/busybox");
  EXPECT_EQ(ref.tag, "latest");
  EXPECT_FALSE(ref.digest);
  EXPECT_EQ(ref.str(), "docker.io/library/busybox:latest");
  EXPECT_EQ(ref.repository(), "docker.io/library/busybox");
}

TEST(Reference, UserImageGetsDomainOnly) {
  EXPECT_EQ(canonical("user/app"), "docker.io/user/app:latest");
}

TEST(Reference, ExplicitTagIsKept) {
  Reference ref = parse_reference("busybox:1.36");
  EXPECT_EQ(ref.tag, "1.36");
  EXPECT_EQ(ref.str(), "docker.io/library/busybox:1.36");
}

TEST(Reference, DockerIoSingleComponentGetsLibrary) {
  EXPECT_EQ(canonical("docker.io/busybox"), "docker.io/library/busybox:latest");
}

TEST(Reference, LibraryPrefixGetsDockerIo) {
  EXPECT_EQ(canonical("library/busybox"), "docker.io/library/busybox:latest");
}

TEST(Reference, FullyQualifiedNameIsUnchanged) {
  EXPECT_EQ(canonical("docker.io/library/busybox:latest"), "docker.io/library/busybox:latest");
}

TEST(Reference, IndexDockerIoIsNormalisedToDockerIo) {
  EXPECT_EQ(canonical("index.docker.io/busybox"), "docker.io/library/busybox:latest");
  EXPECT_EQ(canonical("index.docker.io/user/app"), "docker.io/user/app:latest");
}

TEST(Reference, RegistryOneDockerIoIsNotNormalised) {
  Reference ref = parse_reference("registry-1.docker.io/busybox");
  EXPECT_EQ(ref.domain, "registry-1.docker.io");
  EXPECT_EQ(ref.path, "busybox");
}

TEST(Reference, LibraryIsNotAddedForNestedDockerHubPaths) {
  EXPECT_EQ(canonical("docker.io/library/foo/bar"), "docker.io/library/foo/bar:latest");
  EXPECT_EQ(canonical("a/b/c"), "docker.io/a/b/c:latest");
}

TEST(Reference, NameThatLooksLikeHostWithoutSlashIsOfficialImage) {
  // Without a '/', nothing is a domain: "localhost:5000" is image "localhost", tag "5000".
  EXPECT_EQ(canonical("localhost:5000"), "docker.io/library/localhost:5000");
  EXPECT_EQ(canonical("example.com"), "docker.io/library/example.com:latest");
}

// --- domains ---------------------------------------------------------------------------

TEST(Reference, LocalhostIsADomain) {
  Reference ref = parse_reference("localhost/x");
  EXPECT_EQ(ref.domain, "localhost");
  EXPECT_EQ(ref.path, "x");
  EXPECT_EQ(ref.str(), "localhost/x:latest");
}

TEST(Reference, HostWithPortIsADomain) {
  Reference ref = parse_reference("host:5000/x");
  EXPECT_EQ(ref.domain, "host:5000");
  EXPECT_EQ(ref.path, "x");
  EXPECT_EQ(ref.str(), "host:5000/x:latest");
}

TEST(Reference, DottedHostIsADomainWithoutLibrary) {
  Reference ref = parse_reference("a.b/x");
  EXPECT_EQ(ref.domain, "a.b");
  EXPECT_EQ(ref.path, "x");
}

TEST(Reference, LocalhostWithPortAndTag) {
  Reference ref = parse_reference("localhost:5000/team/app:v2");
  EXPECT_EQ(ref.domain, "localhost:5000");
  EXPECT_EQ(ref.path, "team/app");
  EXPECT_EQ(ref.tag, "v2");
}

TEST(Reference, Ipv4WithPort) {
  EXPECT_EQ(canonical("127.0.0.1:5000/debian"), "127.0.0.1:5000/debian:latest");
}

TEST(Reference, Ipv6LiteralWithPort) {
  Reference ref = parse_reference("[::1]:5000/x");
  EXPECT_EQ(ref.domain, "[::1]:5000");
  EXPECT_EQ(ref.path, "x");
  EXPECT_EQ(ref.str(), "[::1]:5000/x:latest");
  EXPECT_EQ(canonical("[fc00:1:2:3:4:5:6:7]:5000/library/debian:12"),
            "[fc00:1:2:3:4:5:6:7]:5000/library/debian:12");
}

TEST(Reference, Ipv6LiteralWithoutPort) {
  EXPECT_EQ(parse_reference("[::1]/x").domain, "[::1]");
}

TEST(Reference, Ipv6WithoutBracketsOrPathIsRejected) {
  EXPECT_EQ(error_of("fc00::1:5000/debian"), "invalid reference format");
  EXPECT_EQ(error_of("[fc00::1]:5000"), "invalid reference format");
  EXPECT_EQ(error_of("[fe80::1%eth0]:5000/debian"), "invalid reference format");
  EXPECT_EQ(error_of("[]:5000/x"), "invalid reference format");
}

TEST(Reference, BadPortIsRejected) {
  EXPECT_EQ(error_of("host:/x"), "invalid reference format");
  EXPECT_EQ(error_of("host:50a/x"), "invalid reference format");
  EXPECT_EQ(error_of("host:80:80/x"), "invalid reference format");
}

TEST(Reference, BadDomainComponentsAreRejected) {
  EXPECT_EQ(error_of("-docker.io/docker/docker"), "invalid reference format");
  EXPECT_EQ(error_of("a..b/x"), "invalid reference format");
  EXPECT_EQ(error_of("host-.com/x"), "invalid reference format");
}

TEST(Reference, UppercaseFirstComponentIsADomain) {
  Reference ref = parse_reference("Foo/bar");
  EXPECT_EQ(ref.domain, "Foo");
  EXPECT_EQ(ref.path, "bar");
  EXPECT_EQ(ref.familiar(), "Foo/bar:latest");
  EXPECT_EQ(parse_reference("EXAMPLE.COM/bar").domain, "EXAMPLE.COM");
}

TEST(Reference, UnderscoreFirstComponentIsANamespace) {
  Reference ref = parse_reference("test_com/foo");
  EXPECT_EQ(ref.domain, "docker.io");
  EXPECT_EQ(ref.path, "test_com/foo");
}

TEST(Reference, DottedFirstComponentThatIsNoHostBecomesPath) {
  // Split off as a domain by its '.', then re-read by the grammar, which finds no valid
  // host and takes the whole name as a path: docker leaves the domain empty.
  Reference ref = parse_reference("foo_bar.com/x");
  EXPECT_EQ(ref.domain, "");
  EXPECT_EQ(ref.path, "foo_bar.com/x");
  EXPECT_EQ(ref.str(), "foo_bar.com/x:latest");
}

// --- path components --------------------------------------------------------------------

TEST(Reference, SeparatorsInPathComponents) {
  EXPECT_EQ(canonical("my_app"), "docker.io/library/my_app:latest");
  EXPECT_EQ(canonical("dock__er/docker"), "docker.io/dock__er/docker:latest");
  EXPECT_EQ(canonical("docker---rules/docker"), "docker.io/docker---rules/docker:latest");
  EXPECT_EQ(canonical("ubuntu-12.04-base"), "docker.io/library/ubuntu-12.04-base:latest");
  EXPECT_EQ(canonical("d/t"), "docker.io/d/t:latest");
}

TEST(Reference, BadSeparatorsAreRejected) {
  for (const char* name :
       {"a___b", "____/____", "_docker/_docker", "dock..er/docker", "dock_.er/docker",
        "dock-.er/docker", "-docker/docker", "docker-/docker", "app_", "a._b"}) {
    EXPECT_EQ(error_of(name), "invalid reference format") << name;
  }
}

TEST(Reference, EmptyPathComponentsAreRejected) {
  EXPECT_EQ(error_of("docker///docker"), "invalid reference format");
  EXPECT_EQ(error_of("docker/"), "invalid reference format");
  EXPECT_EQ(error_of("/docker"), "invalid reference format");
  EXPECT_EQ(error_of("localhost/"), "invalid reference format");
}

TEST(Reference, OtherCharactersAreRejected) {
  EXPECT_EQ(error_of("https://github.com/docker/docker"), "invalid reference format");
  EXPECT_EQ(error_of("my app"), "invalid reference format");
  EXPECT_EQ(error_of("app!"), "invalid reference format");
}

TEST(Reference, UppercasePathIsRejected) {
  EXPECT_EQ(error_of("Busybox"),
            "invalid reference format: repository name (library/Busybox) must be lowercase");
  EXPECT_EQ(error_of("docker/Docker"),
            "invalid reference format: repository name (docker/Docker) must be lowercase");
  EXPECT_EQ(error_of("localhost:5000/x/Y:tag"),
            "invalid reference format: repository name (x/Y) must be lowercase");
}

TEST(Reference, UppercaseDomainThatIsNoHostIsRejectedAsUppercase) {
  // "Foo_bar" is taken for a domain (uppercase) but is not a host; lower-cased, the whole
  // name would be a valid path.
  EXPECT_EQ(error_of("Foo_bar/x"), "repository name must be lowercase");
}

TEST(Reference, PathLengthLimit) {
  std::string ok_name(255 - 8, 'a');  // "library/" + 247 = 255
  EXPECT_EQ(parse_reference(ok_name).path.size(), 255u);
  EXPECT_EQ(error_of(std::string(256, 'a')),
            "repository name must not be more than 255 characters");
  // The limit counts the path only, not the domain.
  std::string long_domain = std::string(100, 'h') + ".example.com";
  EXPECT_NO_THROW(parse_reference(long_domain + "/" + std::string(255, 'p')));
  EXPECT_EQ(error_of(long_domain + "/" + std::string(256, 'p')),
            "repository name must not be more than 255 characters");
}

// --- tags -------------------------------------------------------------------------------

TEST(Reference, TagCharacters) {
  EXPECT_EQ(parse_reference("app:V1.2-rc_3").tag, "V1.2-rc_3");
  EXPECT_EQ(parse_reference("app:_x").tag, "_x");
  EXPECT_EQ(parse_reference("app:0").tag, "0");
}

TEST(Reference, TagMustStartWithAWordCharacter) {
  EXPECT_EQ(error_of("ubuntu:."), "invalid reference format");
  EXPECT_EQ(error_of("ubuntu:-x"), "invalid reference format");
  EXPECT_EQ(error_of("ubuntu:a+b"), "invalid reference format");
}

TEST(Reference, TagLengthLimit) {
  EXPECT_EQ(parse_reference("app:" + std::string(128, 't')).tag->size(), 128u);
  EXPECT_EQ(error_of("app:" + std::string(129, 't')), "invalid reference format");
}

TEST(Reference, TrailingColonIsRejected) {
  EXPECT_EQ(error_of("busybox:"), "invalid reference format");
  EXPECT_EQ(error_of("localhost:5000/x:"), "invalid reference format");
}

TEST(Reference, TwoTagsAreRejected) {
  EXPECT_EQ(error_of("busybox:a:b"), "invalid reference format");
}

// --- digests ----------------------------------------------------------------------------

TEST(Reference, DigestOnlyGetsNoDefaultTag) {
  Reference ref = parse_reference("busybox@" + kDigest);
  EXPECT_FALSE(ref.tag);
  EXPECT_EQ(ref.digest, kDigest);
  EXPECT_EQ(ref.str(), "docker.io/library/busybox@" + kDigest);
}

TEST(Reference, TagAndDigestAreBothKept) {
  Reference ref = parse_reference("busybox:1.36@" + kDigest);
  EXPECT_EQ(ref.tag, "1.36");
  EXPECT_EQ(ref.digest, kDigest);
  EXPECT_EQ(ref.str(), "docker.io/library/busybox:1.36@" + kDigest);
  EXPECT_EQ(ref.familiar(), "busybox:1.36@" + kDigest);
}

TEST(Reference, DigestWithRegistryPort) {
  Reference ref = parse_reference("localhost:5000/x@" + kDigest);
  EXPECT_EQ(ref.domain, "localhost:5000");
  EXPECT_EQ(ref.path, "x");
  EXPECT_FALSE(ref.tag);
}

TEST(Reference, OtherRegisteredAlgorithms) {
  std::string sha512 = "sha512:" + std::string(128, 'a');
  EXPECT_EQ(parse_reference("app@" + sha512).digest, sha512);
  std::string sha384 = "sha384:" + std::string(96, '0');
  EXPECT_EQ(parse_reference("app@" + sha384).digest, sha384);
}

TEST(Reference, DigestWithWrongLength) {
  EXPECT_EQ(error_of("busybox@sha256:" + std::string(32, 'a')), "invalid checksum digest length");
  EXPECT_EQ(error_of("busybox@sha256:" + kHex + "0"), "invalid checksum digest length");
  EXPECT_EQ(error_of("busybox@sha256:" + kHex.substr(1)), "invalid checksum digest length");
}

TEST(Reference, DigestTooShortForTheGrammar) {
  EXPECT_EQ(error_of("busybox@sha256:abc"), "invalid reference format");
  EXPECT_EQ(error_of("busybox@sha256:" + std::string(31, 'a')), "invalid reference format");
}

TEST(Reference, UppercaseDigestHexIsInvalidFormat) {
  EXPECT_EQ(error_of("busybox@sha256:" + std::string(64, 'A')), "invalid checksum digest format");
}

TEST(Reference, NonHexDigestIsRejected) {
  EXPECT_EQ(error_of("busybox@sha256:" + std::string(64, 'g')), "invalid reference format");
}

TEST(Reference, UnknownDigestAlgorithm) {
  EXPECT_EQ(error_of("busybox@md5:" + std::string(32, 'a')), "unsupported digest algorithm");
  EXPECT_EQ(error_of("busybox@sha256+b64:" + kHex), "unsupported digest algorithm");
  // go-digest wants a lower-case algorithm.
  EXPECT_EQ(error_of("busybox:t@SHA256:" + kHex), "invalid checksum digest format");
}

TEST(Reference, DigestWithoutAlgorithmIsRejected) {
  EXPECT_EQ(error_of("busybox@" + kHex), "invalid reference format");
  EXPECT_EQ(error_of("busybox@:" + kHex), "invalid reference format");
  EXPECT_EQ(error_of("busybox@1sha:" + kHex), "invalid reference format");
  EXPECT_EQ(error_of("busybox@latest"), "invalid reference format");
}

TEST(Reference, TrailingAtIsRejected) {
  EXPECT_EQ(error_of("busybox@"), "invalid reference format");
  EXPECT_EQ(error_of("busybox:1@"), "invalid reference format");
}

TEST(Reference, TwoDigestsAreRejected) {
  EXPECT_EQ(error_of("busybox@" + kDigest + "@" + kDigest), "invalid reference format");
}

TEST(Reference, TagAfterDigestIsRejected) {
  EXPECT_EQ(error_of("busybox@" + kDigest + ":tag"), "invalid reference format");
}

// --- IDs and empty input -----------------------------------------------------------------

TEST(Reference, EmptyStringIsRejected) {
  EXPECT_EQ(error_of(""), "invalid reference format");
  EXPECT_EQ(error_of(":"), "invalid reference format");
  EXPECT_EQ(error_of("@"), "invalid reference format");
  EXPECT_EQ(error_of("/"), "invalid reference format");
}

TEST(Reference, BareImageIdIsRejectedAsName) {
  EXPECT_EQ(error_of(kHex),
            "invalid repository name (" + kHex + "), cannot specify 64-byte hexadecimal strings");
}

TEST(Reference, HexNamesThatAreNotIdsAreAccepted) {
  EXPECT_EQ(canonical(kHex.substr(1)), "docker.io/library/" + kHex.substr(1) + ":latest");
  EXPECT_EQ(canonical("docker.io/" + kHex), "docker.io/library/" + kHex + ":latest");
}

TEST(Reference, DigestStringParsesAsNameAndTag) {
  // ParseNormalizedNamed reads "sha256:<hex>" as image "sha256" with a 64-character tag;
  // callers check looks_like_image_id first, as docker's ParseAnyReference does.
  Reference ref = parse_reference(kDigest);
  EXPECT_EQ(ref.path, "library/sha256");
  EXPECT_EQ(ref.tag, kHex);
}

TEST(LooksLikeImageId, FullIds) {
  EXPECT_TRUE(looks_like_image_id(kHex));
  EXPECT_TRUE(looks_like_image_id(kDigest));
}

TEST(LooksLikeImageId, RejectsPrefixesAndOtherForms) {
  EXPECT_FALSE(looks_like_image_id(""));
  EXPECT_FALSE(looks_like_image_id("sha256:"));
  EXPECT_FALSE(looks_like_image_id(kHex.substr(0, 12)));
  EXPECT_FALSE(looks_like_image_id("sha256:" + kHex.substr(0, 12)));
  EXPECT_FALSE(looks_like_image_id(kHex + "0"));
  EXPECT_FALSE(looks_like_image_id(std::string(64, 'A')));
  EXPECT_FALSE(looks_like_image_id("sha512:" + kHex));
  EXPECT_FALSE(looks_like_image_id("SHA256:" + kHex));
  EXPECT_FALSE(looks_like_image_id("busybox"));
}

// --- familiar() -------------------------------------------------------------------------

TEST(Reference, FamiliarDropsDockerIoAndLibrary) {
  EXPECT_EQ(familiar("busybox"), "busybox:latest");
  EXPECT_EQ(familiar("docker.io/library/busybox:1"), "busybox:1");
  EXPECT_EQ(familiar("index.docker.io/library/busybox"), "busybox:latest");
}

TEST(Reference, FamiliarKeepsUserNamespace) {
  EXPECT_EQ(familiar("user/app:1"), "user/app:1");
  EXPECT_EQ(familiar("docker.io/user/app"), "user/app:latest");
}

TEST(Reference, FamiliarKeepsNestedLibraryPath) {
  EXPECT_EQ(familiar("library/foo/bar"), "library/foo/bar:latest");
}

TEST(Reference, FamiliarKeepsOtherRegistries) {
  EXPECT_EQ(familiar("quay.io/x/y:tag"), "quay.io/x/y:tag");
  EXPECT_EQ(familiar("localhost:5000/library/x"), "localhost:5000/library/x:latest");
  EXPECT_EQ(familiar("[::1]:5000/x@" + kDigest), "[::1]:5000/x@" + kDigest);
}

TEST(Reference, FamiliarOfDigestReference) {
  EXPECT_EQ(familiar("busybox@" + kDigest), "busybox@" + kDigest);
}

TEST(Reference, FamiliarOfHandBuiltReference) {
  Reference ref{"docker.io", "library/alpine", std::nullopt, std::nullopt};
  EXPECT_EQ(ref.familiar(), "alpine");
  EXPECT_EQ(ref.str(), "docker.io/library/alpine");
  EXPECT_EQ(ref.repository(), "docker.io/library/alpine");
}

// --- add_default_tag = false ------------------------------------------------------------

TEST(Reference, NoDefaultTagWhenDisabled) {
  Reference ref = parse_reference("busybox", false);
  EXPECT_FALSE(ref.tag);
  EXPECT_EQ(ref.str(), "docker.io/library/busybox");
  EXPECT_EQ(ref.familiar(), "busybox");
  EXPECT_EQ(canonical("quay.io/x/y", false), "quay.io/x/y");
}

TEST(Reference, ExplicitTagKeptWhenDefaultDisabled) {
  EXPECT_EQ(canonical("busybox:1", false), "docker.io/library/busybox:1");
  EXPECT_EQ(canonical("busybox@" + kDigest, false), "docker.io/library/busybox@" + kDigest);
}

TEST(Reference, ParsingIsIdempotent) {
  for (const char* text : {"busybox", "user/app:1", "localhost:5000/a/b", "[::1]:5000/x",
                           "quay.io/x/y:tag", "Foo/bar"}) {
    Reference ref = parse_reference(text);
    EXPECT_EQ(parse_reference(ref.str()), ref) << text;
    EXPECT_EQ(parse_reference(ref.familiar()), ref) << text;
  }
}

}  // namespace
}  // namespace cairn::store
