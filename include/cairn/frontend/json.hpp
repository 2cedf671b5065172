// Machine-readable forms of the frontend's results, for `cairn parse --json`.
#pragma once

#include <nlohmann/json.hpp>

#include "cairn/frontend/ast.hpp"

namespace cairn::frontend {

// {"file", "directives", "warnings", "instructions": [{"keyword", "start_line", "end_line",
//  "flags", "arguments", "json", "heredocs", "onbuild"}]}
nlohmann::json syntax_to_json(const Dockerfile& file);

}  // namespace cairn::frontend
