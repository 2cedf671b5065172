// BuildKit's parser dump format, used by `cairn parse` and the conformance runner.
#include <fmt/format.h>

#include "cairn/frontend/ast.hpp"

namespace cairn::frontend {
namespace {

// Decodes one UTF-8 sequence at s[i]; returns the code point and its length, or
// {-1, 1} for an invalid byte (Go's utf8.RuneError with width 1).
std::pair<long, std::size_t> decode_utf8(std::string_view s, std::size_t i) {
  const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char c = byte(i);
  if (c < 0x80) return {c, 1};
  std::size_t length = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 ? 2 : 0;
  if (length == 0 || c > 0xF4 || i + length > s.size()) return {-1, 1};
  long cp = c & (0x7F >> length);
  for (std::size_t k = 1; k < length; ++k) {
    if ((byte(i + k) & 0xC0) != 0x80) return {-1, 1};
    cp = (cp << 6) | (byte(i + k) & 0x3F);
  }
  const long minimum[] = {0, 0, 0x80, 0x800, 0x10000};
  if (cp < minimum[length] || (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF) return {-1, 1};
  return {cp, length};
}

// Go's strconv.IsPrint approximated for the ranges Dockerfiles use: control characters,
// the C1 block, and a few invisible formatting characters are not printable.
bool is_printable(long cp) {
  if (cp < 0x20 || cp == 0x7F) return false;
  if (cp >= 0x80 && cp < 0xA0) return false;
  if (cp == 0xAD) return false;
  if (cp >= 0x2028 && cp <= 0x2029) return false;
  if (cp == 0xFEFF) return false;
  if (cp >= 0xE000 && cp <= 0xF8FF) return false;  // private use
  return true;
}

}  // namespace

std::string go_quote(std::string_view s) {
  std::string out = "\"";
  for (std::size_t i = 0; i < s.size();) {
    auto [cp, width] = decode_utf8(s, i);
    const std::string_view raw = s.substr(i, width);
    i += width;
    if (cp < 0) {
      out += fmt::format("\\x{:02x}", static_cast<unsigned char>(raw[0]));
      continue;
    }
    switch (cp) {
      case '"': out += "\\\""; continue;
      case '\\': out += "\\\\"; continue;
      case '\a': out += "\\a"; continue;
      case '\b': out += "\\b"; continue;
      case '\f': out += "\\f"; continue;
      case '\n': out += "\\n"; continue;
      case '\r': out += "\\r"; continue;
      case '\t': out += "\\t"; continue;
      case '\v': out += "\\v"; continue;
      default: break;
    }
    if (is_printable(cp)) {
      out += raw;
    } else if (cp < 0x80) {
      out += fmt::format("\\x{:02x}", cp);
    } else if (cp < 0x10000) {
      out += fmt::format("\\u{:04x}", cp);
    } else {
      out += fmt::format("\\U{:08x}", cp);
    }
  }
  out += '"';
  return out;
}

std::string dump_node(const Node& node) {
  std::string out = node.keyword;
  if (!node.flags.empty()) {
    out += " [";
    for (std::size_t i = 0; i < node.flags.size(); ++i) {
      if (i > 0) out += ' ';
      out += go_quote(node.flags[i]);
    }
    out += ']';
  }
  if (node.nested) out += " (" + dump_node(*node.nested) + ")";
  for (const auto& arg : node.args) out += " " + go_quote(arg);
  return out;
}

std::string dump(const Dockerfile& file) {
  std::string out;
  for (const auto& node : file.nodes) out += "(" + dump_node(node) + ")\n";
  return out;
}

}  // namespace cairn::frontend
