#include "tar_fixture.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <memory>
#include <stdexcept>

namespace cairn::store::testing {

std::string make_tar(const std::vector<TarEntry>& entries, const std::string& filter) {
  std::unique_ptr<archive, decltype(&archive_write_free)> a(archive_write_new(),
                                                            archive_write_free);
  archive_write_set_format_pax_restricted(a.get());
  if (filter == "gzip") archive_write_add_filter_gzip(a.get());
  else if (filter == "zstd") archive_write_add_filter_zstd(a.get());
  else archive_write_add_filter_none(a.get());
  std::string out;
  auto append = [](archive*, void* data, const void* buffer, size_t size) -> la_ssize_t {
    static_cast<std::string*>(data)->append(static_cast<const char*>(buffer), size);
    return static_cast<la_ssize_t>(size);
  };
  archive_write_set_bytes_in_last_block(a.get(), 1);
  if (archive_write_open(a.get(), &out, nullptr, append, nullptr) != ARCHIVE_OK)
    throw std::runtime_error(archive_error_string(a.get()));
  for (const auto& t : entries) {
    std::unique_ptr<archive_entry, decltype(&archive_entry_free)> e(archive_entry_new(),
                                                                    archive_entry_free);
    archive_entry_set_pathname(e.get(), t.path.c_str());
    archive_entry_set_mode(e.get(), t.mode);
    archive_entry_set_uid(e.get(), t.uid);
    archive_entry_set_gid(e.get(), t.gid);
    archive_entry_set_mtime(e.get(), t.mtime, 0);
    for (const auto& [k, v] : t.xattrs) archive_entry_xattr_add_entry(e.get(), k.c_str(), v.data(), v.size());
    if (t.hardlink) {
      archive_entry_set_hardlink(e.get(), t.link.c_str());
    } else if (S_ISLNK(t.mode)) {
      archive_entry_set_symlink(e.get(), t.link.c_str());
    } else if (S_ISREG(t.mode)) {
      archive_entry_set_size(e.get(), static_cast<la_int64_t>(t.data.size()));
    } else if (S_ISCHR(t.mode) || S_ISBLK(t.mode)) {
      archive_entry_set_rdev(e.get(), t.rdev);
    }
    if (archive_write_header(a.get(), e.get()) != ARCHIVE_OK)
      throw std::runtime_error(archive_error_string(a.get()));
    if (S_ISREG(t.mode) && !t.hardlink && !t.data.empty())
      archive_write_data(a.get(), t.data.data(), t.data.size());
  }
  archive_write_close(a.get());
  return out;
}

std::vector<std::string> list_tar(const std::string& tar) {
  std::unique_ptr<archive, decltype(&archive_read_free)> a(archive_read_new(), archive_read_free);
  archive_read_support_format_tar(a.get());
  archive_read_support_filter_all(a.get());
  if (archive_read_open_memory(a.get(), tar.data(), tar.size()) != ARCHIVE_OK)
    throw std::runtime_error(archive_error_string(a.get()));
  std::vector<std::string> lines;
  archive_entry* e;
  while (archive_read_next_header(a.get(), &e) == ARCHIVE_OK) {
    std::string path = archive_entry_pathname(e);
    while (path.size() > 1 && path.back() == '/') path.pop_back();
    if (path.rfind("./", 0) == 0) path = path.substr(2);
    if (const char* raw_target = archive_entry_hardlink(e)) {
      std::string target = raw_target;
      if (target.rfind("./", 0) == 0) target = target.substr(2);
      lines.push_back(fmt::format("h {} -> {}", path, target));
      continue;
    }
    std::string xattrs;
    archive_entry_xattr_reset(e);
    const char* name;
    const void* value;
    size_t size;
    while (archive_entry_xattr_next(e, &name, &value, &size) == ARCHIVE_OK)
      xattrs += fmt::format(" {}={}", name, std::string(static_cast<const char*>(value), size));
    const char* link = archive_entry_symlink(e);
    lines.push_back(fmt::format("{:o} {} {}:{} {:o} {} {} {}{} rdev={}", archive_entry_filetype(e) >> 12,
                                path, archive_entry_uid(e), archive_entry_gid(e),
                                archive_entry_perm(e), archive_entry_size(e),
                                archive_entry_mtime(e), link ? link : "", xattrs,
                                archive_entry_rdev(e)));
  }
  std::sort(lines.begin(), lines.end(), [](const std::string& x, const std::string& y) {
    return x.substr(x.find(' ') + 1) < y.substr(y.find(' ') + 1);
  });
  return lines;
}

std::vector<std::string> list_tar_linkgroups(const std::string& tar) {
  std::map<std::string, std::string> attributes;  // path -> line without the path
  std::map<std::string, std::string> link_to;     // link path -> target path
  for (const auto& line : list_tar(tar)) {
    if (line.rfind("h ", 0) == 0) {
      const auto arrow = line.find(" -> ");
      link_to[line.substr(2, arrow - 2)] = line.substr(arrow + 4);
      continue;
    }
    const auto first = line.find(' ');
    const auto second = line.find(' ', first + 1);
    attributes[line.substr(first + 1, second - first - 1)] =
        line.substr(0, first) + line.substr(second);
  }
  std::map<std::string, std::string> group;  // path -> smallest path of its group
  for (const auto& [link, target] : link_to) {
    std::string leader = std::min(link, target);
    group[target] = std::min(group.count(target) ? group[target] : target, leader);
  }
  for (const auto& [link, target] : link_to) group[link] = group[target];
  std::vector<std::string> out;
  for (const auto& [path, attrs] : attributes)
    out.push_back(path + " " + attrs + (group.count(path) ? " group=" + group[path] : ""));
  for (const auto& [link, target] : link_to)
    out.push_back(link + " " + attributes[target] + " group=" + group[link]);
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace cairn::store::testing
