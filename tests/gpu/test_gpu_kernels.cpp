// Every GPU kernel against runtime/numerics.h's reference (or a plain host loop built from its
// per-element functions) over many shapes: fused outputs must be bit-identical.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <algorithm>
#include <random>
#include <string>
#include <vector>

#include "runtime/hip/gpu_api.h"
#include "runtime/numerics.h"
#include "tests/gpu/exhaustive.h"

namespace gpu = fxopt::gpu;
namespace num = fxopt::num;
using num::Fp8Format;

namespace {

// Device memory owned for one test; poisoned on creation so unwritten outputs show.
class Buf {
 public:
  explicit Buf(size_t bytes) : bytes_(bytes), p_(gpu::alloc(bytes)) { gpu::fill_bytes(p_, 0xCD, bytes); }
  template <class T>
  explicit Buf(const std::vector<T>& host) : Buf(host.size() * sizeof(T)) {
    gpu::copy_to_device(p_, host.data(), bytes_);
  }
  ~Buf() { gpu::free(p_); }
  Buf(const Buf&) = delete;
  Buf& operator=(const Buf&) = delete;
  template <class T>
  T* as() const { return static_cast<T*>(p_); }
  void* get() const { return p_; }
  template <class T>
  std::vector<T> download() const {
    std::vector<T> h(bytes_ / sizeof(T));
    gpu::copy_to_host(h.data(), p_, bytes_);
    return h;
  }

 private:
  size_t bytes_;
  void* p_;
};

std::vector<uint16_t> random_bf16(size_t n, std::mt19937& rng, float lo, float hi) {
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<uint16_t> v(n);
  for (auto& e : v) e = num::f32_to_bf16(d(rng));
  return v;
}

// Rows of very different magnitudes, some all-zero rows, a few large and tiny values.
std::vector<uint16_t> rows_bf16(int64_t M, int64_t D, std::mt19937& rng) {
  std::vector<uint16_t> v(static_cast<size_t>(M * D));
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  std::uniform_int_distribution<int> ex(-20, 12);
  for (int64_t r = 0; r < M; ++r) {
    const float mag = std::ldexp(1.0f, ex(rng));
    const bool zero_row = r % 17 == 5;
    for (int64_t j = 0; j < D; ++j) v[r * D + j] = num::f32_to_bf16(zero_row ? 0.0f : u(rng) * mag);
  }
  return v;
}

bool fp8_is_nan(uint8_t c, Fp8Format f) {
  if (f == Fp8Format::e4m3fn) return (c & 0x7F) == 0x7F;
  if (f == Fp8Format::e4m3fnuz) return c == 0x80;
  return (c & 0x7F) > 0x7C;
}

// Bit equality of q codes and scales; with nan_aware, every NaN equals every NaN.
void check_equal(const std::vector<uint8_t>& q, const std::vector<uint8_t>& q_ref, const std::vector<float>& s,
                 const std::vector<float>& s_ref, Fp8Format fmt, const std::string& what, bool nan_aware = false) {
  REQUIRE(q.size() == q_ref.size());
  REQUIRE(s.size() == s_ref.size());
  size_t bad_q = 0, bad_s = 0, first_q = q.size(), first_s = s.size();
  for (size_t i = 0; i < q.size(); ++i) {
    const bool same = q[i] == q_ref[i] || (nan_aware && fp8_is_nan(q[i], fmt) && fp8_is_nan(q_ref[i], fmt));
    if (!same && bad_q++ == 0) first_q = i;
  }
  for (size_t i = 0; i < s.size(); ++i) {
    const bool same = num::f32_bits(s[i]) == num::f32_bits(s_ref[i]) ||
                      (nan_aware && std::isnan(s[i]) && std::isnan(s_ref[i]));
    if (!same && bad_s++ == 0) first_s = i;
  }
  INFO(what);
  if (bad_q) INFO("first q mismatch at " << first_q << ": gpu " << int(q[first_q]) << " ref " << int(q_ref[first_q]));
  if (bad_s) INFO("first scale mismatch at " << first_s << ": gpu " << s[first_s] << " ref " << s_ref[first_s]);
  CHECK(bad_q == 0);
  CHECK(bad_s == 0);
}

const char* fmt_name(Fp8Format f) { return f == Fp8Format::e4m3fn ? "e4m3fn" : "e4m3fnuz"; }

struct Variant {
  const char* name;
  gpu::FusedOptions opts;
};

std::vector<Variant> variants() {
  using S = gpu::FusedOptions::Silu;
  auto make = [](S silu, int lanes, bool fast, int stages = 1, int threads = 0) {
    gpu::FusedOptions o;
    o.silu = silu;
    o.lanes_per_row = lanes;
    o.fast_paths = fast;
    o.stages = stages;
    o.threads_per_block = threads;
    return o;
  };
  return {{"auto", make(S::automatic, 0, true, 0)},   {"direct/16", make(S::direct, 16, true)},
          {"direct/16/t64", make(S::direct, 16, true, 1, 64)},
          {"direct/4", make(S::direct, 4, true)},        {"direct/8/s4", make(S::direct, 8, true, 4)},
          {"table/4/s4", make(S::table, 4, true, 4)},    {"table/8/s2", make(S::table, 8, true, 2)},
          {"table/4", make(S::table, 4, true)},          {"table/4/s2", make(S::table, 4, true, 2)},
          {"table/8", make(S::table, 8, true)},
          {"table/16", make(S::table, 16, true)},        {"table/16/s4", make(S::table, 16, true, 4)},
          {"table/16/t64", make(S::table, 16, true, 1, 64)}, {"table/32/t128", make(S::table, 32, true, 1, 128)},
          {"table/16/s2", make(S::table, 16, true, 2)}, {"table/16/s2/t768", make(S::table, 16, true, 2, 768)},
          {"direct/16/t512", make(S::direct, 16, true, 1, 512)},
          {"exact", make(S::direct, 0, false)}};
}

// lanes_per_row only where the row length allows it (lanes * chunks per lane <= 32), blocks over
// 256 threads only with one chunk a lane.
bool variant_fits(const Variant& v, int64_t D) {
  const int64_t nchunks = D / 8;
  if (D % 8 != 0) return true;  // the fallback kernel
  const int L = nchunks > 32 ? 32 : v.opts.lanes_per_row;
  if (L == 0) return true;
  int64_t cpl = (nchunks + L - 1) / L;
  if (cpl == 3) cpl = 4;
  if (v.opts.threads_per_block > 256 && cpl > 1) return false;
  return nchunks > 32 || (L * cpl <= 32 && cpl <= (L == 4 ? 4 : (L == 8 ? 4 : 2)));
}

// Runs the fused op on (x, w, z) with every variant and both fp8 formats against the reference.
void check_fused_variants(const std::vector<uint16_t>& x, const std::vector<uint16_t>& w,
                          const std::vector<uint16_t>& z, int64_t M, int64_t D, int64_t G, const std::string& what,
                          bool nan_aware = false) {
  for (Fp8Format fmt : {Fp8Format::e4m3fn, Fp8Format::e4m3fnuz}) {
    std::vector<uint8_t> q_ref(M * D);
    std::vector<float> s_ref(M * D / G);
    num::fused_rms_gated_fp8_group_quant(x.data(), w.data(), z.data(), M, D, 1e-6, G, fmt, q_ref.data(), s_ref.data());
    Buf dx(x), dz(z), dw(w);
    for (const Variant& v : variants()) {
      Buf dq(M * D), ds(M * D / G * sizeof(float));
      gpu::fused_rms_gated_fp8_group_quant(dq.as<uint8_t>(), ds.as<float>(), dx.as<uint16_t>(), dw.as<uint16_t>(),
                                           dz.as<uint16_t>(), M, D, 1e-6, G, fmt, v.opts);
      check_equal(dq.download<uint8_t>(), q_ref, ds.download<float>(), s_ref, fmt,
                  what + " " + fmt_name(fmt) + " " + v.name, nan_aware);
    }
  }
}

}  // namespace

