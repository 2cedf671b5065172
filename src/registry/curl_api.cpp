#include "cairn/registry/curl_api.hpp"

#include <dlfcn.h>

#include <string>

#include "cairn/base/error.hpp"

namespace cairn::curl {
namespace {

constexpr const char* kLibrary = "libcurl.so.4";

template <typename F>
void take_symbol(void* library, const char* name, F& slot) {
  void* symbol = ::dlsym(library, name);
  if (symbol == nullptr)
    throw Error(std::string("load ") + kLibrary + ": it lacks " + name + " (libcurl older than 7.74?)");
  slot = reinterpret_cast<F>(symbol);
}

Api load() {
  // Never closed: the handles it makes live as long as the process may use them.
  void* library = ::dlopen(kLibrary, RTLD_NOW | RTLD_LOCAL);
  if (library == nullptr) {
    const char* why = ::dlerror();
    throw Error(std::string("load ") + kLibrary + ": " + (why ? why : "dlopen failed"))
        .hint("registry access and ADD <URL> need libcurl (Debian: apt-get install libcurl4)");
  }
  Api api{};
  take_symbol(library, "curl_easy_init", api.easy_init);
  take_symbol(library, "curl_easy_setopt", api.easy_setopt);
  take_symbol(library, "curl_easy_perform", api.easy_perform);
  take_symbol(library, "curl_easy_getinfo", api.easy_getinfo);
  take_symbol(library, "curl_easy_cleanup", api.easy_cleanup);
  take_symbol(library, "curl_easy_reset", api.easy_reset);
  take_symbol(library, "curl_easy_strerror", api.easy_strerror);
  take_symbol(library, "curl_slist_append", api.slist_append);
  take_symbol(library, "curl_slist_free_all", api.slist_free_all);
  CURLcode (*global_init)(long) = nullptr;
  take_symbol(library, "curl_global_init", global_init);
  if (global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
    throw Error(std::string("load ") + kLibrary + ": curl_global_init failed");
  return api;
}

}  // namespace

const Api& api() {
  static const Api loaded = load();  // a failed load throws, and is tried again next call
  return loaded;
}

}  // namespace cairn::curl
