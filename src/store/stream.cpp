#include "stream.hpp"

#include <zlib.h>
#ifdef CAIRN_HAVE_ISAL
#include <isa-l/igzip_lib.h>
#endif
#include <zstd.h>

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <deque>
#include <future>
#include <vector>

#include "cairn/base/error.hpp"
#include "cairn/base/sys.hpp"

namespace cairn::store {

bool ChunkQueue::push(std::string chunk) {
  std::unique_lock lock(mutex_);
  changed_.wait(lock, [&] { return chunks_.size() < max_chunks_ || error_; });
  if (error_) return false;
  chunks_.push_back(std::move(chunk));
  changed_.notify_all();
  return true;
}

bool ChunkQueue::pop(std::string& chunk) {
  std::unique_lock lock(mutex_);
  changed_.wait(lock, [&] { return !chunks_.empty() || closed_ || error_; });
  if (error_) std::rethrow_exception(error_);
  if (chunks_.empty()) return false;
  chunk = std::move(chunks_.front());
  chunks_.pop_front();
  changed_.notify_all();
  return true;
}

void ChunkQueue::close() {
  std::lock_guard lock(mutex_);
  closed_ = true;
  changed_.notify_all();
}

void ChunkQueue::fail(std::exception_ptr error) {
  std::lock_guard lock(mutex_);
  if (!error_) error_ = error;
  changed_.notify_all();
}

bool ChunkQueue::failed() const {
  std::lock_guard lock(mutex_);
  return error_ != nullptr;
}

Compression detect_compression(const unsigned char* data, std::size_t size) {
  if (size >= 2 && data[0] == 0x1f && data[1] == 0x8b) return Compression::gzip;
  if (size >= 4 && data[0] == 0x28 && data[1] == 0xb5 && data[2] == 0x2f && data[3] == 0xfd)
    return Compression::zstd;
  return Compression::none;
}

std::string compression_name(Compression c) {
  switch (c) {
    case Compression::gzip: return "gzip";
    case Compression::zstd: return "zstd";
    case Compression::none: return "none";
  }
  return "none";
}

namespace {

constexpr std::size_t kChunk = 256 * 1024;

class PassThrough final : public Decoder, public Encoder {
 public:
  void feed(std::string_view data, const ChunkSink& sink) override { sink(data); }
  void finish() override {}
  void finish(const ChunkSink&) override {}
};

// gzip with zlib; several concatenated members are one stream, as gzip(1) reads them.
class GzipDecoder final : public Decoder {
 public:
  GzipDecoder() {
    if (inflateInit2(&z_, 16 + MAX_WBITS) != Z_OK) throw Error("gzip: cannot initialise zlib");
  }
  ~GzipDecoder() override { inflateEnd(&z_); }

  void feed(std::string_view data, const ChunkSink& sink) override {
    z_.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
    z_.avail_in = static_cast<uInt>(data.size());
    do {
      if (member_done_) {
        if (z_.avail_in == 0) return;
        inflateReset(&z_);  // another gzip member follows
        member_done_ = false;
      }
      z_.next_out = reinterpret_cast<Bytef*>(out_);
      z_.avail_out = sizeof out_;
      const int rc = inflate(&z_, Z_NO_FLUSH);
      if (rc != Z_OK && rc != Z_STREAM_END && rc != Z_BUF_ERROR)
        throw Error(std::string("gzip: corrupt stream: ") + (z_.msg ? z_.msg : "inflate failed"));
      sink(std::string_view(out_, sizeof out_ - z_.avail_out));
      if (rc == Z_STREAM_END) member_done_ = true;
      if (rc == Z_BUF_ERROR) return;  // needs more input
    } while (z_.avail_in > 0 || z_.avail_out == 0);
  }

  void finish() override {
    if (!member_done_) throw Error("gzip: truncated stream (unexpected end of data)");
  }

 private:
  z_stream z_{};
  bool member_done_ = false;
  char out_[kChunk];
};

#ifdef CAIRN_HAVE_ISAL
// gzip through ISA-L's inflate: about 2.5 times zlib's speed, which is what a pull or a load
// waits for (the decompressing thread is the slowest of the pipeline). Same contract as
// GzipDecoder: members one after another, corrupt data and bad CRCs throw on feed.
class IsalGzipDecoder final : public Decoder {
 public:
  IsalGzipDecoder() : state_(std::make_unique<inflate_state>()) { start_member(); }

