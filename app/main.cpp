// fxopt's entry point: builds the command line from one setup_<command>() per subcommand, nothing else.
#include <malloc.h>

#include <cstdio>
#include <exception>
#include <new>

#include "app/commands.h"
#include "core/error.h"

int main(int argc, char** argv) {
#if !FXOPT_HAVE_MIMALLOC
  // glibc malloc (a build without mimalloc): no fastbins. A graph is millions of small blocks freed and allocated
  // in waves, and each larger request after a wave made glibc consolidate them all (5 % of a 200k-node rewrite).
  mallopt(M_MXFAST, 0);
#endif
  CLI::App app{"fxopt: an optimizer for PyTorch FX graphs (fxgraph v1 JSON)", "fxopt"};
  app.set_version_flag("--version", std::string("fxopt ") + FXOPT_VERSION);
  app.require_subcommand(1);
  app.failure_message(CLI::FailureMessage::help);

  int exit_code = fxopt::app::kExitOk;
  fxopt::app::setup_verify(app, exit_code);
  fxopt::app::setup_fmt(app, exit_code);
  fxopt::app::setup_stats(app, exit_code);
  fxopt::app::setup_rewrite(app, exit_code);
  fxopt::app::setup_match(app, exit_code);
  fxopt::app::setup_patterns(app, exit_code);
  fxopt::app::setup_diff(app, exit_code);
  fxopt::app::setup_run(app, exit_code);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
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
