// ADD of a URL (private to src/build): the file downloaded once per build into a scratch
// directory, its digest checked against --checksum, then copied like a context file.
#pragma once

#include <filesystem>
#include <optional>
#include <string>

namespace cairn::build {

bool is_url(const std::string& source);
// A git repository as ADD names one (git@host:..., git://, ssh://, or a URL ending in .git).
bool is_git_source(const std::string& source);

// The file name docker gives a downloaded file: the last segment of the URL's path.
// Throws Error when there is none ("https://example.com/").
std::string url_file_name(const std::string& url);

// Downloads `url` into `dir`/url_file_name(url), mode 0600 (docker's mode for remote files)
// and the mtime of its Last-Modified header when the server sends one. With `checksum`
// ("sha256:<hex>") a file with other content is an error naming both digests. Throws Error
// naming the URL and what failed (HTTP status, DNS, TLS, ...).
std::filesystem::path download(const std::string& url, const std::filesystem::path& dir,
                               const std::optional<std::string>& checksum);

}  // namespace cairn::build
