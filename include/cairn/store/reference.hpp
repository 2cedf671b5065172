// Image references ("busybox", "quay.io/x/y:tag", "name@sha256:...") parsed and normalised
// the way docker does it: the grammar of distribution/reference, then ParseNormalizedNamed
// (default domain "docker.io", "library/" for official images) and TagNameOnly (":latest").
//
//   reference := name [":" tag] ["@" digest]
//   name      := [domain "/"] path-component ["/" path-component]*
//   domain    := (domain-name | "[" ipv6 "]") [":" port]
//   tag       := [\w][\w.-]{0,127}
//   digest    := algorithm ":" hex{32,}   (sha256 needs exactly 64 lower-case hex)
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace cairn::store {

struct Reference {
  std::string domain;                 // "docker.io", "localhost:5000", "quay.io"
  std::string path;                   // "library/busybox", "user/app", "a/b/c"
  std::optional<std::string> tag;     // "latest" etc.
  std::optional<std::string> digest;  // "sha256:<64 hex>"

  // "docker.io/library/busybox:latest" (tag and/or digest kept; no tag added here).
  std::string str() const;
  // The short form docker shows: "busybox:latest", "user/app:1", "quay.io/x/y:tag" (drops
  // "docker.io/" and, for single-component official names, "library/").
  std::string familiar() const;
  // domain + "/" + path.
  std::string repository() const;
  // What a registry's manifest endpoint is asked for: the digest, else the tag ("latest").
  std::string manifest_reference() const { return digest ? *digest : tag.value_or("latest"); }

  bool operator==(const Reference&) const = default;
};

// docker's ParseNormalizedNamed, then TagNameOnly when add_default_tag is set (a reference
// with neither tag nor digest gets ":latest"). Throws std::invalid_argument with docker's
// messages: "invalid reference format", "invalid reference format: repository name (NAME)
// must be lowercase", "repository name must not be more than 255 characters", "invalid
// checksum digest format", "invalid checksum digest length", "unsupported digest algorithm",
// "invalid repository name (ID), cannot specify 64-byte hexadecimal strings".
Reference parse_reference(std::string_view text, bool add_default_tag = true);

// True for a full image ID: 64 lower-case hex digits, or "sha256:" and 64 lower-case hex
// digits. Prefixes of IDs are not accepted.
bool looks_like_image_id(std::string_view text);

}  // namespace cairn::store
