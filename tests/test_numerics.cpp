// Unit tests of runtime/numerics.h: dtype conversions against PyTorch's c10 semantics, fx_expf's
// accuracy, the canonical row-sum order and the reference fused ops.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

#include "runtime/numerics.h"

using namespace fxopt::num;

namespace {

// Independent decoder: sign, exponent field, mantissa field, bias, mantissa bits.
double decode_minifloat(uint32_t code, int exp_bits, int man_bits, int bias) {
  const uint32_t sign = code >> (exp_bits + man_bits);
  const uint32_t e = (code >> man_bits) & ((1u << exp_bits) - 1);
  const uint32_t m = code & ((1u << man_bits) - 1);
  const double frac = static_cast<double>(m) / static_cast<double>(1u << man_bits);
  const double mag = e == 0 ? std::ldexp(frac, 1 - bias) : std::ldexp(1.0 + frac, static_cast<int>(e) - bias);
  return sign ? -mag : mag;
}

// Distance in units in the last place between two finite floats of the same sign.
int64_t ulp_distance(float a, float b) {
  auto key = [](float f) {
    const int32_t i = static_cast<int32_t>(f32_bits(f));
    return i < 0 ? static_cast<int64_t>(INT32_MIN) - i : static_cast<int64_t>(i);
  };
  const int64_t d = key(a) - key(b);
  return d < 0 ? -d : d;
}

}  // namespace

TEST_CASE("numerics: every e4m3fn code decodes to its value and re-encodes to itself") {
  for (uint32_t c = 0; c < 256; ++c) {
    const float f = fp8e4m3fn_to_f32(static_cast<uint8_t>(c));
    if ((c & 0x7F) == 0x7F) {
      CHECK(std::isnan(f));
    } else {
      CHECK(static_cast<double>(f) == decode_minifloat(c, 4, 3, 7));
    }
    CHECK(f32_to_fp8e4m3fn(f) == c);
  }
}

TEST_CASE("numerics: every e4m3fnuz code decodes to its value and re-encodes to itself") {
  for (uint32_t c = 0; c < 256; ++c) {
    const float f = fp8e4m3fnuz_to_f32(static_cast<uint8_t>(c));
    if (c == 0x80) {
      CHECK(std::isnan(f));
    } else {
      CHECK(static_cast<double>(f) == decode_minifloat(c, 4, 3, 8));
    }
    CHECK(f32_to_fp8e4m3fnuz(f) == c);
  }
  CHECK(fp8e4m3fnuz_to_f32(0x7F) == 240.0f);
  CHECK(f32_to_fp8e4m3fnuz(-0.0f) == 0x00);     // no negative zero
  CHECK(f32_to_fp8e4m3fnuz(-1e-9f) == 0x00);    // underflow of a negative is +0, not NaN
}

TEST_CASE("numerics: every e5m2 code round-trips, NaNs to the canonical NaN") {
  for (uint32_t c = 0; c < 256; ++c) {
    const float f = fp8e5m2_to_f32(static_cast<uint8_t>(c));
    const uint32_t mag = c & 0x7F;
    if (mag > 0x7C) {
      CHECK(std::isnan(f));
      CHECK(f32_to_fp8e5m2(f) == ((c & 0x80) | 0x7F));
    } else if (mag == 0x7C) {
      CHECK(std::isinf(f));
      CHECK(f32_to_fp8e5m2(f) == c);
    } else {
      CHECK(static_cast<double>(f) == decode_minifloat(c, 5, 2, 15));
      CHECK(f32_to_fp8e5m2(f) == c);
    }
  }
}

