// Registry commands: pull, push, login, logout.
#include <fmt/format.h>
#include <fcntl.h>
#include <termios.h>
#include <unistd.h>

#include <iostream>

#include "app.hpp"
#include "cairn/base/error.hpp"
#include "cairn/base/sys.hpp"
#include "cairn/base/timer.hpp"
#include "cairn/build/transfer.hpp"
#include "cairn/registry/credentials.hpp"
#include "cairn/registry/registry.hpp"

namespace cairn::cli {
namespace {

registry::Session open_session(const Config& config) {
  return registry::Session(config.registry,
                           registry::CredentialStore(registry::CredentialPaths::from_process()));
}

Command register_pull(CLI::App& root) {
  struct Options {
    std::string reference, platform, progress = "auto";
    bool quiet = false;
  };
  auto o = std::make_shared<Options>();
  CLI::App* app = root.add_subcommand("pull", "Pull an image from a registry into the store");
  app->add_option("reference", o->reference, "The image: NAME[:TAG|@DIGEST]")->required()->type_name("REF");
  app->add_option("--platform", o->platform, "os/arch[/variant] to choose from a multi-platform image")
      ->type_name("PLATFORM");
  app->add_option("--progress", o->progress, "auto, tty, plain or quiet")->type_name("MODE");
  app->add_flag("-q,--quiet", o->quiet, "No progress (standard output still gets the name)");
  return {app, [o](const Config& config) {
            ScopedTimer timer("pull");
            store::Store s = open_store(config);
            registry::Session session = open_session(config);
            build::PullOptions options;
            if (!o->platform.empty()) {
              build::parse_platform(o->platform);
              options.platform = o->platform;
              options.require_platform = true;
            }
            options.progress = progress_mode(o->progress, o->quiet);
            options.limits = store::UnpackLimits{config.max_layer_size};
            const auto result = build::pull_image(s, session, o->reference, options);
            fmt::print("{}\n", result.reference);
            return 0;
          }};
}

Command register_push(CLI::App& root) {
  struct Options {
    std::string image, destination, progress = "auto", digestfile;
    bool quiet = false;
  };
  auto o = std::make_shared<Options>();
  CLI::App* app = root.add_subcommand("push", "Push an image from the store to a registry");
  app->add_option("image", o->image, "The image in the store: name or ID")->required()->type_name("IMAGE");
  app->add_option("destination", o->destination, "Where to push it (default: the image's name)")
      ->type_name("REGISTRY/REPOSITORY[:TAG]");
  app->add_option("--digestfile", o->digestfile, "Write the pushed manifest's digest to FILE")
      ->type_name("FILE");
  app->add_option("--progress", o->progress, "auto, tty, plain or quiet")->type_name("MODE");
  app->add_flag("-q,--quiet", o->quiet, "No progress (standard output still gets REPOSITORY@DIGEST)");
  return {app, [o](const Config& config) {
            ScopedTimer timer("push");
            store::Store s = open_store(config);
            registry::Session session = open_session(config);
            build::PushOptions options;
            options.progress = progress_mode(o->progress, o->quiet);
            std::optional<std::string> destination;
            if (!o->destination.empty()) destination = o->destination;
            const auto result = build::push_image(s, session, o->image, destination, options);
            if (!o->digestfile.empty()) sys::write_file_atomic(o->digestfile, result.digest + "\n");
            fmt::print("{}@{}\n", result.repository, result.digest);
            return 0;
          }};
}

// Reads a line from the terminal, without echo for secrets.
std::string prompt(const std::string& question, bool secret) {
  const int fd = ::open("/dev/tty", O_RDWR | O_CLOEXEC);
  if (fd < 0)
    throw Error("login: no terminal to ask for the " + std::string(secret ? "password" : "user name"))
        .hint("give -u USER and --password-stdin");
  UniqueFd tty(fd);
  sys::write_all(tty.get(), question, "/dev/tty");
  termios saved{};
  const bool restore = secret && ::tcgetattr(tty.get(), &saved) == 0;
  if (restore) {
    termios quiet = saved;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    ::tcsetattr(tty.get(), TCSANOW, &quiet);
  }
  std::string line;
  char c;
  while (::read(tty.get(), &c, 1) == 1 && c != '\n') line += c;
  if (restore) {
    ::tcsetattr(tty.get(), TCSANOW, &saved);
    sys::write_all(tty.get(), "\n", "/dev/tty");
  }
  return line;
}

std::string registry_domain(const std::string& given) {
  const std::string domain = registry::normalize_config_key(given.empty() ? "docker.io" : given);
  const bool has_path = given.find("://") == std::string::npos && given.find('/') != std::string::npos;
  if (domain.empty() || has_path || domain.find_first_of(" /@") != std::string::npos)
    throw Error("\"" + given + "\" is not a registry (give its host: quay.io, localhost:5000)");
  return domain;
}

Command register_login(CLI::App& root) {
  struct Options {
    std::string registry, username, password;
    bool password_stdin = false;
  };
  auto o = std::make_shared<Options>();
  CLI::App* app = root.add_subcommand("login", "Log in to a registry (credentials kept in auth.json)");
  app->add_option("registry", o->registry, "The registry (default docker.io)")->type_name("REGISTRY");
  app->add_option("-u,--username", o->username, "User name (asked for when not given)");
  app->add_option("-p,--password", o->password, "Password (visible to other users: prefer --password-stdin)");
  app->add_flag("--password-stdin", o->password_stdin, "Read the password from standard input");
  return {app, [o](const Config& config) {
            const std::string domain = registry_domain(o->registry);
            if (o->password_stdin && !o->password.empty())
              throw CLI::ValidationError("--password", "give --password or --password-stdin, not both");
            std::string username = o->username.empty() ? prompt("Username: ", false) : o->username;
            std::string password = o->password;
            if (o->password_stdin) {
              password = sys::read_all(STDIN_FILENO, "standard input");
              while (!password.empty() && (password.back() == '\n' || password.back() == '\r')) password.pop_back();
            } else if (password.empty()) {
              password = prompt("Password: ", true);
            }
            if (username.empty() || password.empty()) throw Error("login " + domain + ": a user name and a password are needed");
            registry::CredentialStore credentials(registry::CredentialPaths::from_process());
            registry::CredentialStore trial = credentials;
            trial.override_for(domain, {username, password, false, "the command line"});
            registry::Session session(config.registry, trial);
            // A repository-less check: GET /v2/ with the credentials (a bearer registry is asked
            // for a token with no scope, which checks them too).
            registry::Client client(session, {domain, ""}, registry::Client::Access::pull);
            with_context("login " + domain, [&] { client.ping(); });
            credentials.save(domain, username, password);
            fmt::print(stderr, "Credentials saved in {}\n", credentials.paths().login_file().string());
            fmt::print("Login Succeeded!\n");
            return 0;
          }};
}

Command register_logout(CLI::App& root) {
  auto given = std::make_shared<std::string>();
  CLI::App* app = root.add_subcommand("logout", "Remove the credentials of a registry saved by login");
  app->add_option("registry", *given, "The registry (default docker.io)")->type_name("REGISTRY");
  return {app, [given](const Config&) {
            const std::string domain = registry_domain(*given);
            registry::CredentialStore credentials(registry::CredentialPaths::from_process());
            if (!credentials.remove(domain))
              throw Error("logout: not logged in to " + domain + " (no entry in " +
                          credentials.paths().login_file().string() + ")");
            fmt::print("Removed login credentials for {}\n", domain);
            return 0;
          }};
}

}  // namespace

std::vector<Command> register_registry_commands(CLI::App& root) {
  return {register_pull(root), register_push(root), register_login(root), register_logout(root)};
}

}  // namespace cairn::cli