TEST_CASE("gpu: a device is present") {
  REQUIRE(gpu::device_available());
  MESSAGE("device: " << gpu::device_name());
}

TEST_CASE("gpu: the fast paths are exact (exhaustive)") {
  const std::string hw = std::string("hardware conversion paths compiled: ") +
                         (gpu::testing::hw_paths_compiled() ? "yes" : "no");
  MESSAGE(hw);
  CHECK(gpu::testing::bf16_hw_mismatches() == 0);
  CHECK(gpu::testing::fp8_hw_mismatches() == 0);
  for (Fp8Format f : {Fp8Format::e4m3fn, Fp8Format::e4m3fnuz}) {
    uint64_t pairs = 0;
    const uint64_t bad = gpu::testing::fast_divide_mismatches(f, &pairs);
    const std::string msg = "fast divide " + std::string(fmt_name(f)) + ": " + std::to_string(pairs) +
                            " (y, amax) pairs, " + std::to_string(bad) + " mismatches";
    MESSAGE(msg);
    CHECK(pairs > 1000000000ull);
    CHECK(bad == 0);
  }
}

TEST_CASE("gpu: the branch-free silu equals fx_silu for every bf16 z") {
  uint64_t slow = 0;
  const uint64_t bad = gpu::testing::silu_direct_mismatches(&slow);
  const std::string msg = "branch-free silu: " + std::to_string(bad) + " mismatches, " + std::to_string(slow) +
                          " of 65536 z through the fx_silu fallback";
  MESSAGE(msg);
  CHECK(bad == 0);
}

TEST_CASE("gpu: fx_silu and fx_expf give the host's bits") {
  std::vector<float> dev(65536);
  gpu::testing::silu_all_bf16(dev.data());
  size_t bad = 0;
  for (uint32_t b = 0; b < 65536; ++b) {
    const float h = num::fx_silu(num::bf16_to_f32(static_cast<uint16_t>(b)));
    if (!(num::f32_bits(h) == num::f32_bits(dev[b]) || (std::isnan(h) && std::isnan(dev[b])))) ++bad;
  }
  CHECK(bad == 0);
  std::vector<float> in;
  for (uint64_t u = 0; u < (1ull << 32); u += 251) in.push_back(num::f32_from_bits(static_cast<uint32_t>(u)));
  std::vector<float> out(in.size());
  gpu::testing::expf_on_device(in.data(), out.data(), static_cast<int64_t>(in.size()));
  bad = 0;
  for (size_t i = 0; i < in.size(); ++i) {
    const float h = num::fx_expf(in[i]);
    if (!(num::f32_bits(h) == num::f32_bits(out[i]) || (std::isnan(h) && std::isnan(out[i])))) ++bad;
  }
  CHECK(bad == 0);
}

TEST_CASE("gpu: fused gated RMSNorm + fp8 group quant is bit-identical to the reference") {
  std::mt19937 rng(2024);
  struct Shape { int64_t D, G; };
  const Shape shapes[] = {{128, 128}, {256, 128}, {64, 64},  {128, 64},  {96, 32},  {512, 128},
                          {1024, 128}, {1024, 512}, {200, 40}, {136, 8}, {128, 16}, {16, 16}};
  for (int64_t M : {1, 3, 64, 4096}) {
    for (const Shape& sh : shapes) {
      if (M == 4096 && sh.D > 512) continue;
      for (Fp8Format fmt : {Fp8Format::e4m3fn, Fp8Format::e4m3fnuz}) {
        const int64_t D = sh.D, G = sh.G, n = M * D, ns = M * (D / G);
        const auto x = rows_bf16(M, D, rng);
        const auto z = random_bf16(static_cast<size_t>(n), rng, -12.0f, 12.0f);
        const auto w = random_bf16(static_cast<size_t>(D), rng, 0.25f, 2.0f);
        std::vector<uint8_t> q_ref(static_cast<size_t>(n));
        std::vector<float> s_ref(static_cast<size_t>(ns));
        num::fused_rms_gated_fp8_group_quant(x.data(), w.data(), z.data(), M, D, 1e-6, G, fmt, q_ref.data(), s_ref.data());
        Buf dx(x), dz(z), dw(w);
        for (const Variant& v : variants()) {
          if (!variant_fits(v, D)) continue;
          Buf dq(static_cast<size_t>(n)), ds(static_cast<size_t>(ns) * sizeof(float));
          gpu::fused_rms_gated_fp8_group_quant(dq.as<uint8_t>(), ds.as<float>(), dx.as<uint16_t>(), dw.as<uint16_t>(),
                                               dz.as<uint16_t>(), M, D, 1e-6, G, fmt, v.opts);
          check_equal(dq.download<uint8_t>(), q_ref, ds.download<float>(), s_ref, fmt,
                      "M=" + std::to_string(M) + " D=" + std::to_string(D) + " G=" + std::to_string(G) + " " +
                          fmt_name(fmt) + " " + v.name);
        }
      }
    }
  }
}