  void feed(std::string_view data, const ChunkSink& sink) override {
    state_->next_in = reinterpret_cast<uint8_t*>(const_cast<char*>(data.data()));
    state_->avail_in = static_cast<uint32_t>(data.size());
    while (true) {
      if (state_->block_state == ISAL_BLOCK_FINISH) {
        if (state_->avail_in == 0) return;
        uint8_t* next = state_->next_in;  // another gzip member follows
        const uint32_t left = state_->avail_in;
        start_member();
        state_->next_in = next;
        state_->avail_in = left;
      }
      state_->next_out = reinterpret_cast<uint8_t*>(out_);
      state_->avail_out = sizeof out_;
      const int rc = isal_inflate(state_.get());
      if (rc < 0) throw Error("gzip: corrupt stream: " + describe(rc));
      const std::size_t produced = sizeof out_ - state_->avail_out;
      if (produced > 0) sink(std::string_view(out_, produced));
      if (state_->block_state != ISAL_BLOCK_FINISH && state_->avail_in == 0 && state_->avail_out > 0)
        return;  // needs more input
    }
  }

  void finish() override {
    if (state_->block_state != ISAL_BLOCK_FINISH)
      throw Error("gzip: truncated stream (unexpected end of data)");
  }

 private:
  void start_member() {
    isal_inflate_init(state_.get());
    state_->crc_flag = ISAL_GZIP;  // parses the header, checks CRC and size in the trailer
  }
  static std::string describe(int rc) {
    switch (rc) {
      case ISAL_INVALID_BLOCK: return "invalid deflate block";
      case ISAL_INVALID_SYMBOL: return "invalid deflate symbol";
      case ISAL_INVALID_LOOKBACK: return "invalid distance";
      case ISAL_INVALID_WRAPPER: return "invalid gzip header";
      case ISAL_UNSUPPORTED_METHOD: return "unsupported compression method";
      case ISAL_INCORRECT_CHECKSUM: return "incorrect data check";
      default: return "inflate failed (" + std::to_string(rc) + ")";
    }
  }
  std::unique_ptr<inflate_state> state_;  // large: kept off the stack
  char out_[kChunk];
};
#endif

class GzipEncoder final : public Encoder {
 public:
  explicit GzipEncoder(int level) {
    // windowBits 16+: a gzip wrapper with no name and mtime 0, so output is deterministic.
    if (deflateInit2(&z_, level < 0 ? Z_DEFAULT_COMPRESSION : level, Z_DEFLATED, 16 + MAX_WBITS,
                     8, Z_DEFAULT_STRATEGY) != Z_OK)
      throw Error("gzip: cannot initialise zlib");
  }
  ~GzipEncoder() override { deflateEnd(&z_); }
  void feed(std::string_view data, const ChunkSink& sink) override { run(data, Z_NO_FLUSH, sink); }
  void finish(const ChunkSink& sink) override { run({}, Z_FINISH, sink); }

 private:
  void run(std::string_view data, int flush, const ChunkSink& sink) {
    z_.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
    z_.avail_in = static_cast<uInt>(data.size());
    int rc;
    do {
      z_.next_out = reinterpret_cast<Bytef*>(out_);
      z_.avail_out = sizeof out_;
      rc = deflate(&z_, flush);
      if (rc == Z_STREAM_ERROR) throw Error("gzip: deflate failed");
      sink(std::string_view(out_, sizeof out_ - z_.avail_out));
    } while (z_.avail_out == 0 || (flush == Z_FINISH && rc != Z_STREAM_END));
  }
  z_stream z_{};
  char out_[kChunk];
};

#ifdef CAIRN_HAVE_ISAL
// gzip through ISA-L's deflate: on an apt-get layer (156 MB) about ten times zlib's level 1
// for a blob of the same size, which is most of a big RUN step's commit. ISA-L's stateful
// deflate may cut blocks where a call's input ends, so input goes in as fixed blocks: the
// output depends on the content only, not on how the tar writer happened to chunk it.
class IsalGzipEncoder final : public Encoder {
 public:
  // zlib levels 1-3 (fast) map to ISA-L's 1; the default (-1) and higher to its 3 (its best).
  explicit IsalGzipEncoder(int zlib_level)
      : state_(std::make_unique<isal_zstream>()),
        level_(zlib_level >= 0 && zlib_level <= 3 ? 1 : 3),
        level_buf_(level_ == 1 ? ISAL_DEF_LVL1_DEFAULT : ISAL_DEF_LVL3_DEFAULT) {
    isal_deflate_init(state_.get());
    state_->level = level_;
    state_->level_buf = level_buf_.data();
    state_->level_buf_size = static_cast<uint32_t>(level_buf_.size());
    state_->gzip_flag = IGZIP_GZIP;  // header with no name and mtime 0
    pending_.reserve(kBlock);
  }
  void feed(std::string_view data, const ChunkSink& sink) override {
    while (!data.empty()) {
      if (pending_.empty() && data.size() >= kBlock) {
        deflate(data.substr(0, kBlock), false, sink);
        data.remove_prefix(kBlock);
        continue;
      }
      const std::size_t take = std::min(kBlock - pending_.size(), data.size());
      pending_.append(data.substr(0, take));
      data.remove_prefix(take);
      if (pending_.size() == kBlock) {
        deflate(pending_, false, sink);
        pending_.clear();
      }
    }
  }
  void finish(const ChunkSink& sink) override {
    deflate(pending_, true, sink);
    pending_.clear();
  }

