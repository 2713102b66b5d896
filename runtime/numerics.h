// Bit-exact numerics shared by the CPU reference kernels and every GPU kernel: dtype conversions,
// exp/rsqrt, the canonical float32 row-sum order, and the reference semantics of the fused ops.
//
// Contract: every function here gives bit-identical results on the host (g++/clang, x86-64 SSE) and
// on the device (nvcc with -fmad=false, hipcc with -ffp-contract=off). To keep that true:
//  * only IEEE +,-,*,/ and sqrt are used (correctly rounded on both sides), never fma, never a
//    library transcendental; compilers must not contract a*b+c into fma (the GPU CMake blocks pass
//    -fmad=false / -ffp-contract=off; host C++ in ISO mode (-std=c++20) does not contract, and
//    x86-64 without -mfma cannot);
//  * conversions are the integer algorithms of PyTorch's c10 (Half.h, BFloat16.h, Float8_*.h), so
//    they also agree with PyTorch on the CPU;
//  * NaN payloads are not part of the contract: every NaN converts to the format's canonical NaN.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#if defined(__CUDACC__) || defined(__HIPCC__)
#define FXOPT_HD __host__ __device__
#else
#define FXOPT_HD
#endif

#if defined(__clang__)
// clang (and hipcc) may contract a*b+c into an fma by default; the header's results depend on it not.
#pragma clang fp contract(off)
#endif

