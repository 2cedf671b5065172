// Member names of untrusted archives (private to src/store).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace cairn::store {

enum class DotDot { pop, refuse };

// Cleans an archive member name as docker does: absolute names are taken relative to the
// root and "." components vanish. ".." pops a component (layer tars) or is refused outright
// (image archives, which never need it). nullopt when the name climbs above the root or
// holds a refused "..".
inline std::optional<std::string> clean_member_path(std::string_view raw, DotDot dotdot) {
  std::vector<std::string_view> parts;
  std::size_t start = 0;
  while (start <= raw.size()) {
    std::size_t slash = raw.find('/', start);
    if (slash == std::string_view::npos) slash = raw.size();
    const std::string_view part = raw.substr(start, slash - start);
    start = slash + 1;
    if (part.empty() || part == ".") continue;
    if (part == "..") {
      if (dotdot == DotDot::refuse || parts.empty()) return std::nullopt;
      parts.pop_back();
      continue;
    }
    parts.push_back(part);
  }
  std::string out;
  for (auto part : parts) {
    if (!out.empty()) out += '/';
    out += part;
  }
  return out;
}

}  // namespace cairn::store