TEST_CASE("gpu: fused op at the benchmark size (N=8192, H=32, D=128) is bit-identical") {
  std::mt19937 rng(99);
  const int64_t M = 8192 * 32, D = 128, G = 128;
  std::normal_distribution<float> nd(0.0f, 1.0f);
  std::vector<uint16_t> x(M * D), z(M * D);
  for (auto& e : x) e = num::f32_to_bf16(nd(rng));
  for (auto& e : z) e = num::f32_to_bf16(2.0f * nd(rng));
  const auto w = random_bf16(D, rng, 0.5f, 1.5f);
  check_fused_variants(x, w, z, M, D, G, "bench size");
}

TEST_CASE("gpu: fused op with inf, NaN and huge inputs agrees (NaN codes compared as NaN)") {
  const int64_t M = 8, D = 128, G = 64;
  std::mt19937 rng(5);
  auto x = random_bf16(M * D, rng, -2.0f, 2.0f);
  auto z = random_bf16(M * D, rng, -3.0f, 3.0f);
  const auto w = random_bf16(D, rng, 0.5f, 1.5f);
  x[0 * D + 3] = 0x7F80;   // +inf in x: rstd 0, y NaN
  x[1 * D + 70] = 0x7FC0;  // NaN in x
  z[2 * D + 5] = 0xFF80;   // -inf in z: silu NaN
  z[3 * D + 9] = 0x7F80;   // +inf in z: silu inf
  x[4 * D + 1] = num::f32_to_bf16(3e38f);  // sum of squares overflows
  z[5 * D + 100] = num::f32_to_bf16(-100.0f);
  z[6 * D + 64] = num::f32_to_bf16(1e-30f);  // outside the silu table
  check_fused_variants(x, w, z, M, D, G, "specials", true);
}

TEST_CASE("gpu: fused op over every bf16 z (all silu paths, table edges, specials)") {
  // 512 rows of 128: z takes each of the 65536 bf16 patterns once, so every
  // table entry, both range edges and the fallback of each silu path are exercised.
  const int64_t M = 512, D = 128, G = 128;
  std::mt19937 rng(77);
  std::vector<uint16_t> z(M * D);
  for (uint32_t i = 0; i < 65536; ++i) z[i] = static_cast<uint16_t>(i);
  // Finite z first (shuffled), inf/NaN z in the last rows: a NaN makes its whole row NaN.
  const auto finite_end = std::stable_partition(z.begin(), z.end(), [](uint16_t b) { return (b & 0x7FFF) < 0x7F80; });
  std::shuffle(z.begin(), finite_end, rng);
  const auto x = random_bf16(M * D, rng, -3.0f, 3.0f);
  const auto w = random_bf16(D, rng, 0.5f, 1.5f);
  check_fused_variants(x, w, z, M, D, G, "all z", true);
}

TEST_CASE("gpu: group fp8 quant is bit-identical to the reference") {
  std::mt19937 rng(77);
  struct Shape { int64_t M, K, G; };
  for (Shape sh : {Shape{1, 128, 128}, Shape{3, 4096, 128}, Shape{64, 7168, 128}, Shape{4096, 4096, 128},
                   Shape{5, 96, 32}, Shape{7, 120, 40}, Shape{9, 512, 256}, Shape{2, 2048, 1024}}) {
    for (Fp8Format fmt : {Fp8Format::e4m3fn, Fp8Format::e4m3fnuz}) {
      const auto y = rows_bf16(sh.M, sh.K, rng);
      std::vector<uint8_t> q_ref(sh.M * sh.K);
      std::vector<float> s_ref(sh.M * sh.K / sh.G);
      num::group_fp8_quant(y.data(), sh.M, sh.K, sh.G, fmt, q_ref.data(), s_ref.data());
      Buf dy(y);
      for (bool fast : {true, false}) {
        gpu::FusedOptions o;
        o.fast_paths = fast;
        Buf dq(q_ref.size()), ds(s_ref.size() * sizeof(float));
        gpu::group_fp8_quant(dq.as<uint8_t>(), ds.as<float>(), dy.as<uint16_t>(), sh.M, sh.K, sh.G, fmt, o);
        check_equal(dq.download<uint8_t>(), q_ref, ds.download<float>(), s_ref, fmt,
                    "group quant M=" + std::to_string(sh.M) + " K=" + std::to_string(sh.K) + " G=" +
                        std::to_string(sh.G) + " " + fmt_name(fmt) + (fast ? " fast" : " exact"));
      }
    }
  }
}

