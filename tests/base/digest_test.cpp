#include "cairn/base/digest.hpp"

#include <gtest/gtest.h>

#include <string>
#include <utility>

#include "cairn/base/error.hpp"

namespace cairn {
namespace {

constexpr const char* kEmpty = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
constexpr const char* kAbc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
constexpr const char* kMillionA =
    "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0";
// FIPS 180-2 two-block message.
constexpr const char* kTwoBlockInput = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
constexpr const char* kTwoBlock =
    "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1";

// --- known vectors ----------------------------------------------------------------------

TEST(Sha256, EmptyInput) {
  EXPECT_EQ(Sha256().hex_digest(), kEmpty);
  EXPECT_EQ(sha256_hex(""), kEmpty);
}

TEST(Sha256, Abc) {
  EXPECT_EQ(Sha256().update("abc").hex_digest(), kAbc);
  EXPECT_EQ(sha256_hex("abc"), kAbc);
}

TEST(Sha256, TwoBlockMessage) {
  EXPECT_EQ(sha256_hex(kTwoBlockInput), kTwoBlock);
}

TEST(Sha256, OneMillionLetterA) {
  EXPECT_EQ(sha256_hex(std::string(1'000'000, 'a')), kMillionA);
}

TEST(Sha256, EmbeddedNulBytesAreHashed) {
  using namespace std::string_literals;
  // sha256 of the single byte 0x00; a C-string based implementation would hash "".
  EXPECT_EQ(sha256_hex("\0"s), "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d");
  const unsigned char bytes[] = {0x00};
  EXPECT_EQ(Sha256().update(bytes, sizeof bytes).hex_digest(), sha256_hex("\0"s));
}

TEST(Sha256, DigestIsSixtyFourLowerCaseHexDigits) {
  const std::string hex = sha256_hex("anything");
  ASSERT_EQ(hex.size(), 64u);
  for (char c : hex)
    EXPECT_TRUE((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')) << hex;
}

// --- streaming --------------------------------------------------------------------------

TEST(Sha256, IncrementalUpdatesEqualOneShotAtEverySplit) {
  const std::string input = kTwoBlockInput;
  for (std::size_t split = 0; split <= input.size(); ++split) {
    Sha256 hash;
    hash.update(std::string_view(input).substr(0, split));
    hash.update(std::string_view(input).substr(split));
    EXPECT_EQ(hash.hex_digest(), kTwoBlock) << "split at " << split;
  }
}

TEST(Sha256, ManySmallUpdatesEqualOneShot) {
  Sha256 hash;
  std::string chunk(1000, 'a');
  for (int i = 0; i < 1000; ++i)
    hash.update(chunk.data(), chunk.size());
  EXPECT_EQ(hash.hex_digest(), kMillionA);
}

TEST(Sha256, PointerAndStringViewUpdatesAgree) {
  const std::string data = "some layer bytes";
  EXPECT_EQ(Sha256().update(data.data(), data.size()).hex_digest(),
            Sha256().update(data).hex_digest());
}

TEST(Sha256, EmptyUpdatesChangeNothing) {
  EXPECT_EQ(Sha256().update("").update("abc").update(nullptr, 0).hex_digest(), kAbc);
}

TEST(Sha256, OciDigestHasTheSha256Prefix) {
  EXPECT_EQ(Sha256().update("abc").oci_digest(), std::string("sha256:") + kAbc);
  EXPECT_TRUE(is_sha256_digest(Sha256().update("abc").oci_digest()));
}

TEST(Sha256, UpdateAfterDigestThrows) {
  Sha256 hash;
  hash.update("abc");
  EXPECT_EQ(hash.hex_digest(), kAbc);
  EXPECT_THROW(hash.update("more"), Error);
  EXPECT_THROW(hash.update("x", 1), Error);
}

TEST(Sha256, SecondDigestThrows) {
  Sha256 hash;
  (void)hash.hex_digest();
  EXPECT_THROW((void)hash.hex_digest(), Error);
  EXPECT_THROW((void)hash.oci_digest(), Error);
}

TEST(Sha256, MovedToObjectContinuesTheStream) {
  Sha256 first;
  first.update("a");
  Sha256 second = std::move(first);
  second.update("bc");
  EXPECT_EQ(second.hex_digest(), kAbc);
}

// --- is_sha256_digest -------------------------------------------------------------------

TEST(IsSha256Digest, AcceptsLowerCaseHexWithPrefix) {
  EXPECT_TRUE(is_sha256_digest(std::string("sha256:") + kEmpty));
  EXPECT_TRUE(is_sha256_digest(std::string("sha256:") + std::string(64, '0')));
  EXPECT_TRUE(is_sha256_digest(std::string("sha256:") + std::string(64, 'f')));
}

TEST(IsSha256Digest, RejectsUpperCaseHex) {
  std::string digest = std::string("sha256:") + kEmpty;
  digest[7] = 'E';
  EXPECT_FALSE(is_sha256_digest(digest));
  EXPECT_FALSE(is_sha256_digest(std::string("sha256:") + std::string(64, 'A')));
}

TEST(IsSha256Digest, RejectsWrongLength) {
  const std::string hex = kEmpty;
  EXPECT_FALSE(is_sha256_digest("sha256:" + hex.substr(0, 63)));
  EXPECT_FALSE(is_sha256_digest("sha256:" + hex + "0"));
  EXPECT_FALSE(is_sha256_digest("sha256:"));
  EXPECT_FALSE(is_sha256_digest(""));
}

TEST(IsSha256Digest, RejectsWrongOrMissingPrefix) {
  const std::string hex = kEmpty;
  EXPECT_FALSE(is_sha256_digest(hex));
  EXPECT_FALSE(is_sha256_digest("sha512:" + hex));
  EXPECT_FALSE(is_sha256_digest("SHA256:" + hex));
  EXPECT_FALSE(is_sha256_digest("sha256-" + hex));
  EXPECT_FALSE(is_sha256_digest(" sha256:" + hex.substr(1)));
}

TEST(IsSha256Digest, RejectsNonHexCharacters) {
  std::string digest = std::string("sha256:") + kEmpty;
  for (char bad : {'g', 'z', ' ', ':', '\0', '/'}) {
    std::string copy = digest;
    copy.back() = bad;
    EXPECT_FALSE(is_sha256_digest(copy)) << "character code " << static_cast<int>(bad);
  }
}

}  // namespace
}  // namespace cairn