 private:
  static constexpr std::size_t kBlock = 1 << 20;

  void deflate(std::string_view block, bool last, const ChunkSink& sink) {
    state_->next_in = reinterpret_cast<uint8_t*>(const_cast<char*>(block.data()));
    state_->avail_in = static_cast<uint32_t>(block.size());
    state_->end_of_stream = last ? 1 : 0;
    state_->flush = NO_FLUSH;
    do {
      state_->next_out = reinterpret_cast<uint8_t*>(out_);
      state_->avail_out = sizeof out_;
      const int rc = isal_deflate(state_.get());
      if (rc != COMP_OK) throw Error("gzip: ISA-L deflate failed (" + std::to_string(rc) + ")");
      sink(std::string_view(out_, sizeof out_ - state_->avail_out));
    } while (state_->avail_in > 0 || state_->avail_out == 0 ||
             (last && state_->internal_state.state != ZSTATE_END));
  }

  std::unique_ptr<isal_zstream> state_;  // large: kept off the stack
  uint32_t level_;
  std::vector<uint8_t> level_buf_;
  std::string pending_;
  char out_[kChunk];
};
#endif

std::unique_ptr<Encoder> make_gzip_member_encoder(int level) {
#ifdef CAIRN_HAVE_ISAL
  return std::make_unique<IsalGzipEncoder>(level);
#else
  return std::make_unique<GzipEncoder>(level);
#endif
}

// gzip as independent members of kSegment input bytes each, two compressed at a time: a
// 156 MB apt-get layer's commit waited for one compressing thread while the tar writer
// had finished (pack 0.5 s -> 0.3 s on two cores). Members begin at fixed input offsets,
// so the output depends on the content only, not on the machine's CPU count. Concatenated
// members are one gzip stream (RFC 1952 2.2); Go's, Python's, zlib's gzip tools and
// libarchive read them as one.
class SegmentedGzipEncoder final : public Encoder {
 public:
  explicit SegmentedGzipEncoder(int level) : level_(level) { segment_.reserve(kSegment); }
  ~SegmentedGzipEncoder() override {
    for (auto& member : pending_)
      if (member.valid()) member.wait();
  }
  void feed(std::string_view data, const ChunkSink& sink) override {
    while (!data.empty()) {
      const std::size_t take = std::min(kSegment - segment_.size(), data.size());
      segment_.append(data.substr(0, take));
      data.remove_prefix(take);
      if (segment_.size() == kSegment) submit(sink);
    }
  }
  void finish(const ChunkSink& sink) override {
    if (!segment_.empty() || !submitted_) submit(sink);  // empty input: one empty member
    while (!pending_.empty()) write_oldest(sink);
  }

 private:
  static constexpr std::size_t kSegment = 4 << 20;
  static constexpr std::size_t kInFlight = 2;

  void submit(const ChunkSink& sink) {
    std::string input;
    input.swap(segment_);
    segment_.reserve(kSegment);
    pending_.push_back(std::async(std::launch::async, [input = std::move(input), level = level_] {
      std::string out;
      const ChunkSink collect = [&](std::string_view bytes) { out.append(bytes); };
      auto encoder = make_gzip_member_encoder(level);
      encoder->feed(input, collect);
      encoder->finish(collect);
      return out;
    }));
    submitted_ = true;
    while (pending_.size() > kInFlight) write_oldest(sink);
  }
  void write_oldest(const ChunkSink& sink) {
    const std::string member = pending_.front().get();
    pending_.pop_front();
    sink(member);
  }

