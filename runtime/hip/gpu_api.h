// The host-side interface of the GPU backend: plain C++ (no HIP or CUDA types), so the executor,
// tests and benchmarks compiled by g++ can allocate device memory, copy, and launch every kernel.
//
// A tensor is a device pointer + dtype + shape + strides (TensorRef). All launches are asynchronous
// on one stream (set_stream; the default stream unless set), in issue order; copies to the host
// and synchronize() wait for them.
// Every GPU error throws std::runtime_error naming the failing statement, file and line.
// Numerics: every kernel computes exactly what runtime/numerics.h specifies, bit for bit.
//
// Built only when FXOPT_GPU is nvidia or amd (FXOPT_HAVE_GPU=1). Without it the functions below
// are inline stubs: device_available() is false and every other call throws.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/numerics.h"

namespace fxopt::gpu {

// Element types a kernel can read or write.
enum class DType : uint8_t { f32, f16, bf16, f8e4m3fn, f8e4m3fnuz, f8e5m2, i64, i32, i16, i8, u8, b8 };

FXOPT_HD inline size_t dtype_size(DType t) {
  switch (t) {
    case DType::f32: case DType::i32: return 4;
    case DType::f16: case DType::bf16: case DType::i16: return 2;
    case DType::i64: return 8;
    default: return 1;
  }
}

FXOPT_HD inline bool dtype_is_float(DType t) { return t <= DType::f8e5m2; }

// PyTorch's dtype names ("float32", "bfloat16", "float8_e4m3fn", "int64", "bool", ...).
inline std::optional<DType> dtype_from_name(std::string_view n) {
  if (n == "float32" || n == "float") return DType::f32;
  if (n == "float16" || n == "half") return DType::f16;
  if (n == "bfloat16") return DType::bf16;
  if (n == "float8_e4m3fn") return DType::f8e4m3fn;
  if (n == "float8_e4m3fnuz") return DType::f8e4m3fnuz;
  if (n == "float8_e5m2") return DType::f8e5m2;
  if (n == "int64" || n == "long") return DType::i64;
  if (n == "int32" || n == "int") return DType::i32;
  if (n == "int16" || n == "short") return DType::i16;
  if (n == "int8") return DType::i8;
  if (n == "uint8") return DType::u8;
  if (n == "bool") return DType::b8;
  return std::nullopt;
}

inline std::optional<num::Fp8Format> fp8_format(DType t) {
  switch (t) {
    case DType::f8e4m3fn: return num::Fp8Format::e4m3fn;
    case DType::f8e4m3fnuz: return num::Fp8Format::e4m3fnuz;
    case DType::f8e5m2: return num::Fp8Format::e5m2;
    default: return std::nullopt;
  }
}

inline constexpr int kMaxDims = 6;

// A strided view of device memory. Strides are in elements; a stride of 0 broadcasts.
struct TensorRef {
  void* data = nullptr;  // device address of element [0, ..., 0]
  DType dtype = DType::f32;
  int ndim = 0;          // 0 is a scalar (one element)
  int64_t shape[kMaxDims] = {};
  int64_t strides[kMaxDims] = {};

