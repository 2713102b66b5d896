// The built-in pattern files that ship inside the binary (generated from patterns/*.json at build time).
#pragma once
#include <string_view>
#include <vector>

namespace fxopt {

struct EmbeddedPatternFile {
  std::string_view name;  // file name, e.g. "rms_gated_fp8_group_quant.json"
  std::string_view text;  // its JSON text
};

const std::vector<EmbeddedPatternFile>& builtin_pattern_files();

}  // namespace fxopt