TEST_CASE("numerics: fp8 rounds to nearest even and is not saturating") {
  // e4m3fn: 1.0 = 0x38, 1.125 = 0x39, 1.25 = 0x3A
  CHECK(f32_to_fp8e4m3fn(1.0625f) == 0x38);   // tie -> even mantissa 000
  CHECK(f32_to_fp8e4m3fn(1.1875f) == 0x3A);   // tie -> even mantissa 010
  CHECK(f32_to_fp8e4m3fn(std::nextafter(1.0625f, 2.0f)) == 0x39);
  CHECK(f32_to_fp8e4m3fn(std::ldexp(1.0f, -10)) == 0x00);       // half the smallest subnormal
  CHECK(f32_to_fp8e4m3fn(std::ldexp(3.0f, -10)) == 0x02);       // 1.5 subnormal steps -> 2
  CHECK(f32_to_fp8e4m3fn(-std::ldexp(3.0f, -10)) == 0x82);
  CHECK(f32_to_fp8e4m3fn(448.0f) == 0x7E);
  CHECK(f32_to_fp8e4m3fn(464.0f) == 0x7E);                      // tie 448/480 -> even (448)
  CHECK(f32_to_fp8e4m3fn(std::nextafter(464.0f, 1e9f)) == 0x7F); // rounds to 480: NaN
  CHECK(f32_to_fp8e4m3fn(1e6f) == 0x7F);
  CHECK(f32_to_fp8e4m3fn(-1e6f) == 0xFF);
  CHECK(f32_to_fp8e4m3fn(std::numeric_limits<float>::infinity()) == 0x7F);
  CHECK(f32_to_fp8e4m3fn(std::numeric_limits<float>::quiet_NaN()) == 0x7F);
  // e4m3fnuz: bias 8, max 240; the tie at 248 rounds up into the NaN code (c10 behaviour).
  CHECK(f32_to_fp8e4m3fnuz(1.0f) == 0x40);
  CHECK(f32_to_fp8e4m3fnuz(240.0f) == 0x7F);
  CHECK(f32_to_fp8e4m3fnuz(247.0f) == 0x7F);
  CHECK(f32_to_fp8e4m3fnuz(248.0f) == 0x80);
  CHECK(f32_to_fp8e4m3fnuz(-300.0f) == 0x80);
  CHECK(f32_to_fp8e4m3fnuz(std::numeric_limits<float>::quiet_NaN()) == 0x80);
  // e5m2 overflows to inf.
  CHECK(f32_to_fp8e5m2(57344.0f) == 0x7B);
  CHECK(f32_to_fp8e5m2(1e6f) == 0x7C);
  CHECK(f32_to_fp8e5m2(-1e6f) == 0xFC);
}

TEST_CASE("numerics: fp8 encoding is the nearest code, ties to even, over a dense sweep") {
  for (Fp8Format fmt : {Fp8Format::e4m3fn, Fp8Format::e4m3fnuz}) {
    std::vector<std::pair<double, uint8_t>> finite;
    for (uint32_t c = 0; c < 128; ++c) {
      const float f = fp8_to_f32(static_cast<uint8_t>(c), fmt);
      if (!std::isnan(f)) finite.emplace_back(f, static_cast<uint8_t>(c));
    }
    const double top = finite.back().first;
    for (double v = 0.0; v <= top; v += top / 20011.0) {
      const float f = static_cast<float>(v);
      size_t best = 0;
      for (size_t i = 1; i < finite.size(); ++i) {
        const double di = std::fabs(finite[i].first - f), db = std::fabs(finite[best].first - f);
        if (di < db || (di == db && (finite[i].second & 1) == 0)) best = i;
      }
      CHECK(f32_to_fp8(f, fmt) == finite[best].second);
    }
  }
}