  int64_t numel() const {
    int64_t n = 1;
    for (int i = 0; i < ndim; ++i) n *= shape[i];
    return n;
  }
  bool is_contiguous() const {
    int64_t expect = 1;
    for (int i = ndim - 1; i >= 0; --i) {
      if (shape[i] != 1 && strides[i] != expect) return false;
      expect *= shape[i];
    }
    return true;
  }
  // A row-major contiguous tensor of the given shape (at most kMaxDims dims).
  static TensorRef contiguous(void* data, DType dtype, std::initializer_list<int64_t> shape) {
    TensorRef t;
    t.data = data;
    t.dtype = dtype;
    if (shape.size() > static_cast<size_t>(kMaxDims)) throw std::invalid_argument("TensorRef: more than 6 dims");
    for (int64_t s : shape) t.shape[t.ndim++] = s;
    int64_t st = 1;
    for (int i = t.ndim - 1; i >= 0; --i) {
      t.strides[i] = st;
      st *= t.shape[i];
    }
    return t;
  }
};

// One input of a binary op: a tensor, or a Python scalar (converted to float32 or int64 as the op
// computes, as PyTorch does for a wrapped scalar).
struct Operand {
  TensorRef tensor;
  bool is_scalar = false;
  double scalar = 0.0;
  static Operand of(const TensorRef& t) { Operand o; o.tensor = t; return o; }
  static Operand of_scalar(double v) { Operand o; o.is_scalar = true; o.scalar = v; return o; }
};

enum class ReduceOp : uint8_t {
  sum,      // float inputs: float32 accumulate in the canonical row-sum order; ints: int64
  mean,     // sum / float(n)
  amax,     // NaN-propagating max (values only)
  amin,     // NaN-propagating min (values only)
  max,      // values + indices (first index of the max, or of the first NaN)
  min,      // values + indices
};

// How the fused kernels compute (tests and benchmarks pin one; the default picks by size).
struct FusedOptions {
  enum class Silu : uint8_t { automatic, direct, table } silu = Silu::automatic;
  // The vector kernel with its fast paths (hardware conversions, reciprocal division, branch-free
  // silu), each proven to give identical outputs (rms_quant_rows.h); false runs numerics.h's code
  // as written in a scalar kernel.
  bool fast_paths = true;
  int lanes_per_row = 0;     // 4, 8, 16 or 32 lanes per row; 0: by size (few for large M)
  int stages = 0;            // 1: register prefetch; 2 or 4: cp.async ring depth; 0: by size
  int threads_per_block = 0; // 0: by size
  int blocks_per_sm = 0;     // resident blocks per multiprocessor; 0: from occupancy
};

// One interval of fxopt run --timing (timing_collect).
struct TimedInterval {
  std::string label;
  uint64_t launches = 0;  // kernels launched inside the interval
  double ms = 0.0;        // device time of those kernels: the sum of each launch's own event pair
};

// Counters of the caching device allocator (alloc/free), since the process started.
struct AllocStats {
  uint64_t device_allocs = 0;  // hipMalloc / cudaMalloc calls
  uint64_t device_frees = 0;   // hipFree / cudaFree calls (release_cached_memory, exit)
  uint64_t cache_hits = 0;     // alloc() served from an idle cached block
  size_t bytes_in_use = 0;     // allocated and not yet freed (size classes)
  size_t bytes_cached = 0;     // idle blocks held for reuse
};

// A gather: out (contiguous, row-major over shape, elem_size bytes per element) at position pos is the
// element of x at offset sum_d pos[d] * x_strides[d] + sum_k wrap(idx_k(pos)) * idx_x_stride[k], where
// idx_k(pos) is index tensor k (int64 or int32) read at sum_d pos[d] * idx_strides[k][d] and a negative
// value wraps by idx_size[k]. Callers check the index values first (first_bad_index): the kernel does not.
struct GatherPlan {
  int ndim = 0;
  int64_t shape[kMaxDims] = {};
  int64_t x_strides[kMaxDims] = {};  // 0 on the dims an index tensor supplies
  int nidx = 0;
  const void* idx[kMaxDims] = {};
  DType idx_dtype[kMaxDims] = {};
  int64_t idx_strides[kMaxDims][kMaxDims] = {};
  int64_t idx_size[kMaxDims] = {};
  int64_t idx_x_stride[kMaxDims] = {};
};

// The attention kernel keeps a query row and the row's scores in shared memory: E + S floats at most.
inline constexpr int64_t kAttentionMaxSharedFloats = 11776;  // 46 KiB

// A 2-d convolution's stride, padding, dilation ([0] rows, [1] columns) and groups.
struct ConvSpec {
  int64_t stride[2] = {1, 1}, padding[2] = {0, 0}, dilation[2] = {1, 1};
  int64_t groups = 1;
};

#if defined(FXOPT_HAVE_GPU) && FXOPT_HAVE_GPU

// --- device and memory ---
bool device_available();
std::string device_name();          // e.g. "NVIDIA H100 80GB HBM3 (132 SMs, sm_90)"
int multiprocessor_count();
// Device memory through a caching allocator: free() keeps the block on a free list of its size class
// (512 B steps up to 1 MiB, then 1 MiB steps) and a later alloc() of the same class reuses it, with
// no hipMalloc/hipFree (safe because all work goes to one stream in issue order). On out-of-memory
// the idle blocks are released and the allocation retried; idle blocks are released at exit.
void* alloc(size_t bytes);          // throws on failure
void free(void* p);
AllocStats alloc_stats();
void release_cached_memory();       // synchronises, then hipFree's every idle cached block
void copy_to_device(void* dst, const void* src_host, size_t bytes);
void copy_to_host(void* dst_host, const void* src, size_t bytes);
void copy_device(void* dst, const void* src, size_t bytes);
void fill_bytes(void* dst, int value, size_t bytes);
void synchronize();
// The stream every launch and async copy goes to (a cudaStream_t / hipStream_t passed as void*;
// nullptr is the default stream). Not thread-local: one executor thread drives the GPU.
void set_stream(void* stream);
void* current_stream();

// --- launch accounting and device timing (fxopt run --timing) ---
// Kernels launched by this process so far: every launch in runtime/hip counts one.
uint64_t kernel_launches();
// While enabled, every kernel launch records its own event pair on the stream around the launch alone
// (FXOPT_LAUNCH in runtime/hip), and timing_begin()/timing_end() group the launches made between
// them into a labelled interval (no events of their own: host work between launches is not timed);
// timing_collect() synchronises and returns (and forgets) the intervals ended with keep = true,
// each with the summed device time of its launches, plus "(outside nodes)" for launches made
// outside every interval.
void timing_enable(bool on);
bool timing_enabled();
int timing_begin();  // a ticket for timing_end; -1 when timing is off
void timing_end(int ticket, std::string label, uint64_t launches, bool keep);
std::vector<TimedInterval> timing_collect();

// Runs `launches` (which enqueues device work) `iterations` times between two device events and
// returns the elapsed device time in milliseconds, divided by iterations.
float time_ms(const std::function<void()>& launches, int iterations);

// --- elementwise (out may not alias an input unless identical views) ---
// out[i] = op(in[broadcast i]); in is broadcast to out's shape (numpy rules, right-aligned).
void unary(const TensorRef& out, const TensorRef& in, num::UnaryOp op, double lo = 0.0, double hi = 0.0);
// out[i] = op(a[i], b[i]) with broadcasting; comparisons write 1/0.
void binary(const TensorRef& out, const Operand& a, const Operand& b, num::BinaryOp op);
// out[i] = cond[i] != 0 ? a[i] : b[i] with broadcasting.
void where(const TensorRef& out, const TensorRef& cond, const Operand& a, const Operand& b);

// --- reductions over the last dim of `in` ---
// values: shape in.shape[:-1] (any strides); indices (int64, same shape) for max/min, else null.
void reduce_last_dim(const TensorRef& values, const TensorRef* indices, const TensorRef& in, ReduceOp op);

// --- matrix product: out (M,N) = alpha * a (M,K) @ b (K,N) + beta * bias (broadcast to (M,N)) ---
// a, b: f32/bf16/f16, any strides; bias optional; accumulation order as numerics.h documents.
void matmul(const TensorRef& out, const TensorRef& a, const TensorRef& b, const TensorRef* bias = nullptr,
            float alpha = 1.0f, float beta = 1.0f);

// --- indexing (index.hip): data movement, the same bytes as the CPU kernels for every dtype ---
void gather(void* out, const void* x, size_t elem_size, const GatherPlan& plan);
// index_put without accumulation: out (contiguous, out_numel elements; plan.x_strides are out's) at each plan
// position gets values at sum_d pos[d] * values_strides[d]; where positions collide the last in row-major order
// wins, as on the CPU (two passes: each element records its last writer, then only that one writes).
void index_put(void* out, int64_t out_numel, const void* values, const int64_t* values_strides, size_t elem_size,
               const GatherPlan& plan);
// The first row-major position of `index` (int64 or int32, any strides) whose value lies outside
// [allow_negative ? -size : 0, size), or -1 when all are in range; synchronises. value_out gets the value.
int64_t first_bad_index(const TensorRef& index, int64_t size, bool allow_negative, int64_t* value_out);

// --- attention (attention.hip): runtime/cpu/attention.cpp's contract, bit for bit ---
// q (B, Hq, L, E), k (B, Hk, S, E), v (B, Hk, S, Ev): 4-d views of f32/bf16/f16 (any strides; Hq a multiple
// of Hk); mask: null, or a bool or float view broadcast to (B, Hq, L, S) (0 strides); a bool mask adds 0 / -inf,
// or 0 / 1 with bool_mask_adds (the math variant adds any mask as it is). out (B, Hq, L, Ev);
// lse (B, Hq, L) float32 or null; weights (B, Hq, L, S) or null. Requires E + S <= kAttentionMaxSharedFloats.
void attention(const TensorRef& out, const TensorRef* lse, const TensorRef* weights, const TensorRef& q, const TensorRef& k,
               const TensorRef& v, const TensorRef* mask, bool causal, float scale, bool bool_mask_adds = false);

// --- convolution (conv.hip): runtime/cpu/conv.cpp's order, bit for bit ---
// out (N, O, OH, OW) = x (N, C, H, W) * w (O, C / groups, KH, KW) + bias (O): 4-d views of f32/bf16/f16 (any
// strides; a 1-d convolution is H = KH = 1); each output summed over (channel, kernel row, kernel column) in
// that order from 0 in float32 (padding reads 0), then the bias added, rounded once to out's dtype.
void convolution(const TensorRef& out, const TensorRef& x, const TensorRef& w, const TensorRef* bias, const ConvSpec& spec);

// --- scans (scan.hip): runtime/cpu/scan.cpp's accumulate types and order, bit for bit ---
// out = cumsum (or cumprod) of in along dim; in already in out's dtype, both contiguous; out float32 accumulates
// in double, float16/bfloat16 in float, integers in wrapping int64.
void scan(const TensorRef& out, const TensorRef& in, int dim, bool prod);

// --- sorting (sort.hip): runtime/cpu/sort.cpp's stable order, bit for bit ---
// The first k of each row of x (contiguous; rows along dim) in stable ascending (or descending) key order, NaN
// above everything, -0 == +0: values (x's dtype) and indices (int64), contiguous with dim's size k.
void sort_rows(void* values, int64_t* indices, const TensorRef& x, int dim, int64_t k, bool descending);

// --- fused ops (contiguous row-major buffers, 16-byte aligned for the fast paths) ---
// See num::fused_rms_gated_fp8_group_quant. x, z: (M, D) bf16; w: (D) bf16; q: (M, D) fp8;
// scale: (M, D/G) float32. Requires D % G == 0.
void fused_rms_gated_fp8_group_quant(uint8_t* q, float* scale, const uint16_t* x, const uint16_t* w,
                                     const uint16_t* z, int64_t M, int64_t D, double eps, int64_t G,
                                     num::Fp8Format fmt, const FusedOptions& opts = {});
// See num::group_fp8_quant. y: (M, K) bf16; q: (M, K); scale: (M, K/G).
void group_fp8_quant(uint8_t* q, float* scale, const uint16_t* y, int64_t M, int64_t K, int64_t G,
                     num::Fp8Format fmt, const FusedOptions& opts = {});
// The vLLM RMSNorm (+ residual) -> FP8 quant family, see num::rms_norm_quant_ref (same arguments): x, res
// (nullable) (M, D) bf16; w (D) bf16 (nullable: no norm, y = x); y (M, D) bf16 when a.scheme is None;
// res_out (M, D) bf16 with res; q (M, D) fp8 and scale (M, D/G) or (M) float32 by a.scheme. Every pointer is
// device memory, a.static_scale and a.scale_ub included. (runtime/hip/rms_norm_quant.hip)
void rms_norm_quant(const uint16_t* x, const uint16_t* res, const uint16_t* w, int64_t M, int64_t D, double eps,
                    const num::QuantArgs& a, uint16_t* y, uint16_t* res_out, uint8_t* q, float* scale,
                    const FusedOptions& opts = {});

#else  // no GPU backend in this build

[[noreturn]] inline void no_gpu() {
  throw std::runtime_error("GPU backend not built (configure with -DFXOPT_GPU=nvidia or amd)");
}
inline bool device_available() { return false; }
inline std::string device_name() { return "none (built without a GPU backend)"; }
inline int multiprocessor_count() { return 0; }
inline void* alloc(size_t) { no_gpu(); }
inline void free(void*) {}
inline AllocStats alloc_stats() { return {}; }
inline void release_cached_memory() {}
inline void copy_to_device(void*, const void*, size_t) { no_gpu(); }
inline void copy_to_host(void*, const void*, size_t) { no_gpu(); }
inline void copy_device(void*, const void*, size_t) { no_gpu(); }
inline void fill_bytes(void*, int, size_t) { no_gpu(); }
inline void synchronize() {}
inline void set_stream(void*) {}
inline void* current_stream() { return nullptr; }
inline float time_ms(const std::function<void()>&, int) { no_gpu(); }
inline uint64_t kernel_launches() { return 0; }
inline void timing_enable(bool) {}
inline bool timing_enabled() { return false; }
inline int timing_begin() { return -1; }
inline void timing_end(int, std::string, uint64_t, bool) {}
inline std::vector<TimedInterval> timing_collect() { return {}; }
inline void unary(const TensorRef&, const TensorRef&, num::UnaryOp, double = 0.0, double = 0.0) { no_gpu(); }
inline void binary(const TensorRef&, const Operand&, const Operand&, num::BinaryOp) { no_gpu(); }
inline void where(const TensorRef&, const TensorRef&, const Operand&, const Operand&) { no_gpu(); }
inline void reduce_last_dim(const TensorRef&, const TensorRef*, const TensorRef&, ReduceOp) { no_gpu(); }
inline void matmul(const TensorRef&, const TensorRef&, const TensorRef&, const TensorRef* = nullptr,
                   float = 1.0f, float = 1.0f) { no_gpu(); }
inline void gather(void*, const void*, size_t, const GatherPlan&) { no_gpu(); }
inline int64_t first_bad_index(const TensorRef&, int64_t, bool, int64_t*) { no_gpu(); }
inline void index_put(void*, int64_t, const void*, const int64_t*, size_t, const GatherPlan&) { no_gpu(); }
inline void attention(const TensorRef&, const TensorRef*, const TensorRef*, const TensorRef&, const TensorRef&,
                      const TensorRef&, const TensorRef*, bool, float, bool = false) { no_gpu(); }
inline void convolution(const TensorRef&, const TensorRef&, const TensorRef&, const TensorRef*, const ConvSpec&) { no_gpu(); }
inline void scan(const TensorRef&, const TensorRef&, int, bool) { no_gpu(); }
inline void sort_rows(void*, int64_t*, const TensorRef&, int, int64_t, bool) { no_gpu(); }
inline void fused_rms_gated_fp8_group_quant(uint8_t*, float*, const uint16_t*, const uint16_t*,
                                            const uint16_t*, int64_t, int64_t, double, int64_t,
                                            num::Fp8Format, const FusedOptions& = {}) { no_gpu(); }
inline void group_fp8_quant(uint8_t*, float*, const uint16_t*, int64_t, int64_t, int64_t, num::Fp8Format,
                            const FusedOptions& = {}) { no_gpu(); }
inline void rms_norm_quant(const uint16_t*, const uint16_t*, const uint16_t*, int64_t, int64_t, double,
                           const num::QuantArgs&, uint16_t*, uint16_t*, uint8_t*, float*, const FusedOptions& = {}) {
  no_gpu();
}

#endif

}  // namespace fxopt::gpu
