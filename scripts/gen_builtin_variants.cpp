// Build-time generator: writes the built-in pattern variants in their prebuilt form (core/pattern/pattern_blob.h) as a
// C++ source. Usage: gen_builtin_variants OUT.cpp (the file is rewritten only when its text changes).
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>

#include "core/pattern/pattern_blob.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: gen_builtin_variants OUT.cpp\n";
    return 2;
  }
  std::string text;
  try {
    text = fxopt::builtin_variant_blob_source(fxopt::build_builtin_variant_blob());
  } catch (const std::exception& e) {
    std::cerr << "gen_builtin_variants: a built-in pattern file is broken: " << e.what() << "\n";
    return 1;
  }
  std::ifstream old(argv[1], std::ios::binary);
  std::stringstream have;
  have << old.rdbuf();
  if (old && have.str() == text) return 0;
  std::ofstream out(argv[1], std::ios::binary | std::ios::trunc);
  out << text;
  out.close();
  if (!out) {
    std::cerr << "gen_builtin_variants: cannot write " << argv[1] << "\n";
    return 1;
  }
  return 0;
}
