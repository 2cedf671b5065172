#include "cairn/frontend/json.hpp"

namespace cairn::frontend {
namespace {

nlohmann::json node_to_json(const Node& node) {
  nlohmann::json out;
  out["keyword"] = node.original_keyword;
  out["start_line"] = node.start_line;
  out["end_line"] = node.end_line;
  out["flags"] = node.flags;
  out["arguments"] = node.args;
  out["json"] = node.json;
  nlohmann::json heredocs = nlohmann::json::array();
  for (const auto& doc : node.heredocs) {
    heredocs.push_back({{"name", doc.name},
                        {"content", doc.content},
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
  out["file"] = file.filename;
  nlohmann::json directives = {{"escape", std::string(1, file.directives.escape)}};
  if (file.directives.syntax) directives["syntax"] = *file.directives.syntax;
  if (file.directives.check) directives["check"] = *file.directives.check;
  out["directives"] = std::move(directives);
  nlohmann::json warnings = nlohmann::json::array();
  for (const auto& w : file.warnings) warnings.push_back({{"line", w.line}, {"message", w.message}});
  out["warnings"] = std::move(warnings);
  nlohmann::json nodes = nlohmann::json::array();
  for (const auto& node : file.nodes) nodes.push_back(node_to_json(node));
  out["instructions"] = std::move(nodes);
  return out;
}

}  // namespace cairn::frontend
