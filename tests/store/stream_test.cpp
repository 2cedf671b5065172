// The store's codecs: gzip written by cairn must be plain gzip that any reader takes, and
// must not depend on how the tar writer chunked its input (layer digests would wander).
#include <gtest/gtest.h>
#include <zlib.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "stream.hpp"

namespace cairn::store {
namespace {

// About 3.5 MB of tar-like data: compressible text runs mixed with noise.
std::string sample() {
  std::string out;
  std::uint32_t x = 12345;
  for (int i = 0; out.size() < 3'500'000; ++i) {
    out += "Package: lib" + std::to_string(i % 977) + "\nVersion: 1." + std::to_string(i) + "\n";
    for (int j = 0; j < 40; ++j) {
      x = x * 1103515245u + 12345u;
      out.push_back(static_cast<char>(x >> 24));
    }
  }
  return out;
}

std::string encode(Compression c, int level, std::string_view data,
                   const std::vector<std::size_t>& chunk_sizes) {
  auto encoder = Encoder::create(c, level);
  std::string out;
  auto sink = [&](std::string_view bytes) { out.append(bytes); };
  std::size_t i = 0;
  while (!data.empty()) {
    const std::size_t n = std::min(data.size(), chunk_sizes[i++ % chunk_sizes.size()]);
    encoder->feed(data.substr(0, n), sink);
    data.remove_prefix(n);
  }
  encoder->finish(sink);
  return out;
}

std::string decode(Compression c, std::string_view data) {
  auto decoder = Decoder::create(c);
  std::string out;
  decoder->feed(data, [&](std::string_view bytes) { out.append(bytes); });
  decoder->finish();
  return out;
}

// zlib's own inflate, independent of the decoder cairn picks: member after member, as
// gzip(1) reads a file. `members` counts them.
std::string zlib_gunzip(std::string_view data, int* members = nullptr) {
  z_stream z{};
  EXPECT_EQ(inflateInit2(&z, 16 + MAX_WBITS), Z_OK);
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  z.avail_in = static_cast<uInt>(data.size());
  std::string out;
  char buf[65536];
  int count = 0;
  int rc;
  do {
    do {
      z.next_out = reinterpret_cast<Bytef*>(buf);
      z.avail_out = sizeof buf;
      rc = inflate(&z, Z_NO_FLUSH);
      out.append(buf, sizeof buf - z.avail_out);
    } while (rc == Z_OK);
    EXPECT_EQ(rc, Z_STREAM_END);
    ++count;
    inflateReset(&z);
  } while (rc == Z_STREAM_END && z.avail_in > 0);
  inflateEnd(&z);
  EXPECT_EQ(z.avail_in, 0u);
  if (members) *members = count;
  return out;
}

TEST(Stream, GzipIsPlainGzipAtEveryLevel) {
  const std::string data = sample();
  for (int level : {-1, 1, 6, 9}) {
    const std::string gz = encode(Compression::gzip, level, data, {1 << 16});
    ASSERT_EQ(detect_compression(reinterpret_cast<const unsigned char*>(gz.data()), gz.size()),
              Compression::gzip);
    EXPECT_EQ(gz[3], 0) << "no name or other header flags";
    EXPECT_EQ(gz.substr(4, 4), std::string(4, '\0')) << "mtime 0";
    EXPECT_LT(gz.size(), data.size()) << "level " << level;
    EXPECT_EQ(zlib_gunzip(gz), data) << "level " << level;
    EXPECT_EQ(decode(Compression::gzip, gz), data) << "level " << level;
  }
}

TEST(Stream, GzipOutputDoesNotDependOnInputChunking) {
  const std::string data = sample();
  for (int level : {-1, 1}) {
    const std::string whole = encode(Compression::gzip, level, data, {data.size()});
    EXPECT_EQ(encode(Compression::gzip, level, data, {10240}), whole);
    EXPECT_EQ(encode(Compression::gzip, level, data, {1, 7, 65536, 1 << 20, 3000001}), whole);
  }
}

TEST(Stream, LargeGzipIsMembersAtFixedOffsets) {
  std::string data;
  while (data.size() < 11'000'000) data += sample();
  const std::size_t segment = 4 << 20;  // input bytes per member
  int members = 0;
  const std::string whole = encode(Compression::gzip, 1, data, {data.size()});
  EXPECT_EQ(zlib_gunzip(whole, &members), data);
  EXPECT_EQ(members, static_cast<int>((data.size() + segment - 1) / segment));
  EXPECT_EQ(decode(Compression::gzip, whole), data);
  EXPECT_EQ(encode(Compression::gzip, 1, data, {10240, 3, 1 << 22}), whole);
}

TEST(Stream, EmptyInputIsAValidEmptyStream) {
  for (Compression c : {Compression::gzip, Compression::zstd}) {
    const std::string out = encode(c, 1, "", {1});
    EXPECT_FALSE(out.empty()) << compression_name(c);
    EXPECT_EQ(decode(c, out), "") << compression_name(c);
  }
}

TEST(Stream, ZstdRoundTrip) {
  const std::string data = sample();
  const std::string zst = encode(Compression::zstd, 3, data, {4096, 1 << 20});
  EXPECT_EQ(detect_compression(reinterpret_cast<const unsigned char*>(zst.data()), zst.size()),
            Compression::zstd);
  EXPECT_EQ(decode(Compression::zstd, zst), data);
}

TEST(Stream, TruncatedGzipIsAnError) {
  const std::string gz = encode(Compression::gzip, 1, sample(), {1 << 16});
  auto decoder = Decoder::create(Compression::gzip);
  decoder->feed(std::string_view(gz).substr(0, gz.size() / 2), [](std::string_view) {});
  EXPECT_THROW(decoder->finish(), std::exception);
}

}  // namespace
}  // namespace cairn::store