// What vllm.rocm_aiter_rmsnorm_fused_dynamic_quant runs on the GPU: the family kernel, per-token scheme.
TEST_CASE("gpu: RMSNorm + per-token fp8 quant is bit-identical to the reference") {
  std::mt19937 rng(31);
  struct Shape { int64_t M, D; };
  for (Shape sh : {Shape{1, 128}, Shape{3, 4096}, Shape{64, 1024}, Shape{4096, 256}, Shape{5, 200}, Shape{17, 512}}) {
    for (Fp8Format fmt : {Fp8Format::e4m3fn, Fp8Format::e4m3fnuz}) {
      const auto x = rows_bf16(sh.M, sh.D, rng);
      const auto w = random_bf16(sh.D, rng, 0.5f, 1.5f);
      std::vector<uint8_t> q_ref(sh.M * sh.D);
      std::vector<float> s_ref(sh.M);
      num::QuantArgs qa;
      qa.scheme = num::QuantScheme::PerToken;
      qa.fmt = fmt;
      num::rms_norm_quant_ref(x.data(), nullptr, w.data(), sh.M, sh.D, 1e-5, qa, nullptr, nullptr, q_ref.data(),
                              s_ref.data());
      Buf dx(x), dw(w);
      for (bool fast : {true, false}) {
        gpu::FusedOptions o;
        o.fast_paths = fast;
        Buf dq(q_ref.size()), ds(s_ref.size() * sizeof(float));
        gpu::rms_norm_quant(dx.as<uint16_t>(), nullptr, dw.as<uint16_t>(), sh.M, sh.D, 1e-5, qa, nullptr, nullptr,
                            dq.as<uint8_t>(), ds.as<float>(), o);
        check_equal(dq.download<uint8_t>(), q_ref, ds.download<float>(), s_ref, fmt,
                    "rmsnorm quant M=" + std::to_string(sh.M) + " D=" + std::to_string(sh.D) + " " + fmt_name(fmt));
      }
    }
  }
}

namespace {

// Host value of element `off` of a host copy, as the kernels read it.
float host_load(const std::vector<uint8_t>& raw, gpu::DType t, int64_t off) {
  const uint8_t* p = raw.data();
  switch (t) {
    case gpu::DType::f32: { float f; std::memcpy(&f, p + off * 4, 4); return f; }
    case gpu::DType::bf16: { uint16_t b; std::memcpy(&b, p + off * 2, 2); return num::bf16_to_f32(b); }
    case gpu::DType::f16: { uint16_t b; std::memcpy(&b, p + off * 2, 2); return num::f16_to_f32(b); }
    case gpu::DType::f8e4m3fn: return num::fp8e4m3fn_to_f32(p[off]);
    case gpu::DType::f8e4m3fnuz: return num::fp8e4m3fnuz_to_f32(p[off]);
    case gpu::DType::f8e5m2: return num::fp8e5m2_to_f32(p[off]);
    default: return 0.0f;
  }
}

// Host encoding of a float into dtype t (float dtypes), as raw bytes.
std::vector<uint8_t> host_encode(float v, gpu::DType t) {
  std::vector<uint8_t> out(gpu::dtype_size(t));
  switch (t) {
    case gpu::DType::f32: std::memcpy(out.data(), &v, 4); break;
    case gpu::DType::bf16: { uint16_t b = num::f32_to_bf16(v); std::memcpy(out.data(), &b, 2); break; }
    case gpu::DType::f16: { uint16_t b = num::f32_to_f16(v); std::memcpy(out.data(), &b, 2); break; }
    case gpu::DType::f8e4m3fn: out[0] = num::f32_to_fp8e4m3fn(v); break;
    case gpu::DType::f8e4m3fnuz: out[0] = num::f32_to_fp8e4m3fnuz(v); break;
    case gpu::DType::f8e5m2: out[0] = num::f32_to_fp8e5m2(v); break;
    default: break;
  }
  return out;
}

bool same_float_bytes(const uint8_t* a, const uint8_t* b, gpu::DType t) {
  const size_t n = gpu::dtype_size(t);
  if (std::memcmp(a, b, n) == 0) return true;
  // NaN payloads are outside the contract: compare as NaN.
  auto as_float = [&](const uint8_t* p) {
    std::vector<uint8_t> v(p, p + n);
    return host_load(v, t, 0);
  };
  return std::isnan(as_float(a)) && std::isnan(as_float(b));
}

}  // namespace

TEST_CASE("gpu: unary ops and conversions over every bf16 input") {
  std::vector<uint16_t> in(65536);
  for (uint32_t i = 0; i < 65536; ++i) in[i] = static_cast<uint16_t>(i);
  Buf din(in);
  const gpu::TensorRef tin = gpu::TensorRef::contiguous(din.get(), gpu::DType::bf16, {256, 256});
  using U = num::UnaryOp;
  for (U op : {U::copy, U::neg, U::abs, U::exp, U::rsqrt, U::sqrt, U::reciprocal, U::relu, U::sigmoid, U::silu,
               U::square, U::clamp}) {
    for (gpu::DType ot : {gpu::DType::f32, gpu::DType::bf16, gpu::DType::f16, gpu::DType::f8e4m3fn,
                          gpu::DType::f8e4m3fnuz, gpu::DType::f8e5m2}) {
      const size_t es = gpu::dtype_size(ot);
      Buf dout(65536 * es);
      gpu::unary(gpu::TensorRef::contiguous(dout.get(), ot, {256, 256}), tin, op, -3.5, 7.25);
      const auto got = dout.download<uint8_t>();
      size_t bad = 0;
      for (uint32_t i = 0; i < 65536; ++i) {
        const auto want = host_encode(num::apply_unary(op, num::bf16_to_f32(in[i]), -3.5f, 7.25f), ot);
        if (!same_float_bytes(got.data() + i * es, want.data(), ot)) ++bad;
      }
      INFO("unary op " << int(op) << " out dtype " << int(ot));
      CHECK(bad == 0);
    }
  }
  // Every fp8 code to float32 and back.
  for (gpu::DType ft : {gpu::DType::f8e4m3fn, gpu::DType::f8e4m3fnuz, gpu::DType::f8e5m2}) {
    std::vector<uint8_t> codes(256);
    for (int i = 0; i < 256; ++i) codes[i] = static_cast<uint8_t>(i);
    Buf dc(codes), df(256 * 4), dback(256);
    gpu::unary(gpu::TensorRef::contiguous(df.get(), gpu::DType::f32, {256}),
               gpu::TensorRef::contiguous(dc.get(), ft, {256}), U::copy);
    gpu::unary(gpu::TensorRef::contiguous(dback.get(), ft, {256}),
               gpu::TensorRef::contiguous(df.get(), gpu::DType::f32, {256}), U::copy);
    const auto f = df.download<float>();
    const auto back = dback.download<uint8_t>();
    for (int i = 0; i < 256; ++i) {
      const float want = host_load(codes, ft, i);
      CHECK((num::f32_bits(f[i]) == num::f32_bits(want) || (std::isnan(f[i]) && std::isnan(want))));
      CHECK(back[i] == host_encode(want, ft)[0]);
    }
  }
}

