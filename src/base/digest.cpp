#include "cairn/base/digest.hpp"

// See digest.hpp for why the direct SHA-256 functions.
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/sha.h>

#include "cairn/base/error.hpp"

namespace cairn {

void Sha256::Free::operator()(SHA256state_st* ctx) const { delete ctx; }

Sha256::Sha256() : ctx_(new SHA256_CTX) {
  if (SHA256_Init(ctx_.get()) != 1) throw Error("sha256: cannot initialise a digest context");
}

Sha256::~Sha256() = default;

Sha256& Sha256::update(const void* data, std::size_t size) {
  if (finished_) throw Error("sha256: update after the digest was taken");
  if (SHA256_Update(ctx_.get(), data, size) != 1) throw Error("sha256: digest update failed");
  return *this;
}

Sha256& Sha256::update(std::string_view data) { return update(data.data(), data.size()); }

std::string Sha256::hex_digest() {
  if (finished_) throw Error("sha256: digest already taken");
  unsigned char raw[SHA256_DIGEST_LENGTH];
  constexpr unsigned int size = SHA256_DIGEST_LENGTH;
  if (SHA256_Final(raw, ctx_.get()) != 1) throw Error("sha256: digest final failed");
  finished_ = true;
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(size * 2, '0');
  for (unsigned int i = 0; i < size; ++i) {
    out[2 * i] = kHex[raw[i] >> 4];
    out[2 * i + 1] = kHex[raw[i] & 0xf];
  }
  return out;
}

std::string sha256_hex(std::string_view data) { return Sha256().update(data).hex_digest(); }

bool is_sha256_digest(std::string_view digest) {
  constexpr std::string_view kPrefix = "sha256:";
  if (digest.size() != kPrefix.size() + 64 || digest.substr(0, kPrefix.size()) != kPrefix)
    return false;
  for (char c : digest.substr(kPrefix.size()))
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

}  // namespace cairn
