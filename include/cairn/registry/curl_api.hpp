// libcurl, loaded at first use. Linked normally, its two dozen libraries (GnuTLS, Kerberos,
// LDAP, SSH, ...) cost every cairn process about 3 ms at start, a sixth of a `cairn run`,
// while most commands never touch the network. The registry client and build's ADD <URL>
// call libcurl through this table.
#pragma once

#include <curl/curl.h>

namespace cairn::curl {

struct Api {
  CURL* (*easy_init)();
  CURLcode (*easy_setopt)(CURL*, CURLoption, ...);
  CURLcode (*easy_perform)(CURL*);
  CURLcode (*easy_getinfo)(CURL*, CURLINFO, ...);
  void (*easy_cleanup)(CURL*);
  void (*easy_reset)(CURL*);
  const char* (*easy_strerror)(CURLcode);
  curl_slist* (*slist_append)(curl_slist*, const char*);
  void (*slist_free_all)(curl_slist*);
};

// Loads libcurl.so.4 and runs curl_global_init, once per process; throws Error (naming
// the library and dlerror's reason, with the package to install) when it cannot.
const Api& api();

}  // namespace cairn::curl