TEST_CASE("gpu: binary ops with broadcasting, strides, scalars, comparisons, ints, where") {
  std::mt19937 rng(11);
  std::uniform_real_distribution<float> u(-4.0f, 4.0f);
  // a: (4, 1, 5) float32 viewed transposed from a (5, 1, 4) buffer; b: (3, 1) bf16.
  std::vector<float> abuf(20);
  for (auto& e : abuf) e = u(rng);
  abuf[3] = 0.0f;
  std::vector<uint16_t> bbuf(3);
  for (auto& e : bbuf) e = num::f32_to_bf16(u(rng));
  bbuf[1] = 0;
  Buf da(abuf), db(bbuf);
  gpu::TensorRef ta;
  ta.data = da.get();
  ta.dtype = gpu::DType::f32;
  ta.ndim = 3;
  ta.shape[0] = 4; ta.shape[1] = 1; ta.shape[2] = 5;
  ta.strides[0] = 1; ta.strides[1] = 4; ta.strides[2] = 4;  // element (i,0,k) at k*4 + i
  const gpu::TensorRef tb = gpu::TensorRef::contiguous(db.get(), gpu::DType::bf16, {3, 1});
  using B = num::BinaryOp;
  for (B op : {B::add, B::sub, B::mul, B::div, B::maximum, B::minimum, B::eq, B::ne, B::lt, B::le, B::gt, B::ge}) {
    const bool cmp = num::is_comparison(op);
    const gpu::DType ot = cmp ? gpu::DType::b8 : gpu::DType::f32;
    Buf dout(60 * gpu::dtype_size(ot));
    gpu::binary(gpu::TensorRef::contiguous(dout.get(), ot, {4, 3, 5}), gpu::Operand::of(ta), gpu::Operand::of(tb), op);
    const auto got = dout.download<uint8_t>();
    for (int i = 0; i < 4; ++i)
      for (int j = 0; j < 3; ++j)
        for (int k = 0; k < 5; ++k) {
          const float r = num::apply_binary(op, abuf[k * 4 + i], num::bf16_to_f32(bbuf[j]));
          const int o = (i * 3 + j) * 5 + k;
          if (cmp) {
            CHECK(got[o] == (r != 0.0f ? 1 : 0));
          } else {
            float g;
            std::memcpy(&g, got.data() + o * 4, 4);
            CHECK((num::f32_bits(g) == num::f32_bits(r) || (std::isnan(g) && std::isnan(r))));
          }
        }
  }
  // Scalar operand on the left (rsub-like): 1.0 - a, out bf16.
  {
    Buf dout(20 * 2);
    gpu::binary(gpu::TensorRef::contiguous(dout.get(), gpu::DType::bf16, {4, 1, 5}), gpu::Operand::of_scalar(1.0),
                gpu::Operand::of(ta), B::sub);
    const auto got = dout.download<uint16_t>();
    for (int i = 0; i < 4; ++i)
      for (int k = 0; k < 5; ++k) CHECK(got[i * 5 + k] == num::f32_to_bf16(1.0f - abuf[k * 4 + i]));
  }
  // int64 arithmetic stays exact beyond 2^24.
  {
    std::vector<int64_t> ia = {(int64_t{1} << 40) + 3, -7, 5}, ib = {1, 2, -3};
    Buf dia(ia), dib(ib), dout(3 * 8);
    gpu::binary(gpu::TensorRef::contiguous(dout.get(), gpu::DType::i64, {3}),
                gpu::Operand::of(gpu::TensorRef::contiguous(dia.get(), gpu::DType::i64, {3})),
                gpu::Operand::of(gpu::TensorRef::contiguous(dib.get(), gpu::DType::i64, {3})), B::mul);
    const auto got = dout.download<int64_t>();
    CHECK(got[0] == ((int64_t{1} << 40) + 3));
    CHECK(got[1] == -14);
    CHECK(got[2] == -15);
  }
  // where(cond, a, scalar)
  {
    std::vector<uint8_t> cond = {1, 0, 1, 0, 1};
    Buf dc(cond), dout(20 * 4);
    gpu::where(gpu::TensorRef::contiguous(dout.get(), gpu::DType::f32, {4, 1, 5}),
               gpu::TensorRef::contiguous(dc.get(), gpu::DType::b8, {5}), gpu::Operand::of(ta),
               gpu::Operand::of_scalar(-2.5));
    const auto got = dout.download<float>();
    for (int i = 0; i < 4; ++i)
      for (int k = 0; k < 5; ++k) CHECK(got[i * 5 + k] == (cond[k] ? abuf[k * 4 + i] : -2.5f));
  }
}

