// Reporting of broken internal invariants.
#include "core/ir/error.h"

#include <cstdio>
#include <cstdlib>

namespace fxopt {

void invariant_failed(const char* expr, const char* file, int line, const std::string& msg) {
  std::fprintf(stderr, "fxopt: internal error: %s (check `%s` failed at %s:%d)\n", msg.c_str(), expr, file,
               line);
  std::abort();
}

}  // namespace fxopt
