// Turning one assembled instruction line into a syntax-tree node (private to src/frontend).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "cairn/frontend/ast.hpp"

namespace cairn::frontend {

// A syntax error inside one instruction; `offset` is into the instruction's text.
struct NodeSyntaxError {
  std::string message;
  std::size_t offset = 0;
};

// Splits keyword, flags and arguments with the keyword's own rule (BuildKit's dispatch
// table). `text` is the assembled logical line. Throws NodeSyntaxError.
Node build_node(std::string text, char escape);

// Sets the text-to-source map of a node and of its nested ONBUILD instruction.
void attach_segments(Node& node, std::vector<TextSegment> segments);

// True for the eighteen Dockerfile instructions (case-insensitive).
bool is_known_keyword(std::string_view keyword);
// "unknown instruction: FORM (did you mean from?)".
std::string unknown_instruction_message(std::string_view keyword);

// RUN/COPY/ADD (also under ONBUILD) in shell form may carry heredocs.
bool can_contain_heredoc(const Node& node);

// The heredocs that the words of `text` open, in order. Throws NodeSyntaxError.
std::vector<Heredoc> heredoc_openers(std::string_view text);

// BuildKit's parseWords: blank-separated words, quotes kept, escapes kept.
std::vector<std::string> split_words_keep_quotes(std::string_view rest, char escape);

}  // namespace cairn::frontend