TEST_CASE("gpu: last-dim reductions follow the canonical order bit for bit") {
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> u(-1000.0f, 1000.0f);
  for (int64_t n : {1, 7, 8, 9, 128, 1000, 4097}) {
    const int64_t rows = 6;
    std::vector<float> v(rows * n);
    for (auto& e : v) e = u(rng);
    if (n > 5) {
      v[2] = NAN;                              // row 0 has a NaN
      v[n + 4] = 5000.0f; v[n + n - 1] = 5000.0f;  // row 1: tie, first index wins
    }
    Buf dv(v);
    const gpu::TensorRef tin = gpu::TensorRef::contiguous(dv.get(), gpu::DType::f32, {2, 3, n});
    for (gpu::ReduceOp op : {gpu::ReduceOp::sum, gpu::ReduceOp::mean, gpu::ReduceOp::amax, gpu::ReduceOp::max,
                             gpu::ReduceOp::amin, gpu::ReduceOp::min}) {
      Buf dout(rows * 4), didx(rows * 8);
      const gpu::TensorRef tout = gpu::TensorRef::contiguous(dout.get(), gpu::DType::f32, {2, 3, 1});
      const gpu::TensorRef tidx = gpu::TensorRef::contiguous(didx.get(), gpu::DType::i64, {2, 3, 1});
      gpu::reduce_last_dim(tout, &tidx, tin, op);
      const auto got = dout.download<float>();
      const auto gidx = didx.download<int64_t>();
      for (int64_t r = 0; r < rows; ++r) {
        const float* row = v.data() + r * n;
        float want = 0.0f;
        int64_t want_i = -1;
        if (op == gpu::ReduceOp::sum || op == gpu::ReduceOp::mean) {
          want = num::row_sum_f32(row, n);
          if (op == gpu::ReduceOp::mean) want = want / static_cast<float>(n);
        } else {
          const bool mx = op == gpu::ReduceOp::amax || op == gpu::ReduceOp::max;
          want = row[0];
          want_i = 0;
          for (int64_t j = 1; j < n; ++j) {
            if (std::isnan(want)) break;
            if (std::isnan(row[j]) || (mx ? row[j] > want : row[j] < want)) { want = row[j]; want_i = j; }
          }
        }
        INFO("n=" << n << " row " << r << " op " << int(op));
        CHECK((num::f32_bits(got[r]) == num::f32_bits(want) || (std::isnan(got[r]) && std::isnan(want))));
        if (op == gpu::ReduceOp::max || op == gpu::ReduceOp::min) CHECK(gidx[r] == want_i);
      }
    }
  }
  // bf16 input through a transposed view: sums of columns of a (n, 5) matrix.
  const int64_t n = 300;
  std::vector<uint16_t> m(n * 5);
  for (auto& e : m) e = num::f32_to_bf16(u(rng));
  Buf dm(m), dout(5 * 2);
  gpu::TensorRef t;
  t.data = dm.get(); t.dtype = gpu::DType::bf16; t.ndim = 2;
  t.shape[0] = 5; t.shape[1] = n; t.strides[0] = 1; t.strides[1] = 5;
  gpu::reduce_last_dim(gpu::TensorRef::contiguous(dout.get(), gpu::DType::bf16, {5}), nullptr, t, gpu::ReduceOp::sum);
  const auto got = dout.download<uint16_t>();
  for (int c = 0; c < 5; ++c) {
    const float s = num::row_sum_f32_by(n, [&](int64_t j) { return num::bf16_to_f32(m[j * 5 + c]); });
    CHECK(got[c] == num::f32_to_bf16(s));
  }
  // int64 sum is exact.
  std::vector<int64_t> iv = {int64_t{1} << 50, 1, -2, 3};
  Buf di(iv), dio(8);
  gpu::reduce_last_dim(gpu::TensorRef::contiguous(dio.get(), gpu::DType::i64, {}), nullptr,
                       gpu::TensorRef::contiguous(di.get(), gpu::DType::i64, {4}), gpu::ReduceOp::sum);
  CHECK(dio.download<int64_t>()[0] == (int64_t{1} << 50) + 2);
}

TEST_CASE("gpu: mm and addmm accumulate in the documented order") {
  std::mt19937 rng(8);
  std::uniform_real_distribution<float> u(-2.0f, 2.0f);
  struct Shape { int64_t M, K, N; };
  for (Shape sh : {Shape{1, 1, 1}, Shape{3, 17, 5}, Shape{64, 128, 96}, Shape{130, 70, 33}}) {
    for (gpu::DType dt : {gpu::DType::f32, gpu::DType::bf16}) {
      const size_t es = gpu::dtype_size(dt);
      std::vector<uint8_t> a(sh.M * sh.K * es), bt(sh.N * sh.K * es), bias(sh.N * es);
      auto fill = [&](std::vector<uint8_t>& raw) {
        for (size_t i = 0; i < raw.size() / es; ++i) {
          const auto e = host_encode(u(rng), dt);
          std::memcpy(raw.data() + i * es, e.data(), es);
        }
      };
      fill(a); fill(bt); fill(bias);
      Buf da(a), db(bt), dbias(bias), dout(sh.M * sh.N * es);
      const gpu::TensorRef ta = gpu::TensorRef::contiguous(da.get(), dt, {sh.M, sh.K});
      gpu::TensorRef tb;  // (K, N) as the transpose of the (N, K) buffer
      tb.data = db.get(); tb.dtype = dt; tb.ndim = 2;
      tb.shape[0] = sh.K; tb.shape[1] = sh.N; tb.strides[0] = 1; tb.strides[1] = sh.K;
      const gpu::TensorRef tbias = gpu::TensorRef::contiguous(dbias.get(), dt, {sh.N});
      for (bool with_bias : {false, true}) {
        const float alpha = with_bias ? 0.5f : 1.0f, beta = with_bias ? 2.0f : 1.0f;
        gpu::matmul(gpu::TensorRef::contiguous(dout.get(), dt, {sh.M, sh.N}), ta, tb, with_bias ? &tbias : nullptr,
                    alpha, beta);
        const auto got = dout.download<uint8_t>();
        size_t bad = 0;
        for (int64_t i = 0; i < sh.M; ++i)
          for (int64_t j = 0; j < sh.N; ++j) {
            float acc = 0.0f;
            for (int64_t k = 0; k < sh.K; ++k) acc = acc + host_load(a, dt, i * sh.K + k) * host_load(bt, dt, j * sh.K + k);
            const float v = num::matmul_epilogue(acc, with_bias, host_load(bias, dt, j), alpha, beta);
            const auto want = host_encode(v, dt);
            if (std::memcmp(got.data() + (i * sh.N + j) * es, want.data(), es) != 0) ++bad;
          }
        INFO("mm M=" << sh.M << " K=" << sh.K << " N=" << sh.N << " dtype " << int(dt) << " bias " << with_bias);
        CHECK(bad == 0);
      }
    }
  }
}

