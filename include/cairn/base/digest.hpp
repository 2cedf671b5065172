// SHA-256 through OpenSSL, streaming, with one owner for the digest context.
//
// OpenSSL's SHA256_* functions, not EVP: the first EVP digest of a process costs ~3 ms
// (the provider machinery starts), which every cairn command that reads a blob would pay;
// the direct functions are as fast (SHA-NI) and start in microseconds. They are marked
// deprecated in OpenSSL 3 but remain part of its API.
#pragma once

#include <memory>
#include <string>
#include <string_view>

struct SHA256state_st;

namespace cairn {

class Sha256 {
 public:
  Sha256();
  Sha256(Sha256&&) noexcept = default;
  Sha256& operator=(Sha256&&) noexcept = default;
  ~Sha256();

  Sha256& update(std::string_view data);
  Sha256& update(const void* data, std::size_t size);
  // Lower-case hex of the digest; the object can not be updated afterwards.
  std::string hex_digest();
  // "sha256:<hex>", the OCI digest form.
  std::string oci_digest() { return "sha256:" + hex_digest(); }

 private:
  struct Free {
    void operator()(SHA256state_st* ctx) const;
  };
  std::unique_ptr<SHA256state_st, Free> ctx_;
  bool finished_ = false;
};

std::string sha256_hex(std::string_view data);

// True for "sha256:" followed by 64 lower-case hex digits.
bool is_sha256_digest(std::string_view digest);

}  // namespace cairn