TEST_CASE("numerics: bf16 and fp16 round to nearest even, NaN preserved") {
  CHECK(f32_to_bf16(1.0f) == 0x3F80);
  CHECK(f32_to_bf16(f32_from_bits(0x3F808000u)) == 0x3F80);  // tie -> even
  CHECK(f32_to_bf16(f32_from_bits(0x3F818000u)) == 0x3F82);  // tie -> even (up)
  CHECK(f32_to_bf16(f32_from_bits(0x3F808001u)) == 0x3F81);
  CHECK(f32_to_bf16(f32_from_bits(0x7F7FFFFFu)) == 0x7F80);  // rounds to inf
  CHECK(f32_to_bf16(std::numeric_limits<float>::quiet_NaN()) == 0x7FC0);
  CHECK(f32_to_bf16(-std::numeric_limits<float>::quiet_NaN()) == 0x7FC0);
  CHECK(f32_to_bf16(f32_from_bits(0x7F800001u)) == 0x7FC0);  // signalling NaN stays NaN
  CHECK(bf16_to_f32(0xC040) == -3.0f);
  for (uint32_t b = 0; b < 65536; ++b) {
    const float f = bf16_to_f32(static_cast<uint16_t>(b));
    if (!std::isnan(f)) CHECK(f32_to_bf16(f) == b);
  }
  CHECK(f32_to_f16(1.0f + std::ldexp(1.0f, -11)) == 0x3C00);  // tie -> even
  CHECK(f32_to_f16(65504.0f) == 0x7BFF);
  CHECK(f32_to_f16(65519.0f) == 0x7BFF);
  CHECK(f32_to_f16(65520.0f) == 0x7C00);
  CHECK(f32_to_f16(std::ldexp(1.0f, -24)) == 0x0001);
  CHECK(f32_to_f16(std::ldexp(1.0f, -25)) == 0x0000);           // tie -> even (0)
  CHECK(f32_to_f16(std::numeric_limits<float>::quiet_NaN()) == 0x7E00);
  for (uint32_t h = 0; h < 65536; ++h) {
    const float f = f16_to_f32(static_cast<uint16_t>(h));
    const uint32_t e = (h >> 10) & 0x1F, m = h & 0x3FF;
    if (e == 0x1F && m != 0) {
      CHECK(std::isnan(f));
      continue;
    }
    const double want = e == 0x1F ? std::numeric_limits<double>::infinity()
                                  : std::fabs(decode_minifloat(h & 0x7FFF, 5, 10, 15));
    CHECK(std::fabs(static_cast<double>(f)) == want);
    CHECK(std::signbit(f) == ((h & 0x8000) != 0));
    CHECK(f32_to_f16(f) == h);
  }
}

TEST_CASE("numerics: fx_expf is within 2 ulp of exp everywhere and exact on specials") {
  int64_t worst = 0;
  auto check_at = [&](float x) {
    const float got = fx_expf(x);
    const float want = static_cast<float>(std::exp(static_cast<double>(x)));
    if (std::isinf(want)) {
      // Overflow boundary: the double result may round to inf one ulp earlier or later.
      CHECK((std::isinf(got) || ulp_distance(got, std::numeric_limits<float>::max()) <= 1));
      return;
    }
    if (want < std::numeric_limits<float>::min()) {  // subnormal range: absolute error
      CHECK(std::fabs(static_cast<double>(got) - static_cast<double>(want)) <= 2.0 * std::ldexp(1.0, -149));
      return;
    }
    const int64_t d = ulp_distance(got, want);
    worst = std::max(worst, d);
    CHECK_MESSAGE(d <= 2, "x=" << x << " got=" << got << " want=" << want);
  };
  for (double x = -105.0; x <= 90.0; x += 0.000731) check_at(static_cast<float>(x));
  std::mt19937 rng(1234);
  std::uniform_real_distribution<float> small(-1.0f, 1.0f);
  for (int i = 0; i < 200000; ++i) check_at(small(rng));
  for (float x : {0.0f, -0.0f, 1e-30f, -1e-30f, 88.7228f, 88.72283f, -87.3f, -103.0f, -103.9f})
    check_at(x);
  INFO("fx_expf worst error over the sweep: " << worst << " ulp");
  CHECK(worst <= 1);
  CHECK(fx_expf(0.0f) == 1.0f);
  CHECK(fx_expf(1.0f) == 2.71828175f);
  CHECK(std::isinf(fx_expf(89.0f)));
  CHECK(std::isinf(fx_expf(std::numeric_limits<float>::infinity())));
  CHECK(fx_expf(-std::numeric_limits<float>::infinity()) == 0.0f);
  CHECK(fx_expf(-200.0f) == 0.0f);
  CHECK(std::isnan(fx_expf(std::numeric_limits<float>::quiet_NaN())));
  CHECK(fx_rsqrtf(4.0f) == 0.5f);
  CHECK(std::isinf(fx_rsqrtf(0.0f)));
}

