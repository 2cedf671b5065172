#include "copy.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <fnmatch.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>

#include "cairn/base/digest.hpp"
#include "cairn/base/error.hpp"
#include "cairn/base/sys.hpp"
#include "copy_paths.hpp"

namespace cairn::build {
namespace fs = std::filesystem;

namespace {

bool has_wildcard(std::string_view s) {
  return s.find_first_of("*?[") != std::string_view::npos;
}

std::string join(const std::string& dir, const std::string& name) {
  return dir.empty() ? name : dir + "/" + name;
}

std::string base_name(const std::string& path) {
  const auto slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

// Sources and their walk: what of the tree a COPY may see.
class SourceWalker {
 public:
  SourceWalker(const CopyRequest& request, const SourceTree& tree)
      : request_(request), tree_(tree) {
    if (!request.excludes.empty()) {
      std::vector<frontend::IgnorePattern> patterns;
      for (const auto& e : request.excludes)
        patterns.push_back({clean_relative(e), false, 0});
      excludes_ = frontend::IgnoreMatcher(std::move(patterns));
    }
  }

  bool excluded(const std::string& path) const {
    if (tree_.ignore && !tree_.ignore->empty() && tree_.ignore->excluded(path)) return true;
    return excludes_ && excludes_->excluded(path);
  }
  bool must_descend(const std::string& dir) const {
    if (tree_.ignore && !tree_.ignore->empty() && !tree_.ignore->must_descend(dir)) return false;
    return !excludes_ || excludes_->must_descend(dir);
  }

  // The paths a source pattern names (sorted), symlinks of the pattern itself followed
  // inside the tree.
  std::vector<std::string> matches(const std::string& pattern) const {
    const std::string cleaned = clean_relative(pattern);
    std::vector<std::string> found;
    if (!has_wildcard(cleaned)) {
      const std::string path = resolve_in_image(*tree_.stack, "/" + cleaned, true);
      if ((path.empty() || !excluded(path)) && tree_.stack->lookup(path)) found.push_back(path);
      return found;
    }
    std::vector<std::string> level = {""};
    for (const std::string& part : split_path(cleaned)) {
      std::vector<std::string> next;
      for (const std::string& dir : level)
        expand_part(dir, part, next);
      level = std::move(next);
    }
    for (const auto& p : level)
      if (!excluded(p)) found.push_back(p);
    return found;
  }

 private:
  void expand_part(const std::string& dir, const std::string& part,
                   std::vector<std::string>& out) const {
    if (!has_wildcard(part)) {
      if (tree_.stack->lookup(join(dir, part))) out.push_back(join(dir, part));
      return;
    }
    for (const auto& entry : tree_.stack->list(dir))
      if (::fnmatch(part.c_str(), entry.name.c_str(), 0) == 0) out.push_back(join(dir, entry.name));
  }

  const CopyRequest& request_;
  const SourceTree& tree_;
  std::optional<frontend::IgnoreMatcher> excludes_;
};

class Planner {
 public:
  Planner(const CopyRequest& request, const SourceTree& tree, const overlay::Stack& image)
      : request_(request), tree_(tree), image_(image), walker_(request, tree) {}

  CopyPlan plan() {
    const bool many = request_.sources.size() > 1;
    const bool dest_dir_syntax = request_.destination_is_dir;
    if (many && !dest_dir_syntax)
      throw Error("When using " + std::string(request_.is_add ? "ADD" : "COPY") +
                  " with more than one source file, the destination must be a directory and "
                  "end with a /");
    const std::string dest = resolve_in_image(image_, request_.destination, true);
    const auto existing = image_.lookup(dest);
    const bool dest_is_dir = dest_dir_syntax || (existing && S_ISDIR(existing->attr.mode));
    for (const std::string& source : request_.sources)
      add_source(source, dest, dest_is_dir);
    return std::move(plan_);
  }

 private:
  void add_source(const std::string& pattern, const std::string& dest, bool dest_is_dir) {
    const std::vector<std::string> found = walker_.matches(pattern);
    if (found.empty())
      throw Error(fmt::format("{} {}: \"{}\": not found in the {}",
                              request_.is_add ? "ADD" : "COPY", pattern,
                              "/" + clean_relative(pattern), tree_.name))
          .hint(tree_.is_context ? "the path is relative to the build context; check it and "
                                   ".dockerignore"
                                 : "check the path in that stage or image");
    // BuildKit: several matches go into the destination as a directory; a single one
    // follows the destination's own rule.
    const bool into_dir = dest_is_dir || found.size() > 1;
    for (const std::string& path : found) {
      const auto resolved = tree_.stack->lookup(path);
      if (!resolved) continue;
      std::string target_base = dest;
      if (request_.parents) target_base = join(dest, parent_of(path));
      if (S_ISDIR(resolved->attr.mode)) {
        add_parents(target_base);
        add_directory(path, target_base);
      } else if (request_.is_add && tree_.is_context && is_archive(*resolved)) {
        add_parents(target_base);
        plan_.items.push_back(item(CopyItem::Kind::archive, *resolved, target_base));
      } else {
        const std::string target = into_dir ? join(target_base, base_name(path)) : target_base;
        add_parents(parent_of(target));
        add_entry(*resolved, target);
      }
    }
  }

  bool is_archive(const overlay::Resolved& r) const {
    if (!S_ISREG(r.attr.mode)) return false;
    const int fd = sys::try_openat2(tree_.stack->root_fd(r.data_layer), r.path, O_RDONLY,
                                    RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS);
    if (fd < 0) return false;
    const UniqueFd file(fd);
    return looks_like_tar_archive(file.get());
  }

  void add_parents(const std::string& dir) {
    std::string prefix;
    for (const std::string& part : split_path(dir)) {
      prefix = join(prefix, part);
      if (std::find_if(plan_.parents.begin(), plan_.parents.end(),
                       [&](const ParentDir& p) { return p.path == prefix; }) != plan_.parents.end())
        continue;
      plan_.parents.push_back(
          parent_dir(image_, prefix, request_.uid.value_or(0), request_.gid.value_or(0)));
    }
  }

  void add_directory(const std::string& source, const std::string& dest) {
    for (const auto& entry : tree_.stack->list(source)) {
      const std::string path = join(source, entry.name);
      const bool is_dir = S_ISDIR(entry.type);
      if (walker_.excluded(path) && !(is_dir && walker_.must_descend(path))) continue;
      const auto resolved = tree_.stack->lookup(path);
      if (!resolved) continue;
      const std::string target = join(dest, entry.name);
      add_entry(*resolved, target);
      if (is_dir) add_directory(path, target);
    }
  }

  void add_entry(const overlay::Resolved& r, const std::string& target) {
    const mode_t type = r.attr.mode & S_IFMT;
    if (type == S_IFDIR)
      plan_.items.push_back(item(CopyItem::Kind::directory, r, target));
    else if (type == S_IFREG)
      plan_.items.push_back(item(CopyItem::Kind::file, r, target));
    else if (type == S_IFLNK)
      plan_.items.push_back(item(CopyItem::Kind::symlink, r, target));
    // Device nodes, FIFOs and sockets are not copied (docker skips sockets too).
  }

  CopyItem item(CopyItem::Kind kind, const overlay::Resolved& r, const std::string& dest) const {
    CopyItem it;
    it.kind = kind;
    it.layer = r.data_layer;
    it.source = r.path;
    it.dest = dest;
    it.mode =
        request_.chmod && kind != CopyItem::Kind::symlink ? *request_.chmod : r.attr.mode & 07777;
    it.uid = request_.uid.value_or(0);
    it.gid = request_.gid.value_or(0);
    it.mtime = r.attr.mtime;
    if (kind == CopyItem::Kind::symlink) it.link_target = read_link(*tree_.stack, r.layer, r.path);
    return it;
  }

  const CopyRequest& request_;
  const SourceTree& tree_;
  const overlay::Stack& image_;
  SourceWalker walker_;
  CopyPlan plan_;
};

}  // namespace

CopyPlan plan_copy(const CopyRequest& request, const SourceTree& tree,
                   const overlay::Stack& image) {
  return Planner(request, tree, image).plan();
}

CopyPlan plan_mkdir(const std::string& path, const overlay::Stack& image, uid_t uid, gid_t gid) {
  CopyPlan plan;
  std::string prefix;
  for (const std::string& part : split_path(resolve_in_image(image, path, true))) {
    prefix = join(prefix, part);
    plan.parents.push_back(parent_dir(image, prefix, uid, gid));
  }
  return plan;
}

std::string plan_digest(const CopyPlan& plan, const SourceTree& tree, bool with_content) {
  Sha256 sum;
  for (const ParentDir& p : plan.parents)
    sum.update(fmt::format("P {} {:o} {}:{} {}\n", p.path, p.mode, p.uid, p.gid, p.from_image));
  for (const CopyItem& it : plan.items) {
    sum.update(fmt::format("I {} {} {:o} {}:{} {}\n", static_cast<int>(it.kind), it.dest, it.mode,
                           it.uid, it.gid, it.link_target));
    if (with_content && (it.kind == CopyItem::Kind::file || it.kind == CopyItem::Kind::archive))
      sum.update(file_digest(*tree.stack, it.layer, it.source)).update("\n");
  }
  return sum.hex_digest();
}

}  // namespace cairn::build
