#include "cairn/frontend/json.hpp"

#include <string>
#include <string_view>
#include <vector>

namespace cairn::frontend {
namespace {

// Length of the well-formed UTF-8 sequence at s[i] (no overlong forms, surrogates or code
// points past U+10FFFF), or 0 when s[i] does not start one.
std::size_t utf8_length(std::string_view s, std::size_t i) {
  const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(s[i + k]); };
  const unsigned char lead = byte(0);
  if (lead < 0x80) return 1;
  std::size_t length = 0;
  unsigned char low = 0x80;  // the second byte's range is what rules out the bad forms
  unsigned char high = 0xBF;
  if (lead >= 0xC2 && lead <= 0xDF) {
    length = 2;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    length = 3;
    if (lead == 0xE0) low = 0xA0;
    if (lead == 0xED) high = 0x9F;
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    length = 4;
    if (lead == 0xF0) low = 0x90;
    if (lead == 0xF4) high = 0x8F;
  } else {
    return 0;
  }
  if (i + length > s.size()) return 0;
  for (std::size_t k = 1; k < length; ++k) {
    if (byte(k) < (k == 1 ? low : 0x80) || byte(k) > (k == 1 ? high : 0xBF)) return 0;
  }
  return length;
}

// nlohmann::json throws when it dumps a string that is not UTF-8, so a Latin-1 byte in a
// Dockerfile made `cairn parse --json` fail with an internal error. Go's encoding/json,
// which BuildKit's JSON comes from, replaces each such byte with U+FFFD; so do we.
std::string text(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size();) {
    const std::size_t length = utf8_length(s, i);
    if (length == 0) {
      out += "\xEF\xBF\xBD";
      ++i;
    } else {
      out.append(s.substr(i, length));
      i += length;
    }
  }
  return out;
}

nlohmann::json texts(const std::vector<std::string>& items) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& item : items) out.push_back(text(item));
  return out;
}

nlohmann::json node_to_json(const Node& node) {
  nlohmann::json out;
  out["keyword"] = text(node.original_keyword);
  out["start_line"] = node.start_line;
  out["end_line"] = node.end_line;
  out["flags"] = texts(node.flags);
  out["arguments"] = texts(node.args);
  out["json"] = node.json;
  nlohmann::json heredocs = nlohmann::json::array();
  for (const auto& doc : node.heredocs) {
    heredocs.push_back({{"name", text(doc.name)},
                        {"content", text(doc.content)},
                        {"expand", doc.expand},
                        {"chomp", doc.chomp},
                        {"fd", doc.fd},
                        {"start_line", doc.start_line},
                        {"end_line", doc.end_line}});
  }
  out["heredocs"] = std::move(heredocs);
  if (node.nested) out["onbuild"] = node_to_json(*node.nested);
  return out;
}

}  // namespace

nlohmann::json syntax_to_json(const Dockerfile& file) {
  nlohmann::json out;
  out["file"] = text(file.filename);
  nlohmann::json directives = {{"escape", std::string(1, file.directives.escape)}};
  if (file.directives.syntax) directives["syntax"] = text(*file.directives.syntax);
  if (file.directives.check) directives["check"] = text(*file.directives.check);
  out["directives"] = std::move(directives);
  nlohmann::json warnings = nlohmann::json::array();
  for (const auto& w : file.warnings)
    warnings.push_back({{"line", w.line}, {"message", text(w.message)}});
  out["warnings"] = std::move(warnings);
  nlohmann::json nodes = nlohmann::json::array();
  for (const auto& node : file.nodes) nodes.push_back(node_to_json(node));
  out["instructions"] = std::move(nodes);
  return out;
}

}  // namespace cairn::frontend
