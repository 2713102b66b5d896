// Reading and writing safetensors files (little-endian u64 header length, JSON header, raw tensor data).
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "runtime/tensor.h"

namespace fxopt::rt {

// Tensors by name, in file order. Throws InputError naming the file and the tensor on malformed input.
// dtype codes: BOOL U8 I8 I16 I32 I64 F16 BF16 F32 F64 F8_E4M3 F8_E5M2, and F8_E4M3FNUZ (an fxopt extension).
std::vector<std::pair<std::string, Tensor>> read_safetensors(const std::string& path);
// Writes the tensors (made contiguous) atomically; names must be unique.
void write_safetensors(const std::string& path, const std::vector<std::pair<std::string, Tensor>>& tensors);
// The encoded file contents (for tests and in-memory use).
std::string encode_safetensors(const std::vector<std::pair<std::string, Tensor>>& tensors);
std::vector<std::pair<std::string, Tensor>> decode_safetensors(std::string_view bytes, const std::string& source);

}  // namespace fxopt::rt