TEST_CASE("numerics: fx_logf is within 1 ulp of log over every float exponent, exact on specials") {
  int64_t worst = 0;
  // Every 4099th positive finite float: each exponent (subnormals included) with many mantissas.
  for (uint64_t b = 1; b < 0x7F800000u; b += 4099) {
    const float x = f32_from_bits(static_cast<uint32_t>(b));
    const float want = static_cast<float>(std::log(static_cast<double>(x)));
    const float got = fx_logf(x);
    REQUIRE_MESSAGE(std::signbit(got) == std::signbit(want), "x=" << x << " got=" << got << " want=" << want);
    worst = std::max(worst, ulp_distance(got, want));
  }
  INFO("fx_logf worst error over the sweep: " << worst << " ulp");
  CHECK(worst <= 1);
  CHECK(fx_logf(1.0f) == 0.0f);
  CHECK(fx_logf(0.0f) == -std::numeric_limits<float>::infinity());
  CHECK(fx_logf(-0.0f) == -std::numeric_limits<float>::infinity());
  CHECK(fx_logf(std::numeric_limits<float>::infinity()) == std::numeric_limits<float>::infinity());
  CHECK(std::isnan(fx_logf(-1.0f)));
  CHECK(std::isnan(fx_logf(std::numeric_limits<float>::quiet_NaN())));
}

TEST_CASE("numerics: row_sum_f32 uses the canonical chunked order") {
  // Chunk 0 = {1, eps x7}: sequentially 1 + 2^-24 stays 1. Chunk 1 = 8 x 2^-24 = 2^-21 exactly.
  // The canonical order gives p0 + p1 = 1 + 2^-21; a left-to-right sum would give 1.
  std::vector<float> v(16, std::ldexp(1.0f, -24));
  v[0] = 1.0f;
  CHECK(row_sum_f32(v.data(), 16) == 1.0f + std::ldexp(1.0f, -21));

  // The warp simulation the GPU kernels implement: lane t owns chunks t, t+32, ...; shuffles.
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> dist(-100.0f, 100.0f);
  for (int64_t n : {1, 7, 8, 9, 128, 255, 256, 257, 1000, 4096, 5003}) {
    std::vector<float> a(static_cast<size_t>(n));
    for (auto& e : a) e = dist(rng);
    float lane[32];
    for (int t = 0; t < 32; ++t) {
      lane[t] = 0.0f;
      for (int64_t c = t; c * 8 < n; c += 32)
        for (int64_t j = c * 8; j < std::min<int64_t>(n, c * 8 + 8); ++j) lane[t] += a[static_cast<size_t>(j)];
    }
    for (int off = 16; off >= 1; off /= 2) {
      float nxt[32];
      for (int t = 0; t < 32; ++t) nxt[t] = lane[t] + lane[t ^ off];
      for (int t = 0; t < 32; ++t) lane[t] = nxt[t];
    }
    CHECK(f32_bits(row_sum_f32(a.data(), n)) == f32_bits(lane[0]));
    std::vector<float> sq(a.size());
    for (size_t i = 0; i < a.size(); ++i) sq[i] = a[i] * a[i];
    CHECK(f32_bits(row_sum_sq_f32(a.data(), n)) == f32_bits(row_sum_f32(sq.data(), n)));
    // Half a warp per row reproduces the order for rows of <= 16 chunks (partials 16..31 are +0).
    if (n <= 128) {
      float h[16];
      for (int t = 0; t < 16; ++t) {
        h[t] = 0.0f;
        for (int64_t j = t * 8; j < std::min<int64_t>(n, t * 8 + 8); ++j) h[t] += a[static_cast<size_t>(j)];
        h[t] = h[t] + 0.0f;  // the skipped off = 16 step
      }
      for (int off = 8; off >= 1; off /= 2) {
        float nxt[16];
        for (int t = 0; t < 16; ++t) nxt[t] = h[t] + h[t ^ off];
        for (int t = 0; t < 16; ++t) h[t] = nxt[t];
      }
      CHECK(f32_bits(h[0]) == f32_bits(lane[0]));
    }
  }
}

namespace {

std::vector<uint16_t> random_bf16(size_t n, std::mt19937& rng, float lo, float hi) {
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<uint16_t> v(n);
  for (auto& e : v) e = f32_to_bf16(dist(rng));
  return v;
}

}  // namespace

