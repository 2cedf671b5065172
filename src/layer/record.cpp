#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstring>
#include <nlohmann/json.hpp>
#include <vector>

#include "cairn/base/error.hpp"
#include "cairn/base/sys.hpp"
#include "cairn/layer.hpp"

namespace cairn::layer {
namespace {

constexpr char kBase64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

std::string base64(std::string_view data) {
  std::string out;
  out.reserve((data.size() + 2) / 3 * 4);
  for (std::size_t i = 0; i < data.size(); i += 3) {
    unsigned n = static_cast<unsigned char>(data[i]) << 16;
    if (i + 1 < data.size()) n |= static_cast<unsigned char>(data[i + 1]) << 8;
    if (i + 2 < data.size()) n |= static_cast<unsigned char>(data[i + 2]);
    out += kBase64[(n >> 18) & 63];
    out += kBase64[(n >> 12) & 63];
    out += i + 1 < data.size() ? kBase64[(n >> 6) & 63] : '=';
    out += i + 2 < data.size() ? kBase64[n & 63] : '=';
  }
  return out;
}

std::optional<std::string> unbase64(std::string_view text) {
  std::string out;
  unsigned buffer = 0;
  int bits = 0;
  for (char c : text) {
    if (c == '=') break;
    const char* at = std::strchr(kBase64, c);
    if (c == '\0' || at == nullptr) return std::nullopt;
    buffer = (buffer << 6) | static_cast<unsigned>(at - kBase64);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((buffer >> bits) & 0xFF);
    }
  }
  return out;
}

// File names are bytes, not text: a name that is not UTF-8 is stored base64 under "P".
bool is_utf8(std::string_view s) {
  try {
    (void)nlohmann::json(s).dump();
    return true;
  } catch (const nlohmann::json::type_error&) {
    return false;
  }
}

nlohmann::json to_json(const std::string& path, const EntryMeta& m) {
  nlohmann::json j = {{"u", m.uid}, {"g", m.gid}, {"m", m.mode}};
  if (is_utf8(path)) j["p"] = path; else j["P"] = base64(path);
  if (m.rdev != 0) j["r"] = m.rdev;
  if (m.whiteout) j["w"] = true;
  if (m.opaque) j["o"] = true;
  if (m.whiteout_mtime != 0) j["wt"] = m.whiteout_mtime;
  if (m.opaque_mtime != 0) j["ot"] = m.opaque_mtime;
  if (m.origin != 0) j["i"] = m.origin;
  if (m.metacopy) j["c"] = true;
  if (!m.xattrs.empty()) {
    nlohmann::json x = nlohmann::json::object();
    for (const auto& [name, value] : m.xattrs) x[is_utf8(name) ? name : "=" + base64(name)] = base64(value);
    j["x"] = std::move(x);
  }
  return j;
}

EntryMeta from_json(const nlohmann::json& j, const std::string& where) {
  EntryMeta m;
  m.uid = j.at("u").get<uid_t>();
  m.gid = j.at("g").get<gid_t>();
  m.mode = j.at("m").get<mode_t>();
  m.rdev = j.value("r", dev_t{0});
  m.whiteout = j.value("w", false);
  m.opaque = j.value("o", false);
  m.whiteout_mtime = j.value("wt", std::int64_t{0});
  m.opaque_mtime = j.value("ot", std::int64_t{0});
  m.origin = j.value("i", std::uint64_t{0});
  m.metacopy = j.value("c", false);
  if (auto x = j.find("x"); x != j.end()) {
    for (const auto& [key, value] : x->items()) {
      // Names that are not UTF-8 are stored as "=" + base64; real xattr names never
      // start with '=' (they start with a namespace such as "user.").
      std::optional<std::string> name = key.rfind('=', 0) == 0 ? unbase64(key.substr(1)) : key;
      auto raw = unbase64(value.get<std::string>());
      if (!raw || !name) throw Error(where + ": xattr " + key + " is not base64");
      m.xattrs[*name] = std::move(*raw);
    }
  }
  return m;
}

}  // namespace

Record Record::load(const std::filesystem::path& file) {
  Record record;
  std::string text;
  try {
    text = sys::read_file(file.string());
  } catch (const Error& e) {
    if (e.errno_value() == ENOENT) return record;
    throw;
  }
  std::size_t line_number = 0;
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    ++line_number;
    const std::string where = file.string() + ":" + std::to_string(line_number);
    const std::string_view line(text.data() + start, end - start);
    start = end + 1;
    if (line.empty()) continue;
    try {
      auto j = nlohmann::json::parse(line);
      std::optional<std::string> path;
      if (j.contains("P")) path = unbase64(j["P"].get<std::string>());
      else path = j.at("p").get<std::string>();
      if (!path) throw Error(where + ": path is not base64");
      record.entries_[std::move(*path)] = from_json(j, where);
    } catch (const nlohmann::json::exception& e) {
      throw Error(where + ": corrupt layer metadata record: " + e.what());
    }
  }
  return record;
}

void Record::save(const std::filesystem::path& file) const {
  std::vector<const std::pair<const std::string, EntryMeta>*> sorted;
  sorted.reserve(entries_.size());
  for (const auto& entry : entries_) sorted.push_back(&entry);
  std::sort(sorted.begin(), sorted.end(), [](auto* a, auto* b) { return a->first < b->first; });
  std::string text;
  for (const auto* entry : sorted) {
    text += to_json(entry->first, entry->second).dump();
    text += '\n';
  }
  sys::write_file_atomic(file.string(), text, 0644);
}

const EntryMeta* Record::find(std::string_view path) const {
  auto it = entries_.find(std::string(path));
  return it == entries_.end() ? nullptr : &it->second;
}

bool is_reserved_xattr(std::string_view name) {
  for (std::string_view prefix : {"trusted.overlay.", "user.overlay.", "user.cairn.",
                                  "trusted.cairn."})
    if (name.substr(0, prefix.size()) == prefix) return true;
  return false;
}

}  // namespace cairn::layer