TEST_CASE("gpu: the caching allocator reuses freed blocks without hipMalloc") {
  void* warm = gpu::alloc(3 << 20);  // one block of the 3 MiB class (and one of 1000 B below)
  void* small = gpu::alloc(1000);
  gpu::free(warm);
  gpu::free(small);
  const gpu::AllocStats s0 = gpu::alloc_stats();
  CHECK(s0.bytes_cached >= (3u << 20) + 1024);
  for (int i = 0; i < 10; ++i) {
    void* a = gpu::alloc((3 << 20) - 5000);  // same 1 MiB class as 3 MiB
    void* b = gpu::alloc(700);               // same 512 B class as 1000 B
    CHECK(a == warm);
    CHECK(b == small);
    gpu::fill_bytes(a, i, 4096);
    gpu::free(a);
    gpu::free(b);
  }
  const gpu::AllocStats s1 = gpu::alloc_stats();
  CHECK(s1.device_allocs == s0.device_allocs);
  CHECK(s1.cache_hits == s0.cache_hits + 20);
  // Two live blocks of one class are distinct; the contents written through one survive reuse of the other.
  void* a = gpu::alloc(4096);
  void* b = gpu::alloc(4096);
  CHECK(a != b);
  std::vector<uint8_t> ones(4096, 1), got(4096);
  gpu::copy_to_device(a, ones.data(), 4096);
  gpu::free(b);
  void* c = gpu::alloc(4096);
  gpu::fill_bytes(c, 7, 4096);
  gpu::copy_to_host(got.data(), a, 4096);
  CHECK(got == ones);
  gpu::free(a);
  gpu::free(c);
  gpu::release_cached_memory();
  const gpu::AllocStats s2 = gpu::alloc_stats();
  CHECK(s2.bytes_cached == 0);
  CHECK(s2.device_frees > s1.device_frees);
}

TEST_CASE("gpu: --timing intervals sum each launch's own events, not the host work between them") {
  const int64_t n = int64_t{1} << 24;  // 64 MB of f32 in, 64 MB out per pass
  Buf in(static_cast<size_t>(n) * 4), out(static_cast<size_t>(n) * 4);
  const auto ti = gpu::TensorRef::contiguous(in.get(), gpu::DType::f32, {n});
  const auto to = gpu::TensorRef::contiguous(out.get(), gpu::DType::f32, {n});
  gpu::unary(to, ti, num::UnaryOp::neg);  // warm-up
  const float alone_ms = gpu::time_ms([&] { gpu::unary(to, ti, num::UnaryOp::neg); }, 5);
  gpu::synchronize();
  gpu::timing_enable(true);
  const uint64_t l0 = gpu::kernel_launches();
  const int t1 = gpu::timing_begin();
  gpu::unary(to, ti, num::UnaryOp::neg);
  gpu::synchronize();  // host waits in the middle of the interval: not device work, not counted
  gpu::unary(to, ti, num::UnaryOp::neg);
  gpu::timing_end(t1, "two", gpu::kernel_launches() - l0, true);
  gpu::unary(to, ti, num::UnaryOp::neg);  // outside every interval
  const int t2 = gpu::timing_begin();
  gpu::timing_end(t2, "none", 0, false);
  const std::vector<gpu::TimedInterval> iv = gpu::timing_collect();
  gpu::timing_enable(false);
  CHECK(gpu::kernel_launches() - l0 == 3);
  REQUIRE(iv.size() == 2);
  CHECK(iv[0].label == "two");
  CHECK(iv[0].launches == 2);
  CHECK(iv[1].label == "(outside nodes)");
  CHECK(iv[1].launches == 1);
  MESSAGE("one 64 MB neg pass: " << alone_ms * 1e3 << " us back to back; timed interval of 2: " << iv[0].ms * 1e3
          << " us; outside: " << iv[1].ms * 1e3 << " us");
  CHECK(iv[0].ms > 1.5 * alone_ms * 0.8);
  CHECK(iv[0].ms < 2.0 * alone_ms * 1.5 + 0.02);
  CHECK(gpu::timing_collect().empty());
}

