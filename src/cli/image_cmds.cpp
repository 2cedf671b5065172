// Image commands: load, import, save, images, tag, rmi, inspect, history, store verify,
// prune.
#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <cstring>
#include <ctime>

#include "app.hpp"
#include "cairn/base/error.hpp"
#include "cairn/base/sys.hpp"
#include "cairn/base/timer.hpp"
#include "cairn/build/image_config.hpp"
#include "cairn/store/image.hpp"
#include "cairn/store/reference.hpp"

namespace cairn::cli {

store::Store open_store(const Config& config) {
  if (config.storage_root.empty())
    throw Error("no store directory: neither XDG_DATA_HOME nor HOME is set")
        .hint("set storage.root in cairn.toml or pass --root DIR");
  return store::Store(config.storage_root);
}

store::ImageEntry resolve(const store::Store& s, const std::string& name) {
  auto image = s.resolve(name);
  if (!image) throw Error("no such image: " + name).hint("see `cairn images`");
  return *image;
}

namespace {

using nlohmann::json;

store::UnpackLimits limits_of(const Config& config) {
  return store::UnpackLimits{config.max_layer_size};
}

std::optional<std::int64_t> source_date_epoch() {
  const char* value = std::getenv("SOURCE_DATE_EPOCH");
  if (!value || !*value) return std::nullopt;
  std::size_t used = 0;
  long long seconds = -1;
  try {
    seconds = std::stoll(value, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != std::strlen(value) || seconds < 0)
    throw Error(std::string("SOURCE_DATE_EPOCH=\"") + value + "\" is not a number of seconds");
  return seconds;
}

// "2 days ago", as docker prints ages.
std::string age(std::int64_t then) {
  const std::int64_t seconds = static_cast<std::int64_t>(std::time(nullptr)) - then;
  auto plural = [](std::int64_t n, const char* unit) {
    return fmt::format("{} {}{} ago", n, unit, n == 1 ? "" : "s");
  };
  if (seconds < 60) return "Less than a minute ago";
  if (seconds < 3600) return plural(seconds / 60, "minute");
  if (seconds < 86400) return plural(seconds / 3600, "hour");
  if (seconds < 86400 * 14) return plural(seconds / 86400, "day");
  if (seconds < 86400 * 60) return plural(seconds / (86400 * 7), "week");
  if (seconds < 86400 * 365 * 2) return plural(seconds / (86400 * 30), "month");
  return plural(seconds / (86400 * 365), "year");
}

UniqueFd input_file(const std::string& path, const char* what, const char* how) {
  if (path.empty() || path == "-") {
    if (::isatty(STDIN_FILENO))
      throw Error(std::string(what) + ": standard input is a terminal").hint(how);
    return sys::dup(STDIN_FILENO);
  }
  return with_context(what, [&] { return sys::open(path, O_RDONLY); });
}

Command register_load(CLI::App& root) {
  auto input = std::make_shared<std::string>();
  CLI::App* app = root.add_subcommand(
      "load", "Load images from a docker-archive, OCI archive or hybrid tar (docker save / cairn save)");
  app->add_option("-i,--input", *input, "Read from FILE instead of standard input")->type_name("FILE");
  return {app, [input](const Config& config) {
            ScopedTimer timer("load");
            store::Store s = open_store(config);
            UniqueFd fd = input_file(*input, "load", "give the archive with -i FILE, or pipe it in");
            auto print = [](const std::string& image) {
              fmt::print("{}: {}\n", image.rfind("sha256:", 0) == 0 ? "Loaded image ID" : "Loaded image", image);
              std::fflush(stdout);
            };
            with_context("load " + (input->empty() ? std::string("-") : *input), [&] {
              return store::load_archive(s, fd.get(), limits_of(config), print);
            });
            return 0;
          }};
}

Command register_import(CLI::App& root) {
  struct Options {
    std::string file;
    std::string name;
    std::vector<std::string> changes;
    std::string message;
  };
  auto o = std::make_shared<Options>();
  CLI::App* app = root.add_subcommand(
      "import", "Create a one-layer image from a root filesystem tarball (like docker import)");
  app->add_option("file", o->file, "The tarball (gzip, zstd or plain), or - for standard input")
      ->required()
      ->type_name("FILE|-");
  app->add_option("name", o->name, "Name (and tag) for the image")->type_name("NAME[:TAG]");
  app->add_option("-c,--change", o->changes, "Apply a Dockerfile instruction to the config (repeatable)")
      ->type_name("INSTRUCTION")
      ->allow_extra_args(false);
  app->add_option("-m,--message", o->message, "Comment for the history entry");
  return {app, [o](const Config& config) {
            ScopedTimer timer("import");
            store::Store s = open_store(config);
            store::ImportOptions options;
            if (!o->name.empty()) options.names = {o->name};
            options.source = o->file;
            options.message = o->message;
            options.source_date_epoch = source_date_epoch();
            options.limits = limits_of(config);
            options.apply_changes = [o](json& c) { build::apply_changes(c, o->changes); };
            // Check the changes before reading a large tarball.
            json scratch = json::object();
            build::apply_changes(scratch, o->changes);
            UniqueFd fd = input_file(o->file, "import", "name the tarball, or pipe it in with -");
            auto image = with_context("import " + o->file, [&] { return store::import_rootfs(s, fd.get(), options); });
            fmt::print("{}\n", store::image_config_digest(s, image));
            return 0;
          }};
}

Command register_save(CLI::App& root) {
  struct Options {
    std::string output;
    std::string format = "hybrid";
    std::vector<std::string> images;
  };
  auto o = std::make_shared<Options>();
  CLI::App* app = root.add_subcommand(
      "save", "Write images to a tar archive that docker, podman, containerd and skopeo load");
  app->add_option("-o,--output", o->output, "Write to FILE instead of standard output")->type_name("FILE");
  app->add_option("--format", o->format, "hybrid (OCI layout + docker manifest.json, default), docker or oci")
      ->type_name("FORMAT");
  app->add_option("images", o->images, "Images by name or ID")->required()->type_name("IMAGE");
  return {app, [o](const Config& config) {
            ScopedTimer timer("save");
            auto format = store::parse_save_format(o->format);
            if (!format) throw Error("--format \"" + o->format + "\": expected hybrid, docker or oci");
            store::Store s = open_store(config);
            if (o->output.empty() || o->output == "-") {
              if (::isatty(STDOUT_FILENO))
                throw Error("save: refusing to write an archive to a terminal").hint("use -o FILE or a pipe");
              store::save_images(s, o->images, *format, STDOUT_FILENO);
              return 0;
            }
            // Write next to the target and rename, so a failed save leaves no partial file.
            const std::string temp = o->output + ".cairn-partial";
            try {
              UniqueFd fd = sys::open(temp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
              store::save_images(s, o->images, *format, fd.get());
              if (::fsync(fd.get()) != 0) throw Error("fsync", temp, errno);
            } catch (...) {
              ::unlink(temp.c_str());
              throw;
            }
            if (::rename(temp.c_str(), o->output.c_str()) != 0) throw Error("rename to", o->output, errno);
            return 0;
          }};
}

json images_json(const store::Store& s) {
  json out = json::array();
  for (const auto& image : s.images()) {
    const json inspect = store::inspect_image(s, image);
    const auto created = store::parse_rfc3339(inspect.value("Created", "")).value_or(0);
    std::vector<std::string> names = image.names;
    if (names.empty()) names.push_back("");
    for (const auto& name : names) {
      json row = {{"Id", inspect["Id"]}, {"Digest", image.manifest_digest},
                  {"Created", inspect["Created"]}, {"CreatedUnix", created}, {"Size", inspect["Size"]}};
      if (!name.empty()) {
        const auto ref = store::parse_reference(name);
        row["Repository"] = store::parse_reference(ref.repository(), false).familiar();
        row["Tag"] = ref.tag.value_or("");
        row["Name"] = ref.str();
      } else {
        row["Repository"] = "<none>";
        row["Tag"] = "<none>";
      }
      out.push_back(row);
    }
  }
  return out;
}

Command register_images(CLI::App& root) {
  struct Options {
    std::string format;
    bool quiet = false;
  };
  auto o = std::make_shared<Options>();
  CLI::App* app = root.add_subcommand("images", "List the images in the store");
  app->add_option("--format", o->format, "json for machine-readable output")->type_name("FORMAT");
  app->add_flag("-q,--quiet", o->quiet, "Print image IDs only");
  return {app, [o](const Config& config) {
            store::Store s = open_store(config);
            const json rows = images_json(s);
            if (o->format == "json") {
              fmt::print("{}\n", rows.dump(2));
              return 0;
            }
            if (!o->format.empty()) throw Error("--format \"" + o->format + "\": only json is supported");
            if (o->quiet) {
              for (const auto& r : rows) fmt::print("{}\n", r["Id"].get<std::string>().substr(7, 12));
              return 0;
            }
            fmt::print("{:<40} {:<16} {:<14} {:<24} {}\n", "REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE");
            for (const auto& r : rows)
              fmt::print("{:<40} {:<16} {:<14} {:<24} {}\n", r["Repository"].get<std::string>(),
                         r["Tag"].get<std::string>(), r["Id"].get<std::string>().substr(7, 12),
                         age(r["CreatedUnix"].get<std::int64_t>()), human_size(r["Size"].get<std::int64_t>()));
            return 0;
          }};
}

Command register_tag(CLI::App& root) {
  auto args = std::make_shared<std::vector<std::string>>();
  CLI::App* app = root.add_subcommand("tag", "Give an image another name: cairn tag SOURCE TARGET");
  app->add_option("names", *args, "SOURCE (name or ID) and TARGET name")->expected(2)->required();
  return {app, [args](const Config& config) {
            store::Store s = open_store(config);
            const auto image = resolve(s, (*args)[0]);
            try {
              if (store::parse_reference((*args)[1]).digest)
                throw Error("tag: \"" + (*args)[1] + "\": a tag cannot hold a digest (NAME[:TAG])");
            } catch (const std::invalid_argument& e) {
              throw Error("tag: \"" + (*args)[1] + "\": " + e.what());
            }
            s.add_image(image.manifest_digest, image.manifest_size, {(*args)[1]});
            return 0;
          }};
}

Command register_rmi(CLI::App& root) {
  auto names = std::make_shared<std::vector<std::string>>();
  CLI::App* app = root.add_subcommand(
      "rmi", "Remove image names; an image whose last name goes is removed (space is freed by cairn prune)");
  app->add_option("images", *names, "Images by name or ID")->required();
  return {app, [names](const Config& config) {
            store::Store s = open_store(config);
            for (const auto& name : *names) {
              const auto image = resolve(s, name);
              std::string full;
              try {
                full = store::parse_reference(name).str();
              } catch (const std::invalid_argument&) {
              }
              const bool by_name = std::find(image.names.begin(), image.names.end(), full) != image.names.end();
              if (by_name) {
                s.remove_name(full);
                fmt::print("Untagged: {}\n", store::parse_reference(full).familiar());
              }
              if (!by_name || image.names.size() == 1) {
                if (!by_name && image.names.size() > 1)
                  throw Error("rmi: image " + name + " has several names; remove them by name")
                      .hint("cairn rmi NAME for each, as docker requires -f here");
                s.remove_image(image.manifest_digest);
                fmt::print("Deleted: {}\n", store::image_config_digest(s, image));
              }
            }
            return 0;
          }};
}

Command register_inspect(CLI::App& root) {
  auto names = std::make_shared<std::vector<std::string>>();
  CLI::App* app = root.add_subcommand("inspect", "Print images' configuration and layers as JSON");
  app->add_option("images", *names, "Images by name or ID")->required();
  return {app, [names](const Config& config) {
            store::Store s = open_store(config);
            json out = json::array();
            for (const auto& name : *names) out.push_back(store::inspect_image(s, resolve(s, name)));
            fmt::print("{}\n", out.dump(4));
            return 0;
          }};
}

Command register_history(CLI::App& root) {
  auto name = std::make_shared<std::string>();
  CLI::App* app = root.add_subcommand("history", "Show how an image was made, layer by layer");
  app->add_option("image", *name, "Image by name or ID")->required();
  return {app, [name](const Config& config) {
            store::Store s = open_store(config);
            const json inspect = store::inspect_image(s, resolve(s, *name));
            const json& layers = inspect["Layers"];
            std::size_t next_layer = 0;
            std::vector<std::string> lines;
            for (const auto& h : inspect["History"]) {
              std::int64_t size = 0;
              if (!h.value("empty_layer", false) && next_layer < layers.size())
                size = layers[next_layer++].value("size", std::int64_t{0});
              std::string by = h.value("created_by", "");
              if (by.size() > 60) by = by.substr(0, 57) + "...";
              lines.push_back(fmt::format("{:<24} {:<60} {:<10} {}",
                                          age(store::parse_rfc3339(h.value("created", "")).value_or(0)),
                                          by, human_size(size), h.value("comment", "")));
            }
            fmt::print("{:<24} {:<60} {:<10} {}\n", "CREATED", "CREATED BY", "SIZE", "COMMENT");
            for (auto it = lines.rbegin(); it != lines.rend(); ++it) fmt::print("{}\n", *it);
            return 0;
          }};
}

Command register_store(CLI::App& root) {
  CLI::App* app = root.add_subcommand("store", "Store maintenance: cairn store verify");
  CLI::App* verify = app->add_subcommand("verify", "Re-check every blob's digest and every image's references");
  app->require_subcommand(1);
  (void)verify;
  return {app, [](const Config& config) {
            store::Store s = open_store(config);
            const auto report = s.verify();
            for (const auto& problem : report.problems) fmt::print(stderr, "cairn: problem: {}\n", problem);
            fmt::print("{} blobs and {} layers checked, {} problems\n", report.blobs_checked,
                       report.layers_checked, report.problems.size());
            return report.problems.empty() ? 0 : 1;
          }};
}

Command register_prune(CLI::App& root) {
  CLI::App* app = root.add_subcommand("prune", "Remove blobs and layers that no image references");
  return {app, [](const Config& config) {
            store::Store s = open_store(config);
            const auto report = s.prune();
            fmt::print("Removed {} blobs and {} layers; freed {}\n", report.blobs_removed,
                       report.layers_removed, human_size(static_cast<std::int64_t>(report.bytes_freed)));
            return 0;
          }};
}

}  // namespace

std::vector<Command> register_image_commands(CLI::App& root) {
  return {register_load(root),  register_import(root),  register_save(root),
          register_images(root), register_tag(root),    register_rmi(root),
          register_inspect(root), register_history(root), register_store(root),
          register_prune(root)};
}

}  // namespace cairn::cli