namespace fxopt::num {

// ---------------------------------------------------------------------------------------------
// Bit casts
// ---------------------------------------------------------------------------------------------

FXOPT_HD inline uint32_t f32_bits(float f) {
  uint32_t u;
  __builtin_memcpy(&u, &f, sizeof u);
  return u;
}

FXOPT_HD inline float f32_from_bits(uint32_t u) {
  float f;
  __builtin_memcpy(&f, &u, sizeof f);
  return f;
}

// Count of leading zero bits of a 32-bit word; 32 for zero.
FXOPT_HD inline uint32_t clz32(uint32_t v) {
#if defined(__CUDA_ARCH__)
  return static_cast<uint32_t>(__clz(static_cast<int>(v)));
#else
  return v != 0 ? static_cast<uint32_t>(__builtin_clz(v)) : 32u;
#endif
}

FXOPT_HD inline bool is_nan(float f) { return (f32_bits(f) & 0x7FFFFFFFu) > 0x7F800000u; }

// ---------------------------------------------------------------------------------------------
// bfloat16 and float16 (bit patterns in uint16_t)
// ---------------------------------------------------------------------------------------------

FXOPT_HD inline float bf16_to_f32(uint16_t b) { return f32_from_bits(static_cast<uint32_t>(b) << 16); }

// c10::detail::round_to_nearest_even: RNE; every NaN becomes 0x7FC0; overflow rounds to inf.
FXOPT_HD inline uint16_t f32_to_bf16(float f) {
  if (is_nan(f)) return 0x7FC0;
  const uint32_t u = f32_bits(f);
  const uint32_t rounding_bias = ((u >> 16) & 1u) + 0x7FFFu;
  return static_cast<uint16_t>((u + rounding_bias) >> 16);
}

// Exact half -> float, integer-only (c10's fp16_ieee_to_fp32_value gives the same values).
FXOPT_HD inline float f16_to_f32(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t exp = (h >> 10) & 0x1Fu;
  uint32_t mant = h & 0x3FFu;
  if (exp == 0x1F) return f32_from_bits(sign | 0x7F800000u | (mant != 0 ? (0x400000u | (mant << 13)) : 0u));
  if (exp != 0) return f32_from_bits(sign | ((exp + 112u) << 23) | (mant << 13));
  if (mant == 0) return f32_from_bits(sign);
  // Subnormal half: normalise the mantissa.
  const uint32_t shift = clz32(mant) - 21u;  // bring the leading 1 to bit 10
  mant = (mant << shift) & 0x3FFu;
  return f32_from_bits(sign | ((113u - shift) << 23) | (mant << 13));
}

// c10::detail::fp16_ieee_from_fp32_value: RNE, overflow to inf, NaN -> 0x7E00 (with the sign).
FXOPT_HD inline uint16_t f32_to_f16(float f) {
  const float scale_to_inf = f32_from_bits(0x77800000u);   // 2^112
  const float scale_to_zero = f32_from_bits(0x08800000u);  // 2^-110
  const uint32_t w = f32_bits(f);
  const uint32_t shl1_w = w + w;
  const uint32_t sign = w & 0x80000000u;
  if (shl1_w > 0xFF000000u) return static_cast<uint16_t>((sign >> 16) | 0x7E00u);
  float base = (f32_from_bits(w & 0x7FFFFFFFu) * scale_to_inf) * scale_to_zero;
  uint32_t bias = shl1_w & 0xFF000000u;
  if (bias < 0x71000000u) bias = 0x71000000u;
  base = f32_from_bits((bias >> 1) + 0x07800000u) + base;
  const uint32_t bits = f32_bits(base);
  const uint32_t exp_bits = (bits >> 13) & 0x00007C00u;
  const uint32_t mantissa_bits = bits & 0x00000FFFu;
  return static_cast<uint16_t>((sign >> 16) | (exp_bits + mantissa_bits));
}

// ---------------------------------------------------------------------------------------------
// float8 (bit patterns in uint8_t)
// ---------------------------------------------------------------------------------------------

enum class Fp8Format : uint8_t {
  e4m3fn,    // bias 7, no inf, NaN = S.1111.111, max 448 (NVIDIA, MI350/MI355)
  e4m3fnuz,  // bias 8, no inf, no -0, NaN = 0x80, max 240 (MI300)
  e5m2,      // bias 15, IEEE-like with inf, max 57344
};

// c10::detail::fp8e4m3fn_to_fp32_value (integer-only).
FXOPT_HD inline float fp8e4m3fn_to_f32(uint8_t input) {
  const uint32_t w = static_cast<uint32_t>(input) << 24;
  const uint32_t sign = w & 0x80000000u;
  const uint32_t nonsign = w & 0x7FFFFFFFu;
  uint32_t renorm_shift = clz32(nonsign);
  renorm_shift = renorm_shift > 4 ? renorm_shift - 4 : 0;
  const int32_t inf_nan_mask = (static_cast<int32_t>(nonsign + 0x01000000u) >> 8) & INT32_C(0x7F800000);
  const int32_t zero_mask = static_cast<int32_t>(nonsign - 1) >> 31;
  const uint32_t result =
      sign | ((((nonsign << renorm_shift >> 4) + ((0x78u - renorm_shift) << 23)) |
               static_cast<uint32_t>(inf_nan_mask)) &
              ~static_cast<uint32_t>(zero_mask));
  return f32_from_bits(result);
}

// c10::detail::fp8e4m3fn_from_fp32_value: RNE; NOT saturating: |f| >= 464 (and inf, NaN) -> NaN
// 0x7F with the sign bit of f (0xFF for negatives).
FXOPT_HD inline uint8_t f32_to_fp8e4m3fn(float f) {
  constexpr uint32_t fp8_max = UINT32_C(1087) << 20;  // 480.0f
  constexpr uint32_t denorm_mask = UINT32_C(141) << 23;
  uint32_t f_bits = f32_bits(f);
  uint8_t result = 0u;
  const uint32_t sign = f_bits & 0x80000000u;
  f_bits ^= sign;
  if (f_bits >= fp8_max) {
    result = 0x7F;
  } else if (f_bits < (UINT32_C(121) << 23)) {
    f_bits = f32_bits(f32_from_bits(f_bits) + f32_from_bits(denorm_mask));
    result = static_cast<uint8_t>(f_bits - denorm_mask);
  } else {
    const uint8_t mant_odd = (f_bits >> 20) & 1;
    f_bits += (static_cast<uint32_t>(7 - 127) << 23) + 0x7FFFFu;
    f_bits += mant_odd;
    result = static_cast<uint8_t>(f_bits >> 20);
  }
  result |= static_cast<uint8_t>(sign >> 24);
  return result;
}

// Float8_e4m3fnuz -> float: the e4m3fn value with bias 8 (so half of it), 0x80 is NaN, 0x7F/0xFF are
// the finite +-240 (c10's lookup table).
FXOPT_HD inline float fp8e4m3fnuz_to_f32(uint8_t input) {
  if (input == 0x80) return f32_from_bits(0x7FC00000u);
  const uint32_t sign = static_cast<uint32_t>(input & 0x80u) << 24;
  const uint32_t exp = (input >> 3) & 0xFu;
  uint32_t mant = input & 0x7u;
  if (exp != 0) return f32_from_bits(sign | ((exp + 119u) << 23) | (mant << 20));
  if (mant == 0) return f32_from_bits(sign);
  const uint32_t shift = clz32(mant) - 28u;  // bring the leading 1 to bit 3
  mant = (mant << shift) & 0x7u;
  return f32_from_bits(sign | ((120u - shift) << 23) | (mant << 20));
}

// c10::detail::fp8e4m3fnuz_from_fp32_value: RNE; |f| >= 256 (and inf, NaN) -> NaN 0x80; no -0.
FXOPT_HD inline uint8_t f32_to_fp8e4m3fnuz(float f) {
  constexpr uint32_t fnuz_max = UINT32_C(0x87) << 23;  // 256.0f
  constexpr uint32_t denorm_mask = UINT32_C(0x8C) << 23;
  uint32_t f_bits = f32_bits(f);
  uint32_t result = 0u;
  const uint32_t sign = f_bits & 0x80000000u;
  f_bits ^= sign;
  if (f_bits >= fnuz_max) return 0x80;
  if (f_bits < (UINT32_C(0x78) << 23)) {
    f_bits = f32_bits(f32_from_bits(f_bits) + f32_from_bits(denorm_mask));
    result = static_cast<uint8_t>(f_bits - denorm_mask);
    if (result == 0) return 0;
  } else {
    const uint8_t mant_odd = (f_bits >> 20) & 1;
    f_bits += (static_cast<uint32_t>(8 - 127) << 23) + 0x7FFFFu;
    f_bits += mant_odd;
    result = static_cast<uint8_t>(f_bits >> 20);
  }
  result |= sign >> 24;
  return static_cast<uint8_t>(result);
}

// c10::detail::fp8e5m2_to_fp32_value: the top byte of a half.
FXOPT_HD inline float fp8e5m2_to_f32(uint8_t input) {
  return f16_to_f32(static_cast<uint16_t>(static_cast<uint16_t>(input) << 8));
}

// c10::detail::fp8e5m2_from_fp32_value: RNE; overflow -> inf (0x7C), NaN -> 0x7F (with the sign).
FXOPT_HD inline uint8_t f32_to_fp8e5m2(float f) {
  constexpr uint32_t fp32_inf = UINT32_C(255) << 23;
  constexpr uint32_t fp8_max = UINT32_C(143) << 23;  // 65536.0f
  constexpr uint32_t denorm_mask = UINT32_C(134) << 23;
  uint32_t f_bits = f32_bits(f);
  uint8_t result = 0u;
  const uint32_t sign = f_bits & 0x80000000u;
  f_bits ^= sign;
  if (f_bits >= fp8_max) {
    result = f_bits > fp32_inf ? UINT8_C(0x7F) : UINT8_C(0x7C);
  } else if (f_bits < (UINT32_C(113) << 23)) {
    f_bits = f32_bits(f32_from_bits(f_bits) + f32_from_bits(denorm_mask));
    result = static_cast<uint8_t>(f_bits - denorm_mask);
  } else {
    const uint32_t mant_odd = (f_bits >> 21) & 1;
    f_bits += (static_cast<uint32_t>(15 - 127) << 23) + 0xFFFFFu;
    f_bits += mant_odd;
    result = static_cast<uint8_t>(f_bits >> 21);
  }
  result |= static_cast<uint8_t>(sign >> 24);
  return result;
}

FXOPT_HD inline float fp8_to_f32(uint8_t v, Fp8Format fmt) {
  switch (fmt) {
    case Fp8Format::e4m3fn: return fp8e4m3fn_to_f32(v);
    case Fp8Format::e4m3fnuz: return fp8e4m3fnuz_to_f32(v);
    default: return fp8e5m2_to_f32(v);
  }
}

FXOPT_HD inline uint8_t f32_to_fp8(float f, Fp8Format fmt) {
  switch (fmt) {
    case Fp8Format::e4m3fn: return f32_to_fp8e4m3fn(f);
    case Fp8Format::e4m3fnuz: return f32_to_fp8e4m3fnuz(f);
    default: return f32_to_fp8e5m2(f);
  }
}

// FMAX of the quantisation ops (vLLM's choice): 448 for e4m3fn, 224 (not the format's 240) for
// e4m3fnuz, 57344 for e5m2.
FXOPT_HD inline float quant_fmax(Fp8Format fmt) {
  switch (fmt) {
    case Fp8Format::e4m3fn: return 448.0f;
    case Fp8Format::e4m3fnuz: return 224.0f;
    default: return 57344.0f;
  }
}

// The scale floor 1/(FMAX*512): a double constant in the graph, converted to float32 by clamp_min.
FXOPT_HD inline float quant_scale_floor(Fp8Format fmt) {
  switch (fmt) {
    case Fp8Format::e4m3fn: return static_cast<float>(1.0 / (448.0 * 512.0));
    case Fp8Format::e4m3fnuz: return static_cast<float>(1.0 / (224.0 * 512.0));
    default: return static_cast<float>(1.0 / (57344.0 * 512.0));
  }
}

// ---------------------------------------------------------------------------------------------
// exp and rsqrt
// ---------------------------------------------------------------------------------------------

// e^x using only +,-,*,/ and bit manipulation, so host and device agree bit for bit. Cody-Waite
// reduction x = k*ln2 + r (|r| <= ~ln2/2, k*ln2_hi exact), degree-7 Taylor polynomial for e^r,
// scaling by 2^k as two exact-or-once-rounded multiplications by 2^(k>>1) and 2^(k-(k>>1)), so
// subnormal results are rounded once. Max error ~1 ulp (tests/test_numerics.cpp measures it);
// overflow -> inf, underflow -> subnormals then +0, exp(-inf) = 0, exp(inf) = inf, NaN -> NaN.
//
// fx_expf_core is the branch-free body for x already clamped to [-104, 89] (NaN excluded); GPU
// kernels use it directly (fminf/fmaxf clamps) and must give fx_expf's bits.
FXOPT_HD inline float fx_expf_core(float x) {
  const float kLog2e = 1.44269502f;                      // 0x3FB8AA3B
  const float kMagic = 12582912.0f;                      // 1.5 * 2^23: adding it rounds to an integer
  const float kLn2Hi = f32_from_bits(0x3F317200u);       // 0.693145751953125, 15 significant bits
  const float kLn2Lo = f32_from_bits(0x35BFBE8Eu);       // ln2 - kLn2Hi
  const float t = x * kLog2e + kMagic;
  const float kf = t - kMagic;
  const int k = static_cast<int>(f32_bits(t)) - static_cast<int>(f32_bits(kMagic));  // [-150, 129]
  const float r = (x - kf * kLn2Hi) - kf * kLn2Lo;
  float p = 1.0f / 5040.0f;
  p = p * r + 1.0f / 720.0f;
  p = p * r + 1.0f / 120.0f;
  p = p * r + 1.0f / 24.0f;
  p = p * r + 1.0f / 6.0f;
  p = p * r + 0.5f;
  const float y = 1.0f + (r + (r * r) * p);
  const int k1 = k >> 1, k2 = k - k1;  // both in [-75, 65]: 2^k1, 2^k2 are normal floats
  return (y * f32_from_bits(static_cast<uint32_t>(k1 + 127) << 23)) * f32_from_bits(static_cast<uint32_t>(k2 + 127) << 23);
}

FXOPT_HD inline float fx_expf(float x) {
  if (is_nan(x)) return x;
  x = x > 89.0f ? 89.0f : x;     // exp(89) overflows to inf through the scaling
  x = x < -104.0f ? -104.0f : x;  // exp(-104) < 2^-150 rounds to +0
  return fx_expf_core(x);
}

// ln(x) using only +,-,*,/ and bit manipulation (fdlibm's logf: x = 2^k * m, m in [sqrt(2)/2, sqrt(2)),
// log(m) = f - (hfsq - s * (hfsq + R(s^2))) with f = m - 1, s = f / (2 + f), hfsq = f^2 / 2), so host and
// device agree bit for bit. Max error ~1 ulp (tests/test_numerics.cpp measures it); log(+-0) = -inf,
// log(inf) = inf, log(x < 0) and log(NaN) = NaN.
FXOPT_HD inline float fx_logf(float x) {
  if (is_nan(x)) return x;
  if (x < 0.0f) return f32_from_bits(0x7FC00000u);
  if (x == 0.0f) return f32_from_bits(0xFF800000u);
  if (f32_bits(x) == 0x7F800000u) return x;
  int k = 0;
  if (x < f32_from_bits(0x00800000u)) {  // subnormal: scale by 2^25 into the normal range
    x = x * 33554432.0f;
    k = -25;
  }
  const uint32_t b = f32_bits(x);
  k += static_cast<int>(b >> 23) - 127;
  float m = f32_from_bits((b & 0x007FFFFFu) | 0x3F800000u);  // [1, 2)
  if (m > 1.41421354f) {
    m = m * 0.5f;
    ++k;
  }
  const float f = m - 1.0f;
  const float s = f / (2.0f + f);
  const float z = s * s, w = z * z;
  const float t1 = w * (f32_from_bits(0x3ECCCCCDu) + w * (f32_from_bits(0x3E638E29u) + w * f32_from_bits(0x3E1CD04Fu)));
  const float t2 = z * (f32_from_bits(0x3F2AAAABu) +
                        w * (f32_from_bits(0x3E924925u) + w * (f32_from_bits(0x3E3A3325u) + w * f32_from_bits(0x3E178897u))));
  const float r = t2 + t1;
  const float hfsq = 0.5f * f * f;
  const float dk = static_cast<float>(k);
  const float kLn2Hi = f32_from_bits(0x3F317180u), kLn2Lo = f32_from_bits(0x3717F7D1u);
  return dk * kLn2Hi - ((hfsq - (s * (hfsq + r) + dk * kLn2Lo)) - f);
}

// 1/sqrt(x) as two correctly rounded IEEE operations (what torch.rsqrt computes on the CPU).
FXOPT_HD inline float fx_rsqrtf(float x) { return 1.0f / sqrtf(x); }

// silu as Inductor decomposes it: z / (exp(-z) + 1).
FXOPT_HD inline float fx_silu(float z) { return z / (fx_expf(-z) + 1.0f); }

// max that propagates NaN (torch.max / amax semantics). Order-independent (up to NaN payload):
// max(-0, +0) is +0 whichever comes first.
FXOPT_HD inline float nan_max(float a, float b) {
  if (a == b) return f32_from_bits(f32_bits(a) & f32_bits(b));
  return (a > b || is_nan(a)) ? a : b;
}

// min that propagates NaN; min(-0, +0) is -0 whichever comes first.
FXOPT_HD inline float nan_min(float a, float b) {
  if (a == b) return f32_from_bits(f32_bits(a) | f32_bits(b));
  return (a < b || is_nan(a)) ? a : b;
}

// clamp that propagates NaN (torch.clamp semantics).
FXOPT_HD inline float nan_clamp(float v, float lo, float hi) { return v < lo ? lo : (v > hi ? hi : v); }

// ---------------------------------------------------------------------------------------------
// Elementwise op semantics (float32 compute), shared by the CPU executor and the GPU elementwise
// kernels. Floating inputs are upcast to float32, the op is applied, the result is rounded to the
// output dtype (bf16/fp16/fp8 by the converters above). Integer-only ops compute in int64.
// ---------------------------------------------------------------------------------------------

enum class UnaryOp : uint8_t {
  copy,        // v (a dtype conversion when the output dtype differs)
  neg,         // -v
  abs,         // |v| (sign bit cleared)
  exp,         // fx_expf(v)
  rsqrt,       // 1 / sqrtf(v)
  sqrt,        // sqrtf(v)
  reciprocal,  // 1 / v
  relu,        // v < 0 ? 0 : v (PyTorch's clamp_min(v, 0): NaN stays NaN, -0 stays -0)
  sigmoid,     // 1 / (fx_expf(-v) + 1)
  silu,        // v / (fx_expf(-v) + 1)
  square,      // v * v (pow(v, 2))
  clamp,       // nan_clamp(v, lo, hi); clamp_min/clamp_max pass -inf/+inf for the open side
};

enum class BinaryOp : uint8_t {
  add, sub, mul, div,  // a+b, a-b, a*b, a/b (IEEE float32; div is true division)
  maximum, minimum,    // NaN-propagating
  eq, ne, lt, le, gt, ge,  // comparisons: 1 or 0 (bool output)
};

FXOPT_HD inline bool is_comparison(BinaryOp op) { return op >= BinaryOp::eq; }

FXOPT_HD inline float apply_unary(UnaryOp op, float v, float lo = 0.0f, float hi = 0.0f) {
  switch (op) {
    case UnaryOp::copy: return v;
    case UnaryOp::neg: return -v;
    case UnaryOp::abs: return f32_from_bits(f32_bits(v) & 0x7FFFFFFFu);
    case UnaryOp::exp: return fx_expf(v);
    case UnaryOp::rsqrt: return fx_rsqrtf(v);
    case UnaryOp::sqrt: return sqrtf(v);
    case UnaryOp::reciprocal: return 1.0f / v;
    case UnaryOp::relu: return v < 0.0f ? 0.0f : v;
    case UnaryOp::sigmoid: return 1.0f / (fx_expf(-v) + 1.0f);
    case UnaryOp::silu: return fx_silu(v);
    case UnaryOp::square: return v * v;
    case UnaryOp::clamp: return nan_clamp(v, lo, hi);
  }
  return v;
}

FXOPT_HD inline float apply_binary(BinaryOp op, float a, float b) {
  switch (op) {
    case BinaryOp::add: return a + b;
    case BinaryOp::sub: return a - b;
    case BinaryOp::mul: return a * b;
    case BinaryOp::div: return a / b;
    case BinaryOp::maximum: return nan_max(a, b);
    case BinaryOp::minimum: return nan_min(a, b);
    case BinaryOp::eq: return a == b ? 1.0f : 0.0f;
    case BinaryOp::ne: return a != b ? 1.0f : 0.0f;
    case BinaryOp::lt: return a < b ? 1.0f : 0.0f;
    case BinaryOp::le: return a <= b ? 1.0f : 0.0f;
    case BinaryOp::gt: return a > b ? 1.0f : 0.0f;
    case BinaryOp::ge: return a >= b ? 1.0f : 0.0f;
  }
  return a;
}

// Integer versions (int64 compute, wrap-around arithmetic): ops without an integer meaning (exp,
// div, ...) are computed in float32 by the callers instead.
FXOPT_HD inline bool has_int_unary(UnaryOp op) {
  return op == UnaryOp::copy || op == UnaryOp::neg || op == UnaryOp::abs || op == UnaryOp::relu ||
         op == UnaryOp::square || op == UnaryOp::clamp;
}

FXOPT_HD inline int64_t apply_unary_i64(UnaryOp op, int64_t v, int64_t lo = 0, int64_t hi = 0) {
  const uint64_t u = static_cast<uint64_t>(v);
  switch (op) {
    case UnaryOp::neg: return static_cast<int64_t>(0 - u);
    case UnaryOp::abs: return v < 0 ? static_cast<int64_t>(0 - u) : v;
    case UnaryOp::relu: return v > 0 ? v : 0;
    case UnaryOp::square: return static_cast<int64_t>(u * u);
    case UnaryOp::clamp: return v < lo ? lo : (v > hi ? hi : v);
    default: return v;
  }
}

FXOPT_HD inline bool has_int_binary(BinaryOp op) { return op != BinaryOp::div; }

FXOPT_HD inline int64_t apply_binary_i64(BinaryOp op, int64_t a, int64_t b) {
  const uint64_t ua = static_cast<uint64_t>(a), ub = static_cast<uint64_t>(b);
  switch (op) {
    case BinaryOp::add: return static_cast<int64_t>(ua + ub);
    case BinaryOp::sub: return static_cast<int64_t>(ua - ub);
    case BinaryOp::mul: return static_cast<int64_t>(ua * ub);
    case BinaryOp::maximum: return a > b ? a : b;
    case BinaryOp::minimum: return a < b ? a : b;
    case BinaryOp::eq: return a == b;
    case BinaryOp::ne: return a != b;
    case BinaryOp::lt: return a < b;
    case BinaryOp::le: return a <= b;
    case BinaryOp::gt: return a > b;
    case BinaryOp::ge: return a >= b;
    default: return a;
  }
}

// ---------------------------------------------------------------------------------------------
// The canonical float32 row-sum order
// ---------------------------------------------------------------------------------------------
//
// Every float32 sum over a row (the mean of x^2 of the norms, sum/mean reductions) uses this order,
// in the CPU reference and in every GPU kernel, so their results are bit-identical:
//   * 32 partial sums p[0..31], all starting at +0.0f;
//   * element j belongs to chunk c = j / 8 (8 consecutive elements: one 16-byte bf16 load), and
//     chunk c to partial c % 32; each partial adds its elements in increasing j (p = p + v[j]);
//   * then an xor butterfly: for off = 16, 8, 4, 2, 1, simultaneously for all t:
//     p[t] = p[t] + p[t ^ off];
//   * the result is p[0].
// On a GPU this is a warp per row: lane t owns chunks t, t+32, t+64, ...; each lane sums its chunks
// in order, then `v += __shfl_xor(v, off)` for off = 16..1. A group of L < 32 lanes per row (rows
// of at most L chunks) reproduces the order exactly by doing `v = v + 0.0f` for each off >= L,
// since partials L..31 are +0.
inline constexpr int kRowSumPartials = 32;
inline constexpr int kRowSumChunk = 8;

// The butterfly over 32 partials; p is overwritten.
FXOPT_HD inline float row_sum_butterfly(float* p) {
  for (int off = kRowSumPartials / 2; off >= 1; off /= 2) {
    float q[kRowSumPartials];
    for (int t = 0; t < kRowSumPartials; ++t) q[t] = p[t] + p[t ^ off];
    for (int t = 0; t < kRowSumPartials; ++t) p[t] = q[t];
  }
  return p[0];
}

// Sum of term(j) for j in [0, n) in the canonical order. term must return float.
template <class Term>
FXOPT_HD inline float row_sum_f32_by(int64_t n, Term term) {
  float p[kRowSumPartials];
  for (int t = 0; t < kRowSumPartials; ++t) p[t] = 0.0f;
  for (int64_t j = 0; j < n; ++j) {
    const int part = static_cast<int>((j / kRowSumChunk) % kRowSumPartials);
    p[part] = p[part] + term(j);
  }
  return row_sum_butterfly(p);
}

FXOPT_HD inline float row_sum_f32(const float* v, int64_t n) {
  return row_sum_f32_by(n, [v](int64_t j) { return v[j]; });
}

FXOPT_HD inline float row_sum_sq_f32(const float* v, int64_t n) {
  return row_sum_f32_by(n, [v](int64_t j) { return v[j] * v[j]; });
}

// Sum of float(x[j])^2 over a bf16 row, canonical order (the pow(x,2) -> mean of the norms).
FXOPT_HD inline float row_sum_sq_bf16(const uint16_t* x, int64_t n) {
  return row_sum_f32_by(n, [x](int64_t j) {
    const float f = bf16_to_f32(x[j]);
    return f * f;
  });
}

// ---------------------------------------------------------------------------------------------
// Per-element semantics of the fused ops (shared by the reference loops below and the GPU kernels)
// ---------------------------------------------------------------------------------------------

// rsqrt(mean + eps) from the canonical sum of squares: mean = ss / D (float32 division).
FXOPT_HD inline float rms_rstd(float sum_sq, int64_t d, float eps) {
  const float mean = sum_sq / static_cast<float>(d);
  return fx_rsqrtf(mean + eps);
}

// bf16( ((x*rstd)*w) * (z/(exp(-z)+1)) ), the operand order of the corpus graph
// (mul_35 = x*rstd, mul_38 = mul_35*w, div = z/(exp(-z)+1), mul_43 = mul_38*div).
FXOPT_HD inline uint16_t gated_rms_bf16(float xf, float rstd, float wf, float zf) {
  const float norm = (xf * rstd) * wf;
  return f32_to_bf16(norm * fx_silu(zf));
}

// bf16( (x*rstd)*w ), plain RMSNorm.
FXOPT_HD inline uint16_t rms_bf16(float xf, float rstd, float wf) { return f32_to_bf16((xf * rstd) * wf); }

// scale = clamp_min(float(amax) / FMAX, float(1/(FMAX*512))), NaN propagating.
FXOPT_HD inline float quant_scale(float amax, Fp8Format fmt) {
  const float s = amax / quant_fmax(fmt);
  const float lo = quant_scale_floor(fmt);
  return s < lo ? lo : s;
}

// q = fp8(clamp(y / scale, -FMAX, FMAX)), float32 division.
FXOPT_HD inline uint8_t quant_fp8(float y, float scale, Fp8Format fmt) {
  const float fmax = quant_fmax(fmt);
  return f32_to_fp8(nan_clamp(y / scale, -fmax, fmax), fmt);
}

// ---------------------------------------------------------------------------------------------
// Reference implementations of the fused ops (host; raw row-major contiguous buffers)
// ---------------------------------------------------------------------------------------------

// vLLM's rocm_aiter_group_fp8_quant: y (M, K) bf16 -> q (M, K) fp8, scale (M, K/G) float32.
// Requires K % G == 0.
inline void group_fp8_quant(const uint16_t* y, int64_t M, int64_t K, int64_t G, Fp8Format fmt,
                            uint8_t* q, float* scale) {
  const int64_t groups = K / G;
  for (int64_t r = 0; r < M; ++r) {
    for (int64_t g = 0; g < groups; ++g) {
      const uint16_t* yg = y + r * K + g * G;
      float amax = 0.0f;
      for (int64_t j = 0; j < G; ++j) amax = nan_max(amax, std::fabs(bf16_to_f32(yg[j])));
      const float s = quant_scale(amax, fmt);
      scale[r * groups + g] = s;
      for (int64_t j = 0; j < G; ++j) q[r * K + g * G + j] = quant_fp8(bf16_to_f32(yg[j]), s, fmt);
    }
  }
}

// vLLM's rocm_aiter_fused_rms_gated_fp8_group_quant (norm_before_gate, silu, no bias), fxopt
// numerics (y rounded to bf16 before the quantisation, canonical sum order):
//   x, z (M, D) bf16; w (D) bf16; eps converted to float32 -> q (M, D) fp8, scale (M, D/G) float32.
// Requires D % G == 0. With M = N*H rows this equals the decomposed graph's (N, H*D) group quant.
inline void fused_rms_gated_fp8_group_quant(const uint16_t* x, const uint16_t* w, const uint16_t* z,
                                            int64_t M, int64_t D, double eps, int64_t G,
                                            Fp8Format fmt, uint8_t* q, float* scale) {
  const float eps_f = static_cast<float>(eps);
  std::vector<uint16_t> y(static_cast<size_t>(D));
  for (int64_t r = 0; r < M; ++r) {
    const uint16_t* xr = x + r * D;
    const uint16_t* zr = z + r * D;
    const float rstd = rms_rstd(row_sum_sq_bf16(xr, D), D, eps_f);
    for (int64_t j = 0; j < D; ++j)
      y[j] = gated_rms_bf16(bf16_to_f32(xr[j]), rstd, bf16_to_f32(w[j]), bf16_to_f32(zr[j]));
    group_fp8_quant(y.data(), 1, D, G, fmt, q + r * D, scale + r * (D / G));
  }
}

// vLLM's rocm_aiter_rmsnorm_fused_dynamic_quant: per-token scale.
//   x (M, D) bf16, w (D) bf16 -> q (M, D) fp8, scale (M) float32.
inline void rmsnorm_dynamic_quant(const uint16_t* x, const uint16_t* w, int64_t M, int64_t D,
                                  double eps, Fp8Format fmt, uint8_t* q, float* scale) {
  const float eps_f = static_cast<float>(eps);
  std::vector<uint16_t> y(static_cast<size_t>(D));
  for (int64_t r = 0; r < M; ++r) {
    const uint16_t* xr = x + r * D;
    const float rstd = rms_rstd(row_sum_sq_bf16(xr, D), D, eps_f);
    for (int64_t j = 0; j < D; ++j) y[j] = rms_bf16(bf16_to_f32(xr[j]), rstd, bf16_to_f32(w[j]));
    group_fp8_quant(y.data(), 1, D, D, fmt, q + r * D, scale + r);
  }
}

// ---------------------------------------------------------------------------------------------
// The vLLM RMSNorm (+ residual) -> FP8 quant family (runtime/cpu/rms_norm_quant.cpp, the fused ops
// of patterns/rms_norm_quant.json, runtime/hip/rms_norm_quant.hip). vLLM's order (RMSNorm.forward_static):
//   s = float(x) [+ float(residual)];  residual_out = bf16(s)
//   rstd = rsqrt(mean(s^2) + eps);     y = bf16( float(bf16(s * rstd)) * float(w) )
// i.e. the normed value is rounded to the model dtype BEFORE the weight multiply (a bf16 x bf16 op);
// PyTorch's F.rms_norm multiplies in float32 and rounds once (rms_bf16 above): another function.
// ---------------------------------------------------------------------------------------------

FXOPT_HD inline uint16_t vllm_rms_bf16(float s, float rstd, uint16_t w) {
  return f32_to_bf16(bf16_to_f32(f32_to_bf16(s * rstd)) * bf16_to_f32(w));
}

// q = fp8(clamp(y * inv, -FMAX, FMAX)): vLLM's native per-tensor / per-token quant and its static
// kernels multiply by the reciprocal of the scale (inv = 1.0f / scale, float32).
FXOPT_HD inline uint8_t quant_fp8_recip(float y, float inv, Fp8Format fmt) {
  const float fmax = quant_fmax(fmt);
  return f32_to_fp8(nan_clamp(y * inv, -fmax, fmax), fmt);
}

enum class QuantScheme : uint8_t { None, Static, PerToken, Group };

// How one row is quantised. `divide`: q = y / s (group quant, the _C per-token kernels) instead of
// q = y * (1/s) (vLLM's native per-tensor/per-token chains). `group_eps` > 0 selects the opaque
// _C.per_token_group_fp8_quant scale: s = max(amax, group_eps) / qmax, clamped to [qmin, qmax], with
// no 1/(FMAX*512) floor.
struct QuantArgs {
  QuantScheme scheme = QuantScheme::None;
  Fp8Format fmt = Fp8Format::e4m3fn;
  bool divide = false;
  int64_t group = 0;                  // Group: G (divides D)
  const float* static_scale = nullptr;  // Static: the (1,1) float32 scale
  const float* scale_ub = nullptr;      // PerToken: optional upper bound of amax
  float group_eps = 0.0f, qmin = 0.0f, qmax = 0.0f;
};

// One row of bf16 y (D values) -> q (D fp8 codes) and its scales (1 per token, D/G per group, none
// for static).
inline void quant_row(const uint16_t* y, int64_t D, const QuantArgs& a, uint8_t* q, float* scale) {
  if (a.scheme == QuantScheme::Static) {
    const float inv = 1.0f / a.static_scale[0];
    for (int64_t j = 0; j < D; ++j) q[j] = quant_fp8_recip(bf16_to_f32(y[j]), inv, a.fmt);
    return;
  }
  const int64_t G = a.scheme == QuantScheme::Group ? a.group : D;
  for (int64_t g0 = 0, k = 0; g0 < D; g0 += G, ++k) {
    float amax = 0.0f;
    for (int64_t j = g0; j < g0 + G; ++j) amax = nan_max(amax, std::fabs(bf16_to_f32(y[j])));
    if (a.scale_ub) amax = nan_min(amax, a.scale_ub[0]);
    if (a.group_eps > 0.0f) {
      const float s = nan_max(amax, a.group_eps) / a.qmax;
      scale[k] = s;
      for (int64_t j = g0; j < g0 + G; ++j) q[j] = f32_to_fp8(nan_clamp(bf16_to_f32(y[j]) / s, a.qmin, a.qmax), a.fmt);
      continue;
    }
    const float s = quant_scale(amax, a.fmt);
    scale[k] = s;
    if (a.divide) {
      for (int64_t j = g0; j < g0 + G; ++j) q[j] = quant_fp8(bf16_to_f32(y[j]), s, a.fmt);
    } else {
      const float inv = 1.0f / s;
      for (int64_t j = g0; j < g0 + G; ++j) q[j] = quant_fp8_recip(bf16_to_f32(y[j]), inv, a.fmt);
    }
  }
}

// The scales one row gets: 1 per token, D/G per group, 0 for static or no quant.
inline int64_t quant_scales_per_row(const QuantArgs& a, int64_t D) {
  return a.scheme == QuantScheme::PerToken ? 1 : a.scheme == QuantScheme::Group ? D / a.group : 0;
}

// The family's reference on M rows of D: x, residual (nullable), w (nullable: no norm, y = x) ->
// y (when y_out), residual_out (when residual), q and scale (when a.scheme != None).
inline void rms_norm_quant_ref(const uint16_t* x, const uint16_t* res, const uint16_t* w, int64_t M, int64_t D,
                               double eps, const QuantArgs& a, uint16_t* y_out, uint16_t* res_out, uint8_t* q,
                               float* scale) {
  const float eps_f = static_cast<float>(eps);
  std::vector<uint16_t> yrow(static_cast<size_t>(D));
  std::vector<float> srow(static_cast<size_t>(D));
  const int64_t spr = quant_scales_per_row(a, D);
  for (int64_t r = 0; r < M; ++r) {
    const uint16_t* xr = x + r * D;
    uint16_t* y = y_out ? y_out + r * D : yrow.data();
    if (w) {
      for (int64_t j = 0; j < D; ++j) {
        const float xf = bf16_to_f32(xr[j]);
        srow[j] = res ? xf + bf16_to_f32(res[r * D + j]) : xf;
        if (res_out) res_out[r * D + j] = f32_to_bf16(srow[j]);
      }
      const float* sv = srow.data();
      const float rstd = rms_rstd(row_sum_sq_f32(sv, D), D, eps_f);
      for (int64_t j = 0; j < D; ++j) y[j] = vllm_rms_bf16(sv[j], rstd, w[j]);
    } else {
      for (int64_t j = 0; j < D; ++j) y[j] = xr[j];
    }
    if (a.scheme != QuantScheme::None) quant_row(y, D, a, q + r * D, scale ? scale + r * spr : nullptr);
  }
}

// ---------------------------------------------------------------------------------------------
// The vLLM SiLU-and-mul (-> FP8 quant) family (runtime/cpu/silu_mul_quant.cpp, the fused ops of
// patterns/silu_mul_quant.json). vLLM's order (SiluAndMul.forward_native, post-grad spelling, spec 9.1):
//   g = x[..., :D], u = x[..., D:];   y = bf16( float(bf16(silu(float(g)))) * float(u) )
// i.e. silu in float32 (fx_silu), rounded to the model dtype, then a bf16 x bf16 multiply rounded
// again; the quantised forms then quantise the bf16 row y exactly as quant_row does.
// ---------------------------------------------------------------------------------------------

FXOPT_HD inline uint16_t silu_mul_bf16(uint16_t g, uint16_t u) {
  return f32_to_bf16(bf16_to_f32(f32_to_bf16(fx_silu(bf16_to_f32(g)))) * bf16_to_f32(u));
}

// The family's reference on M rows of 2*D (gate half, then up half): y (M, D) when y_out (nullable),
// q (M, D) and scale (quant_scales_per_row per row) when a.scheme != None.
inline void silu_mul_quant_ref(const uint16_t* x, int64_t M, int64_t D, const QuantArgs& a, uint16_t* y_out,
                               uint8_t* q, float* scale) {
  std::vector<uint16_t> yrow(static_cast<size_t>(D));
  const int64_t spr = quant_scales_per_row(a, D);
  for (int64_t r = 0; r < M; ++r) {
    const uint16_t* xr = x + r * 2 * D;
    uint16_t* y = y_out ? y_out + r * D : yrow.data();
    for (int64_t j = 0; j < D; ++j) y[j] = silu_mul_bf16(xr[j], xr[D + j]);
    if (a.scheme != QuantScheme::None) quant_row(y, D, a, q + r * D, scale ? scale + r * spr : nullptr);
  }
}

// ---------------------------------------------------------------------------------------------
// The vLLM QK-norm + RoPE family (runtime/cpu/qk_norm_rope.cpp: _C.rotary_embedding and
// _C.fused_qk_norm_rope). RoPE in vLLM's eager order (RotaryEmbedding.forward_static +
// ApplyRotaryEmb.forward_static, spec 5.6), every op rounding to bf16: for a token at position p the
// cache row (rot values: rot/2 cos, then rot/2 sin, in bf16) gives c = cos[i], s = sin[i] and
//   o1 = bf16( float(bf16(x1*c)) - float(bf16(x2*s)) ),  o2 = bf16( float(bf16(x2*c)) + float(bf16(x1*s)) )
// neox: x1 = x[i], x2 = x[i + rot/2] (o1, o2 written back there); gptj: x1 = x[2i], x2 = x[2i + 1];
// elements [rot, D) of a head pass through. The QK norm is the RMSNorm family's per-head vLLM order
// (row_sum_sq_f32 over the head's D values, rms_rstd, vllm_rms_bf16), then RoPE of the normed head.
// ---------------------------------------------------------------------------------------------

// bf16(float(a) * float(b)): one eager bf16 x bf16 multiply.
FXOPT_HD inline uint16_t bf16_mul(uint16_t a, uint16_t b) { return f32_to_bf16(bf16_to_f32(a) * bf16_to_f32(b)); }

// The rotated pair (o1, o2) of (x1, x2) by (c, s), all bf16 bit patterns.
FXOPT_HD inline void rope_pair_bf16(uint16_t x1, uint16_t x2, uint16_t c, uint16_t s, uint16_t* o1, uint16_t* o2) {
  *o1 = f32_to_bf16(bf16_to_f32(bf16_mul(x1, c)) - bf16_to_f32(bf16_mul(x2, s)));
  *o2 = f32_to_bf16(bf16_to_f32(bf16_mul(x2, c)) + bf16_to_f32(bf16_mul(x1, s)));
}

// One head of D values x -> y (may alias x) rotated by a cache row cs (rot bf16 values: cos half, sin half).
FXOPT_HD inline void rope_head_bf16(const uint16_t* x, const uint16_t* cs, int64_t rot, int64_t D, bool neox,
                                    uint16_t* y) {
  const int64_t half = rot / 2;
  for (int64_t i = 0; i < half; ++i) {
    const int64_t i1 = neox ? i : 2 * i, i2 = neox ? i + half : 2 * i + 1;
    uint16_t o1, o2;
    rope_pair_bf16(x[i1], x[i2], cs[i], cs[half + i], &o1, &o2);
    y[i1] = o1;
    y[i2] = o2;
  }
  for (int64_t j = rot; j < D; ++j) y[j] = x[j];
}

// _C.rotary_embedding on one tensor: x (T, H, D) bf16 -> y (T, H, D) (may alias x); cache (P, rot) bf16
// rows, pos (T) with every value in [0, P) (the caller checks); rot even and <= D.
inline void rope_ref(const uint16_t* x, int64_t T, int64_t H, int64_t D, const uint16_t* cache, int64_t rot,
                     const int64_t* pos, bool neox, uint16_t* y) {
  for (int64_t t = 0; t < T; ++t)
    for (int64_t h = 0; h < H; ++h)
      rope_head_bf16(x + (t * H + h) * D, cache + pos[t] * rot, rot, D, neox, y + (t * H + h) * D);
}

// One head of D values: vLLM's RMSNorm (weight w, D bf16 values) then RoPE; y may alias x.
inline void qk_norm_rope_head(const uint16_t* x, const uint16_t* w, int64_t D, float eps, const uint16_t* cs,
                              int64_t rot, bool neox, float* s, uint16_t* normed, uint16_t* y) {
  for (int64_t j = 0; j < D; ++j) s[j] = bf16_to_f32(x[j]);
  const float rstd = rms_rstd(row_sum_sq_f32(s, D), D, eps);
  for (int64_t j = 0; j < D; ++j) normed[j] = vllm_rms_bf16(s[j], rstd, w[j]);
  rope_head_bf16(normed, cs, rot, D, neox, y);
}

// _C.fused_qk_norm_rope: qkv (T, (Hq+Hk+Hv)*D) bf16 -> out (same shape; may alias qkv): each q head
// normed with qw (D) and rotated, each k head normed with kw (D) and rotated, v copied. cache (P, rot)
// bf16, pos (T) in [0, P) (the caller checks), rot even and <= D.
inline void qk_norm_rope_ref(const uint16_t* qkv, int64_t T, int64_t Hq, int64_t Hk, int64_t Hv, int64_t D,
                             double eps, const uint16_t* qw, const uint16_t* kw, const uint16_t* cache, int64_t rot,
                             const int64_t* pos, bool neox, uint16_t* out) {
  const float eps_f = static_cast<float>(eps);
  const int64_t W = (Hq + Hk + Hv) * D;
  std::vector<float> s(static_cast<size_t>(D));
  std::vector<uint16_t> normed(static_cast<size_t>(D));
  for (int64_t t = 0; t < T; ++t) {
    const uint16_t* cs = cache + pos[t] * rot;
    const uint16_t* row = qkv + t * W;
    uint16_t* orow = out + t * W;
    for (int64_t h = 0; h < Hq + Hk; ++h)
      qk_norm_rope_head(row + h * D, h < Hq ? qw : kw, D, eps_f, cs, rot, neox, s.data(), normed.data(), orow + h * D);
    for (int64_t j = (Hq + Hk) * D; j < W; ++j) orow[j] = row[j];
  }
}

// Matrix product order (mm, addmm; the GPU matmul kernel and the CPU reference agree on it):
//   acc = 0; for k = 0..K-1 in order: acc = acc + float(a[i,k]) * float(b[k,j])   (no fma)
//   mm: out = acc;  addmm(bias, a, b, beta, alpha): out = (alpha*acc) + (beta*float(bias[..j]))
//   where a factor equal to 1 is skipped; then rounded to the output dtype.
FXOPT_HD inline float matmul_epilogue(float acc, bool has_bias, float bias, float alpha, float beta) {
  float v = alpha == 1.0f ? acc : alpha * acc;
  if (has_bias) v = v + (beta == 1.0f ? bias : beta * bias);
  return v;
}

}  // namespace fxopt::num
