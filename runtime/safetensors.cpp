// safetensors I/O: header parsed with nlohmann/json, every offset and size checked before use.
#include "runtime/safetensors.h"

#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>

#include "core/ir/error.h"
#include "core/fxgraph/fxgraph_io.h"
#include "core/fxgraph/json_pull.h"

namespace fxopt::rt {

namespace {
constexpr std::pair<DType, const char*> kCodes[] = {
    {DType::Bool, "BOOL"}, {DType::U8, "U8"},     {DType::I8, "I8"},     {DType::I16, "I16"},
    {DType::I32, "I32"},   {DType::I64, "I64"},   {DType::F16, "F16"},   {DType::BF16, "BF16"},
    {DType::F32, "F32"},   {DType::F64, "F64"},   {DType::F8E4M3FN, "F8_E4M3"}, {DType::F8E5M2, "F8_E5M2"},
    {DType::F8E4M3FNUZ, "F8_E4M3FNUZ"}, {DType::U64, "U64"},
};
const char* code_of(DType d) {
  for (const auto& [t, c] : kCodes)
    if (t == d) return c;
  return "?";
}
}  // namespace

std::string encode_safetensors(const std::vector<std::pair<std::string, Tensor>>& tensors) {
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  std::vector<Tensor> data;
  std::set<std::string> names;
  size_t offset = 0;
  for (const auto& [name, t] : tensors) {
    if (!names.insert(name).second) throw InputError("safetensors: duplicate tensor name '" + name + "'");
    Tensor c = t.contiguous();
    const size_t bytes = static_cast<size_t>(c.numel()) * dtype_size(c.dtype());
    header[name] = {{"dtype", code_of(c.dtype())}, {"shape", c.shape()}, {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
    data.push_back(std::move(c));
  }
  std::string h = header.dump();
  while ((8 + h.size()) % 8 != 0) h += ' ';
  std::string out(8, '\0');
  const uint64_t n = h.size();
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((n >> (8 * i)) & 0xFF);
  out += h;
  for (const Tensor& c : data)
    out.append(reinterpret_cast<const char*>(c.raw()), static_cast<size_t>(c.numel()) * dtype_size(c.dtype()));
  return out;
}

void write_safetensors(const std::string& path, const std::vector<std::pair<std::string, Tensor>>& tensors) {
  write_text_atomic(path, encode_safetensors(tensors));
}

std::vector<std::pair<std::string, Tensor>> decode_safetensors(std::string_view bytes, const std::string& source) {
  auto bad = [&source](const std::string& what) { return InputError(source + ": " + what); };
  if (bytes.size() < 8) throw bad("not a safetensors file (shorter than its 8-byte header length)");
  uint64_t n = 0;
  for (int i = 0; i < 8; ++i) n |= static_cast<uint64_t>(static_cast<unsigned char>(bytes[i])) << (8 * i);
  if (n > bytes.size() - 8) throw bad("header length " + std::to_string(n) + " exceeds the file size");
  nlohmann::ordered_json header;
  check_json_nesting(bytes.substr(8, n), source + ": header");
  try {
    header = nlohmann::ordered_json::parse(bytes.substr(8, n));
  } catch (const nlohmann::json::exception& e) {
    std::string msg = e.what();
    const size_t colon = msg.find("] ");  // drop nlohmann's "[json.exception.parse_error.101] " tag
    throw bad("malformed header JSON: " + (colon == std::string::npos ? msg : msg.substr(colon + 2)));
  }
  if (!header.is_object()) throw bad("the header is not a JSON object");
  const std::string_view data = bytes.substr(8 + n);
  std::vector<std::pair<std::string, Tensor>> out;
  for (const auto& [name, info] : header.items()) {
    if (name == "__metadata__") continue;
    const std::string where = "tensor '" + name + "'";
    if (!info.is_object() || !info.contains("dtype") || !info.contains("shape") || !info.contains("data_offsets"))
      throw bad(where + ": needs dtype, shape and data_offsets");
    if (!info["dtype"].is_string()) throw bad(where + ": dtype must be a string");
    const std::string code = info["dtype"].get<std::string>();
    std::optional<DType> dt;
    for (const auto& [t, c] : kCodes)
      if (code == c) dt = t;
    if (!dt) throw bad(where + ": unsupported dtype '" + code + "'");
    Shape shape;
    if (!info["shape"].is_array()) throw bad(where + ": shape must be an array");
    for (const auto& s : info["shape"]) {
      if (!s.is_number_unsigned()) throw bad(where + ": shape entries must be non-negative integers");
      if (s.get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
        throw bad(where + ": shape entry " + std::to_string(s.get<uint64_t>()) + " does not fit in int64");
      shape.push_back(s.get<int64_t>());
    }
    const std::optional<int64_t> nbytes = checked_nbytes(dtype_size(*dt), shape);
    if (!nbytes) throw bad(where + ": impossible size " + code + " " + shape_str(shape) + ": " + size_problem(dtype_size(*dt), shape));
    const auto& offs = info["data_offsets"];
    if (!offs.is_array() || offs.size() != 2 || !offs[0].is_number_unsigned() || !offs[1].is_number_unsigned())
      throw bad(where + ": data_offsets must be two non-negative integers");
    const uint64_t b = offs[0].get<uint64_t>(), e = offs[1].get<uint64_t>();
    const uint64_t want = static_cast<uint64_t>(*nbytes);
    if (e < b || e > data.size()) throw bad(where + ": data_offsets [" + std::to_string(b) + ", " + std::to_string(e) + "] lie outside the data");
    if (e - b != want)
      throw bad(where + ": data_offsets cover " + std::to_string(e - b) + " bytes but " + code + " " + shape_str(shape) +
                " needs " + std::to_string(want));
    Tensor t = Tensor::empty(*dt, shape);
    if (want) std::memcpy(t.raw(), data.data() + b, want);
    out.emplace_back(name, std::move(t));
  }
  return out;
}

std::vector<std::pair<std::string, Tensor>> read_safetensors(const std::string& path) {
  const std::string bytes = read_text_file(path);
  return decode_safetensors(bytes, path);
}

}  // namespace fxopt::rt