namespace {

// One configuration of the vLLM RMSNorm + FP8 family (num::rms_norm_quant_ref) on the GPU and the host.
struct FamilyCase {
  const char* name;
  num::QuantScheme scheme;
  bool divide;
  int64_t group;
  bool scale_ub;
};

// Runs gpu::rms_norm_quant and num::rms_norm_quant_ref on the same rows and compares every output bit for bit
// (NaNs as NaN).
void check_family(const FamilyCase& fc, const std::vector<uint16_t>& x, const std::vector<uint16_t>* res,
                  const std::vector<uint16_t>* w, int64_t M, int64_t D, Fp8Format fmt, bool fast, bool nan_aware) {
  num::QuantArgs qa;
  qa.scheme = fc.scheme;
  qa.fmt = fmt;
  qa.divide = fc.divide;
  qa.group = fc.group;
  const float static_scale = 0.0173f, ub = 0.09f;
  if (fc.scheme == num::QuantScheme::Static) qa.static_scale = &static_scale;
  if (fc.scale_ub) qa.scale_ub = &ub;
  const bool quant = fc.scheme != num::QuantScheme::None;
  const int64_t spr = num::quant_scales_per_row(qa, D);
  std::vector<uint16_t> y_ref(quant ? 0 : M * D), r_ref(res && w ? M * D : 0);
  std::vector<uint8_t> q_ref(quant ? M * D : 0);
  std::vector<float> s_ref(M * spr);
  num::rms_norm_quant_ref(x.data(), res ? res->data() : nullptr, w ? w->data() : nullptr, M, D, 1e-6, qa,
                          quant ? nullptr : y_ref.data(), r_ref.empty() ? nullptr : r_ref.data(),
                          quant ? q_ref.data() : nullptr, spr ? s_ref.data() : nullptr);
  Buf dx(x), dres(res ? *res : std::vector<uint16_t>(1)), dw(w ? *w : std::vector<uint16_t>(8));
  Buf dstat(std::vector<float>{static_scale}), dub(std::vector<float>{ub});
  Buf dy(std::max<size_t>(y_ref.size(), 1) * 2), dr(std::max<size_t>(r_ref.size(), 1) * 2), dq(std::max<size_t>(q_ref.size(), 1)),
      ds(std::max<size_t>(s_ref.size(), 1) * 4);
  num::QuantArgs dqa = qa;
  if (qa.static_scale) dqa.static_scale = dstat.as<float>();
  if (qa.scale_ub) dqa.scale_ub = dub.as<float>();
  gpu::FusedOptions o;
  o.fast_paths = fast;
  gpu::rms_norm_quant(dx.as<uint16_t>(), res ? dres.as<uint16_t>() : nullptr, w ? dw.as<uint16_t>() : nullptr, M, D, 1e-6,
                      dqa, quant ? nullptr : dy.as<uint16_t>(), r_ref.empty() ? nullptr : dr.as<uint16_t>(),
                      quant ? dq.as<uint8_t>() : nullptr, spr ? ds.as<float>() : nullptr, o);
  const std::string what = std::string(fc.name) + (res ? " +res" : "") + (w ? "" : " no-norm") + " M=" + std::to_string(M) +
                           " D=" + std::to_string(D) + " " + fmt_name(fmt) + (fast ? "" : " exact");
  auto bf16_diff = [&](const std::vector<uint16_t>& got, const std::vector<uint16_t>& want) {
    for (size_t i = 0; i < want.size(); ++i) {
      const uint16_t a = got[i], b = want[i];
      if (a == b || (nan_aware && (a & 0x7FFF) > 0x7F80 && (b & 0x7FFF) > 0x7F80)) continue;
      return "element " + std::to_string(i) + ": gpu " + std::to_string(a) + ", ref " + std::to_string(b);
    }
    return std::string();
  };
  INFO(what);
  if (!quant) {
    const std::string d = bf16_diff(dy.download<uint16_t>(), y_ref);
    CHECK_MESSAGE(d.empty(), "y " << d);
  } else {
    std::vector<float> s = ds.download<float>();
    s.resize(s_ref.size());
    check_equal(dq.download<uint8_t>(), q_ref, s, s_ref, fmt, what, nan_aware);
  }
  if (!r_ref.empty()) {
    const std::string d = bf16_diff(dr.download<uint16_t>(), r_ref);
    CHECK_MESSAGE(d.empty(), "residual_out " << d);
  }
}

const FamilyCase kFamilyCases[] = {
    {"rms_norm", num::QuantScheme::None, false, 0, false},
    {"static", num::QuantScheme::Static, false, 0, false},
    {"per-token (reciprocal)", num::QuantScheme::PerToken, false, 0, false},
    {"per-token (divide)", num::QuantScheme::PerToken, true, 0, false},
    {"per-token (divide, scale_ub)", num::QuantScheme::PerToken, true, 0, true},
    {"group 64", num::QuantScheme::Group, true, 64, false},
    {"group 128", num::QuantScheme::Group, true, 128, false},
};

}  // namespace

TEST_CASE("gpu: the vLLM RMSNorm (+ residual) -> FP8 family is bit-identical to num::rms_norm_quant_ref") {
  std::mt19937 rng(17);
  struct Size { int64_t M, D; };
  // D = 4096 (CPL 16, re-read passes), 1024 and 128 (held in registers), 2304 (CPL 16 with idle lanes), 192
  // (groups of 64 only), 196 (fallback kernel); odd row counts.
  for (Size sz : {Size{1, 4096}, Size{7, 4096}, Size{1024, 4096}, Size{7, 1024}, Size{1024, 128}, Size{1, 128},
                  Size{7, 2304}, Size{7, 192}, Size{7, 196}}) {
    const auto x = rows_bf16(sz.M, sz.D, rng);
    const auto res = rows_bf16(sz.M, sz.D, rng);
    const auto w = random_bf16(sz.D, rng, -1.5f, 1.5f);
    for (const FamilyCase& fc : kFamilyCases) {
      if (fc.scheme == num::QuantScheme::Group && sz.D % fc.group != 0) continue;
      for (Fp8Format fmt : {Fp8Format::e4m3fn, Fp8Format::e4m3fnuz})
        for (bool fast : {true, false}) {
          if (!fast && sz.M > 7) continue;
          check_family(fc, x, nullptr, &w, sz.M, sz.D, fmt, fast, false);
          check_family(fc, x, &res, &w, sz.M, sz.D, fmt, fast, false);
          if (fc.scheme != num::QuantScheme::None && sz.M <= 7) check_family(fc, x, nullptr, nullptr, sz.M, sz.D, fmt, fast, false);
        }
    }
  }
}

TEST_CASE("gpu: the RMSNorm + FP8 family with inf, NaN and huge inputs agrees (NaNs compared as NaN)") {
  std::mt19937 rng(5);
  const int64_t M = 7, D = 4096;
  auto x = rows_bf16(M, D, rng);
  const auto res = rows_bf16(M, D, rng);
  const auto w = random_bf16(D, rng, -1.5f, 1.5f);
  x[1 * D + 3] = num::f32_to_bf16(INFINITY);
  x[2 * D + 100] = num::f32_to_bf16(NAN);
  x[3 * D + 4095] = num::f32_to_bf16(-3.0e38f);
  x[4 * D + 7] = num::f32_to_bf16(3.0e38f);
  for (const FamilyCase& fc : kFamilyCases)
    for (Fp8Format fmt : {Fp8Format::e4m3fn, Fp8Format::e4m3fnuz})
      for (bool fast : {true, false}) {
        check_family(fc, x, nullptr, &w, M, D, fmt, fast, true);
        check_family(fc, x, &res, &w, M, D, fmt, fast, true);
      }
}
