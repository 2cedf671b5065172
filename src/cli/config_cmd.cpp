// `cairn config`: the effective settings and where each came from.
#include <cstdio>

#include "app.hpp"

namespace cairn::cli {

Command register_config(CLI::App& root) {
  CLI::App* app = root.add_subcommand(
      "config", "Print the effective configuration (cairn.toml files and flags merged)");
  return {app, [](const Config& config) {
            for (const auto& file : config.files_read)
              std::printf("# read %s\n", file.c_str());
            std::fputs(render_config(config).c_str(), stdout);
            return 0;
          }};
}

}  // namespace cairn::cli