TEST_CASE("numerics: the fused gated op equals its decomposed steps") {
  std::mt19937 rng(42);
  for (Fp8Format fmt : {Fp8Format::e4m3fn, Fp8Format::e4m3fnuz}) {
    for (int64_t D : {128, 256}) {
      const int64_t M = 37, G = 128;
      const auto x = random_bf16(static_cast<size_t>(M * D), rng, -3.0f, 3.0f);
      const auto z = random_bf16(static_cast<size_t>(M * D), rng, -6.0f, 6.0f);
      const auto w = random_bf16(static_cast<size_t>(D), rng, 0.5f, 1.5f);
      std::vector<uint8_t> q(static_cast<size_t>(M * D));
      std::vector<float> s(static_cast<size_t>(M * D / G));
      fused_rms_gated_fp8_group_quant(x.data(), w.data(), z.data(), M, D, 1e-6, G, fmt, q.data(), s.data());

      // The decomposed graph, op by op, over whole tensors.
      const float fmax = fmt == Fp8Format::e4m3fn ? 448.0f : 224.0f;
      std::vector<uint16_t> y(static_cast<size_t>(M * D));
      for (int64_t r = 0; r < M; ++r) {
        std::vector<float> xf(static_cast<size_t>(D)), pw(static_cast<size_t>(D));
        for (int64_t j = 0; j < D; ++j) {
          xf[j] = bf16_to_f32(x[r * D + j]);
          pw[j] = xf[j] * xf[j];
        }
        const float mean = row_sum_f32(pw.data(), D) / static_cast<float>(D);
        const float rstd = 1.0f / std::sqrt(mean + static_cast<float>(1e-6));
        for (int64_t j = 0; j < D; ++j) {
          const float mul_35 = xf[j] * rstd;
          const float mul_38 = mul_35 * bf16_to_f32(w[j]);
          const float zf = bf16_to_f32(z[r * D + j]);
          const float div = zf / (fx_expf(-zf) + 1.0f);
          y[r * D + j] = f32_to_bf16(mul_38 * div);
        }
      }
      const int64_t K = D;  // (N, H*D) viewed back as rows of D: groups never straddle rows
      for (int64_t r = 0; r < M; ++r) {
        for (int64_t g = 0; g < K / G; ++g) {
          float amax = 0.0f;
          for (int64_t j = 0; j < G; ++j) amax = std::max(amax, std::fabs(bf16_to_f32(y[r * K + g * G + j])));
          float scale = amax / fmax;
          scale = std::max(scale, static_cast<float>(1.0 / (static_cast<double>(fmax) * 512.0)));
          CHECK(f32_bits(s[r * (K / G) + g]) == f32_bits(scale));
          for (int64_t j = 0; j < G; ++j) {
            float v = bf16_to_f32(y[r * K + g * G + j]) / scale;
            v = std::min(std::max(v, -fmax), fmax);
            CHECK(q[r * K + g * G + j] == f32_to_fp8(v, fmt));
          }
        }
      }
    }
  }
}

TEST_CASE("numerics: all-zero rows take the scale floor and quantise to zero") {
  const int64_t M = 2, D = 128;
  std::vector<uint16_t> x(M * D, 0), z(M * D, f32_to_bf16(1.0f)), w(D, f32_to_bf16(1.0f));
  std::vector<uint8_t> q(M * D, 0xAA);
  std::vector<float> s(M, -1.0f);
  fused_rms_gated_fp8_group_quant(x.data(), w.data(), z.data(), M, D, 1e-6, 128, Fp8Format::e4m3fn, q.data(), s.data());
  CHECK(s[0] == static_cast<float>(1.0 / (448.0 * 512.0)));
  for (uint8_t c : q) CHECK(c == 0);
  rmsnorm_dynamic_quant(x.data(), w.data(), M, D, 1e-6, Fp8Format::e4m3fnuz, q.data(), s.data());
  CHECK(s[1] == static_cast<float>(1.0 / (224.0 * 512.0)));
  for (uint8_t c : q) CHECK(c == 0);
}

TEST_CASE("numerics: per-token quant of a known row") {
  // x = [1, 2, ..., 8] repeated; w = 1. The largest |y| gets code 448 (0x7E) exactly.
  const int64_t D = 16;
  std::vector<uint16_t> x(D), w(D, f32_to_bf16(1.0f));
  for (int64_t j = 0; j < D; ++j) x[j] = f32_to_bf16(static_cast<float>(j % 8 + 1));
  std::vector<uint8_t> q(D);
  float s = 0;
  rmsnorm_dynamic_quant(x.data(), w.data(), 1, D, 1e-6, Fp8Format::e4m3fn, q.data(), &s);
  CHECK(q[7] == 0x7E);
  CHECK(q[15] == 0x7E);
  CHECK(s > 0.0f);
}
