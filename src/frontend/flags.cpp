#include "flags.hpp"

#include "cairn/frontend/diagnostic.hpp"
#include "text.hpp"

namespace cairn::frontend {
namespace {

std::string allowed_list(std::initializer_list<FlagSpec> allowed) {
  if (allowed.size() == 0) return "it takes no flags";
  std::string out = "accepted:";
  for (const auto& spec : allowed) out += " --" + std::string(spec.name);
  return out;
}

}  // namespace

Flags::Flags(const Dockerfile& file, const Node& node, std::initializer_list<FlagSpec> allowed) {
  for (std::size_t i = 0; i < node.flags.size(); ++i) {
    const std::string& word = node.flags[i];
    const std::size_t at = i < node.flag_offsets.size() ? node.flag_offsets[i] : 0;
    if (word.rfind("--", 0) != 0)
      throw error_at(file, node, at, "flag should start with --: " + word);
    const std::size_t eq = word.find('=');
    const std::string name = word.substr(2, eq == std::string::npos ? std::string::npos : eq - 2);
    const FlagSpec* spec = nullptr;
    for (const auto& candidate : allowed)
      if (candidate.name == name) spec = &candidate;
    if (!spec)
      throw error_at(file, node, at, "unknown flag: --" + name + " (" + allowed_list(allowed) + ")");
    std::optional<std::string> value;
    if (eq != std::string::npos) value = word.substr(eq + 1);
    if (spec->kind == FlagKind::boolean) {
      if (!value) value = "true";
      const std::string lowered = text::lower(*value);
      if (lowered != "true" && lowered != "false")
        throw error_at(file, node, at,
                       "expecting boolean value for flag --" + name + ", not: " + *value);
      value = lowered;
    } else if (!value) {
      throw error_at(file, node, at, "missing a value on flag: --" + name);
    }
    auto& slot = values_[name];
    if (spec->kind != FlagKind::list && !slot.empty())
      throw error_at(file, node, at, "duplicate flag specified: --" + name);
    slot.push_back(*value);
    offsets_.emplace(name, at);
  }
}

std::optional<std::string> Flags::string(std::string_view name) const {
  auto it = values_.find(std::string(name));
  if (it == values_.end()) return std::nullopt;
  return it->second.front();
}

std::optional<bool> Flags::boolean(std::string_view name) const {
  auto value = string(name);
  if (!value) return std::nullopt;
  return *value == "true";
}

std::vector<std::string> Flags::list(std::string_view name) const {
  auto it = values_.find(std::string(name));
  return it == values_.end() ? std::vector<std::string>{} : it->second;
}

std::size_t Flags::offset(std::string_view name) const {
  auto it = offsets_.find(std::string(name));
  return it == offsets_.end() ? 0 : it->second;
}

}  // namespace cairn::frontend