  int level_;
  bool submitted_ = false;
  std::string segment_;
  std::deque<std::future<std::string>> pending_;
};

class ZstdDecoder final : public Decoder {
 public:
  ZstdDecoder() : d_(ZSTD_createDStream()) {
    if (!d_) throw Error("zstd: cannot create a decompression context");
  }
  ~ZstdDecoder() override { ZSTD_freeDStream(d_); }

  void feed(std::string_view data, const ChunkSink& sink) override {
    ZSTD_inBuffer in{data.data(), data.size(), 0};
    while (in.pos < in.size) {
      ZSTD_outBuffer out{out_, sizeof out_, 0};
      const size_t rc = ZSTD_decompressStream(d_, &out, &in);
      if (ZSTD_isError(rc)) throw Error(std::string("zstd: corrupt stream: ") + ZSTD_getErrorName(rc));
      sink(std::string_view(out_, out.pos));
      frame_done_ = rc == 0;
    }
  }
  void finish() override {
    if (!frame_done_) throw Error("zstd: truncated stream (unexpected end of data)");
  }

 private:
  ZSTD_DStream* d_;
  bool frame_done_ = false;
  char out_[kChunk];
};

class ZstdEncoder final : public Encoder {
 public:
  explicit ZstdEncoder(int level) : c_(ZSTD_createCCtx()) {
    if (!c_) throw Error("zstd: cannot create a compression context");
    ZSTD_CCtx_setParameter(c_, ZSTD_c_compressionLevel, level < 0 ? 3 : level);
    ZSTD_CCtx_setParameter(c_, ZSTD_c_nbWorkers, 2);  // both cores
  }
  ~ZstdEncoder() override { ZSTD_freeCCtx(c_); }
  void feed(std::string_view data, const ChunkSink& sink) override { run(data, ZSTD_e_continue, sink); }
  void finish(const ChunkSink& sink) override { run({}, ZSTD_e_end, sink); }

 private:
  void run(std::string_view data, ZSTD_EndDirective mode, const ChunkSink& sink) {
    ZSTD_inBuffer in{data.data(), data.size(), 0};
    for (;;) {
      ZSTD_outBuffer out{out_, sizeof out_, 0};
      const size_t remaining = ZSTD_compressStream2(c_, &out, &in, mode);
      if (ZSTD_isError(remaining)) throw Error(std::string("zstd: ") + ZSTD_getErrorName(remaining));
      sink(std::string_view(out_, out.pos));
      const bool done = mode == ZSTD_e_end ? remaining == 0 : in.pos == in.size;
      if (done) break;
    }
  }
  ZSTD_CCtx* c_;
  char out_[kChunk];
};

}  // namespace

void decompress_to(int in, int out) {
  std::unique_ptr<Decoder> decoder;
  auto sink = [&](std::string_view plain) {
    if (!plain.empty()) sys::write_all(out, plain, "decompressed layer");
  };
  sys::read_chunks(in, "compressed layer", [&](std::string_view chunk) {
    if (!decoder)
      decoder = Decoder::create(detect_compression(
          reinterpret_cast<const unsigned char*>(chunk.data()), chunk.size()));
    decoder->feed(chunk, sink);
  });
  if (decoder) decoder->finish();
}

std::unique_ptr<Decoder> Decoder::create(Compression compression) {
  switch (compression) {
#ifdef CAIRN_HAVE_ISAL
    case Compression::gzip: return std::make_unique<IsalGzipDecoder>();
#else
    case Compression::gzip: return std::make_unique<GzipDecoder>();
#endif
    case Compression::zstd: return std::make_unique<ZstdDecoder>();
    case Compression::none: break;
  }
  return std::make_unique<PassThrough>();
}

std::unique_ptr<Encoder> Encoder::create(Compression compression, int level) {
  switch (compression) {
    case Compression::gzip: return std::make_unique<SegmentedGzipEncoder>(level);
    case Compression::zstd: return std::make_unique<ZstdEncoder>(level);
    case Compression::none: break;
  }
  return std::make_unique<PassThrough>();
}

}  // namespace cairn::store
