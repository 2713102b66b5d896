// The error types that cross module boundaries: bad input (user-facing) vs broken invariants (bugs).
#pragma once

#include <stdexcept>
#include <string>

namespace fxopt {

// Bad input: a malformed graph, pattern file, argument, ... The message names the file, the JSON path or
// node, and what was expected. Commands turn it into "fxopt: error: <message>" and a non-zero exit code.
struct InputError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// A broken internal invariant (a bug in fxopt, not in the input). Reported with its source location.
[[noreturn]] void invariant_failed(const char* expr, const char* file, int line, const std::string& msg);

}  // namespace fxopt

#define FXOPT_CHECK(cond, msg) \
  do { if (!(cond)) ::fxopt::invariant_failed(#cond, __FILE__, __LINE__, (msg)); } while (0)
