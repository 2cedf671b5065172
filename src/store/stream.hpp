// Byte pipelines between two threads, and the gzip/zstd codecs (private to src/store).
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "cairn/store/layer_tar.hpp"

namespace cairn::store {

// A bounded queue of byte chunks from one producer thread to one consumer thread. Either
// side can fail it; the other side then sees the error.
class ChunkQueue {
 public:
  explicit ChunkQueue(std::size_t max_chunks = 16) : max_chunks_(max_chunks) {}

  // Blocks while full. Returns false when the consumer failed (stop producing).
  bool push(std::string chunk);
  // Blocks while empty. Returns false at the end of the stream; rethrows a producer error.
  bool pop(std::string& chunk);
  void close();                              // producer: end of stream
  void fail(std::exception_ptr error);       // either side: abort
  bool failed() const;

 private:
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<std::string> chunks_;
  std::size_t max_chunks_;
  bool closed_ = false;
  std::exception_ptr error_;
};

using ChunkSink = std::function<void(std::string_view)>;

// Streaming decoder: feed compressed bytes, get plain bytes through `sink`. finish()
// throws when the stream is truncated; corrupt data (bad CRC, bad frame) throws on feed.
class Decoder {
 public:
  virtual ~Decoder() = default;
  virtual void feed(std::string_view data, const ChunkSink& sink) = 0;
  virtual void finish() = 0;
  static std::unique_ptr<Decoder> create(Compression compression);
};

// Streaming encoder, deterministic output (no timestamps or names in gzip headers). gzip is
// written as independent members of 4 MiB of input each, compressed two at a time.
class Encoder {
 public:
  virtual ~Encoder() = default;
  virtual void feed(std::string_view data, const ChunkSink& sink) = 0;
  virtual void finish(const ChunkSink& sink) = 0;
  static std::unique_ptr<Encoder> create(Compression compression, int level);
};

// Decompresses (by content) everything from `in` to `out`.
void decompress_to(int in, int out);

}  // namespace cairn::store
