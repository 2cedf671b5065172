// Instruction flags ("--name=value") checked against what an instruction accepts, as
// BuildKit's BFlags does (private to src/frontend).
#pragma once

#include <initializer_list>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cairn/frontend/ast.hpp"

namespace cairn::frontend {

enum class FlagKind { string, boolean, list };

struct FlagSpec {
  std::string_view name;
  FlagKind kind;
};

class Flags {
 public:
  // Throws DockerfileError for an unknown flag, a missing value, a duplicate, or a bad
  // boolean, pointing at the flag.
  Flags(const Dockerfile& file, const Node& node, std::initializer_list<FlagSpec> allowed);

  std::optional<std::string> string(std::string_view name) const;
  std::optional<bool> boolean(std::string_view name) const;
  std::vector<std::string> list(std::string_view name) const;
  bool given(std::string_view name) const { return values_.count(std::string(name)) != 0; }
  // Offset of the (first) flag in the node text, for error positions.
  std::size_t offset(std::string_view name) const;

 private:
  std::map<std::string, std::vector<std::string>> values_;
  std::map<std::string, std::size_t> offsets_;
};

}  // namespace cairn::frontend
