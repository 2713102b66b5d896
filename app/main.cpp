// fxopt's entry point: builds the command line from one setup_<command>() per subcommand, nothing else.
#include <malloc.h>

#include <cstdio>
#include <cstring>
#include <exception>
#include <new>

#include "app/commands.h"
#include "core/ir/error.h"

namespace {

using Setup = void (*)(CLI::App&, int&);
struct Command {
  const char* name;
  Setup setup;
};
// In the order `fxopt --help` lists them.
constexpr Command kCommands[] = {
    {"verify", fxopt::app::setup_verify},     {"fmt", fxopt::app::setup_fmt},   {"stats", fxopt::app::setup_stats},
    {"rewrite", fxopt::app::setup_rewrite},   {"match", fxopt::app::setup_match}, {"patterns", fxopt::app::setup_patterns},
    {"diff", fxopt::app::setup_diff},         {"run", fxopt::app::setup_run}};

// Parses the command line and runs the command; the exit code.
int run(int argc, char** argv, Setup only) {
  CLI::App app{"fxopt: an optimizer for PyTorch FX graphs (fxgraph v1 JSON)", "fxopt"};
  app.set_version_flag("--version", std::string("fxopt ") + FXOPT_VERSION);
  app.require_subcommand(1);
  app.failure_message(CLI::FailureMessage::help);

  int exit_code = fxopt::app::kExitOk;
  for (const Command& c : kCommands)
    if (!only || c.setup == only) c.setup(app, exit_code);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (only) return -1;  // parsed again with every command, for the same message and exit code
    int rc = app.exit(e);
    return rc == 0 ? fxopt::app::kExitOk : fxopt::app::kExitUsage;
  } catch (const fxopt::InputError& e) {
    std::fprintf(stderr, "fxopt: error: %s\n", e.what());
    return exit_code != fxopt::app::kExitOk ? exit_code : fxopt::app::kExitFailure;
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "fxopt: error: out of memory (an allocation failed; for `run`, see --memory-limit)\n");
    return fxopt::app::kExitFailure;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "fxopt: error: %s\n", e.what());
    return fxopt::app::kExitFailure;
  }
  return exit_code;
}

}  // namespace

int main(int argc, char** argv) {
#if !FXOPT_HAVE_MIMALLOC
  // glibc malloc (a build without mimalloc): no fastbins. A graph is millions of small blocks freed and allocated
  // in waves, and each larger request after a wave made glibc consolidate them all (5 % of a 200k-node rewrite).
  mallopt(M_MXFAST, 0);
#endif
  // `fxopt COMMAND ...` sets up that command alone: setting up all eight was a twentieth of a small rewrite's
  // instructions. Only when no other argument names a command (CLI11 would read it as one), and a command line
  // it cannot parse (help included) is parsed again with every command: messages and exit codes are the same.
  Setup only = nullptr;
  if (argc >= 2)
    for (const Command& c : kCommands)
      if (std::strcmp(argv[1], c.name) == 0) only = c.setup;
  for (int i = 2; only && i < argc; ++i)
    for (const Command& c : kCommands)
      if (std::strcmp(argv[i], c.name) == 0) only = nullptr;
  if (only) {
    const int rc = run(argc, argv, only);
    if (rc != -1) return rc;
  }
  return run(argc, argv, nullptr);
}
