// Small text helpers shared by the frontend's parsers (private to src/frontend).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace cairn::frontend::text {

// The blanks that BuildKit's splitCommand and FROM/EXPOSE splitting use: [\t\v\f\r ].
inline bool is_blank(char c) {
  return c == ' ' || c == '\t' || c == '\v' || c == '\f' || c == '\r';
}

// Length of the Unicode space (Go's unicode.IsSpace) starting at s[i], or 0.
inline std::size_t space_length(std::string_view s, std::size_t i) {
  const unsigned char c = static_cast<unsigned char>(s[i]);
  if (c == ' ' || (c >= '\t' && c <= '\r')) return 1;
  // U+0085 (NEL) and U+00A0 (NBSP) are C2 85 and C2 A0 in UTF-8.
  if (c == 0xC2 && i + 1 < s.size()) {
    const unsigned char d = static_cast<unsigned char>(s[i + 1]);
    if (d == 0x85 || d == 0xA0) return 2;
  }
  return 0;
}

inline std::size_t leading_space(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    std::size_t n = space_length(s, i);
    if (n == 0) break;
    i += n;
  }
  return i;
}

// Trailing Unicode space, scanning back over the ASCII and two-byte forms.
inline std::size_t trailing_space(std::string_view s) {
  std::size_t end = s.size();
  while (end > 0) {
    if (space_length(s, end - 1) == 1) {
      --end;
    } else if (end >= 2 && space_length(s, end - 2) == 2) {
      end -= 2;
    } else {
      break;
    }
  }
  return s.size() - end;
}

inline std::string_view trim(std::string_view s) {
  s.remove_prefix(leading_space(s));
  s.remove_suffix(trailing_space(s));
  return s;
}

inline std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

inline bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

}  // namespace cairn::frontend::text
