// Unit tests of the heavy CPU kernels (runtime/cpu/heavy_ops.h): indexing, scans, sorting, convolution,
// pooling, attention and grouped matmul, each against hand-computed values or a naive double-precision
// reference, with size-1/empty dims, odd sizes, non-contiguous inputs and thread-count determinism.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <limits>

#include "core/ir/error.h"
#include "runtime/cpu/heavy_ops.h"
#include "runtime/executor.h"
#include "runtime/op_registry.h"
#include "tests/tensor_util.h"

using namespace fxopt;
using namespace fxopt::rt;
using namespace fxopt::rt::test;
namespace cpu = fxopt::rt::cpu;

namespace {


// The transpose of a 2-d tensor as a view (non-contiguous).
Tensor tr(const Tensor& t) {
  return t.as_strided({t.shape()[1], t.shape()[0]}, {t.strides()[1], t.strides()[0]}, t.offset());
}

bool same_bits(const Tensor& a, const Tensor& b) {
  if (a.dtype() != b.dtype() || a.shape() != b.shape()) return false;
  const Tensor ca = a.contiguous(), cb = b.contiguous();
  return std::memcmp(ca.raw(), cb.raw(), static_cast<size_t>(a.numel()) * dtype_size(a.dtype())) == 0;
}

double max_rel_err(const Tensor& got, const std::vector<double>& want) {
  double num = 0, den = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    num = std::max(num, std::abs(got.value_at(static_cast<int64_t>(i)) - want[i]));
    den = std::max(den, std::abs(want[i]));
  }
  return den > 0 ? num / den : num;
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}

const double kNaN = std::numeric_limits<double>::quiet_NaN();
const double kInf = std::numeric_limits<double>::infinity();

}  // namespace

// ---------------------------------------------------------------------------------------------- index

TEST_CASE("heavy: embedding picks rows; an index out of range is named with its position") {
  const Tensor w = make(DType::BF16, {3, 2}, {0, 1, 10, 11, 20, 21});
  const Tensor ids = make(DType::I64, {2, 2}, {2, 0, 1, 2});
  const Tensor e = cpu::embedding(w, ids);
  CHECK(e.shape() == Shape{2, 2, 2});
  CHECK(vals(e) == std::vector<double>{20, 21, 0, 1, 10, 11, 20, 21});
  CHECK(cpu::embedding(w, make(DType::I32, {0}, {})).shape() == Shape{0, 2});  // empty index
  const std::string err = error_of([&] { cpu::embedding(w, make(DType::I64, {2, 2}, {0, 1, 3, 0})); });
  CHECK(err == "embedding index value 3 at position [1, 0] is out of range for dimension 0 of size 3");
  CHECK(error_of([&] { cpu::embedding(w, make(DType::I64, {1}, {-1})); }).find("value -1") != std::string::npos);
  CHECK_THROWS_AS(cpu::embedding(w, make(DType::F32, {1}, {0})), InputError);
}

TEST_CASE("heavy: index_select and gather on non-contiguous inputs") {
  const Tensor x = make(DType::F32, {2, 3}, {0, 1, 2, 3, 4, 5});
  const Tensor xt = tr(x);  // [[0, 3], [1, 4], [2, 5]]
  CHECK(vals(cpu::index_select(xt, 0, make(DType::I64, {3}, {2, 2, 0}))) == std::vector<double>{2, 5, 2, 5, 0, 3});
  CHECK(vals(cpu::index_select(xt, 1, make(DType::I32, {1}, {1}))) == std::vector<double>{3, 4, 5});
  CHECK(cpu::index_select(x, 1, make(DType::I64, {0}, {})).shape() == Shape{2, 0});
  CHECK_THROWS_AS(cpu::index_select(x, 1, make(DType::I64, {1}, {3})), InputError);
  // gather(dim=1): out[i][j] = xt[i][idx[i][j]].
  const Tensor idx = make(DType::I64, {3, 1}, {1, 0, 1});
  CHECK(vals(cpu::gather(xt, 1, idx)) == std::vector<double>{3, 1, 5});
  CHECK(vals(cpu::gather(xt, 0, make(DType::I64, {1, 2}, {2, 0}))) == std::vector<double>{2, 3});
  CHECK(error_of([&] { cpu::gather(xt, 1, make(DType::I64, {3, 1}, {1, 2, 0})); }) ==
        "gather index value 2 at position [1, 0] is out of range for dimension 1 of size 2");
}

TEST_CASE("heavy: scatter overwrite, add, amax, mean and include_self") {
  const Tensor x = make(DType::F32, {2, 3}, {1, 1, 1, 1, 1, 1});
  const Tensor idx = make(DType::I64, {2, 2}, {0, 0, 2, 1});
  const Tensor src = make(DType::F32, {2, 2}, {5, 6, 3, 4});
  CHECK(vals(cpu::scatter(x, 1, idx, &src, 0, "", true)) == std::vector<double>{6, 1, 1, 1, 4, 3});  // last write wins
  CHECK(vals(cpu::scatter(x, 1, idx, &src, 0, "sum", true)) == std::vector<double>{12, 1, 1, 1, 5, 4});
  CHECK(vals(cpu::scatter(x, 1, idx, &src, 0, "amax", false)) == std::vector<double>{6, 1, 1, 1, 4, 3});
  CHECK(vals(cpu::scatter(x, 1, idx, &src, 0, "mean", true)) == std::vector<double>{4, 1, 1, 1, 2.5, 2});
  CHECK(vals(cpu::scatter(x, 1, idx, &src, 0, "mean", false)) == std::vector<double>{5.5, 1, 1, 1, 4, 3});
  CHECK(vals(cpu::scatter(x, 1, idx, nullptr, 9, "", true)) == std::vector<double>{9, 1, 1, 1, 9, 9});
  // Integer mean floors, as PyTorch.
  const Tensor xi = make(DType::I64, {1, 2}, {0, 0});
  const Tensor si = make(DType::I64, {1, 2}, {-4, 0});  // (0 - 4 + 0) / 3 floors to -2
  CHECK(vals(cpu::scatter(xi, 1, make(DType::I64, {1, 2}, {0, 0}), &si, 0, "mean", true)) == std::vector<double>{-2, 0});
  CHECK_THROWS_AS(cpu::scatter(x, 1, make(DType::I64, {1, 1}, {3}), &src, 0, "sum", true), InputError);
  CHECK_THROWS_AS(cpu::scatter(x, 1, idx, &src, 0, "median", true), InputError);
  // The input is not modified.
  CHECK(vals(x) == std::vector<double>{1, 1, 1, 1, 1, 1});
}

TEST_CASE("heavy: index.Tensor: adjacent and separated index tensors, None, negatives, masks") {
  Tensor x = Tensor::empty(DType::I64, {2, 3, 4});
  for (int64_t i = 0; i < 24; ++i) x.data<int64_t>()[i] = i;
  // x[:, [2, 0]] -> (2, 2, 4)
  Tensor r = cpu::index(x, {std::nullopt, make(DType::I64, {2}, {2, -3})});
  CHECK(r.shape() == Shape{2, 2, 4});
  CHECK(vals(r)[0] == 8);
  CHECK(vals(r)[4] == 0);
  CHECK(vals(r)[8] == 20);
  // x[[1, 0], :, [3, 1]] -> separated: the broadcast dim goes first: (2, 3)
  r = cpu::index(x, {make(DType::I64, {2}, {1, 0}), std::nullopt, make(DType::I64, {2}, {3, 1})});
  CHECK(r.shape() == Shape{2, 3});
  CHECK(vals(r) == std::vector<double>{15, 19, 23, 1, 5, 9});
  // x[:, [[0], [2]], [1, 3]] -> adjacent, broadcast (2, 2) at dim 1: (2, 2, 2)
  r = cpu::index(x, {std::nullopt, make(DType::I64, {2, 1}, {0, 2}), make(DType::I64, {2}, {1, 3})});
  CHECK(r.shape() == Shape{2, 2, 2});
  CHECK(vals(r) == std::vector<double>{1, 3, 9, 11, 13, 15, 21, 23});
  // A bool mask over the first two dims.
  const Tensor m = make(DType::Bool, {2, 3}, {0, 1, 0, 0, 0, 1});
  r = cpu::index(x, {m});
  CHECK(r.shape() == Shape{2, 4});
  CHECK(vals(r) == std::vector<double>{4, 5, 6, 7, 20, 21, 22, 23});
  CHECK(error_of([&] { cpu::index(x, {std::nullopt, make(DType::I64, {2}, {0, 3})}); }) ==
        "index value 3 at position [1] is out of range for dimension 1 of size 3");
  CHECK(cpu::index(x, {make(DType::I64, {0}, {})}).shape() == Shape{0, 3, 4});
}

TEST_CASE("heavy: index_put overwrites or accumulates duplicates in order") {
  const Tensor x = make(DType::F32, {4}, {0, 0, 0, 0});
  const Tensor idx = make(DType::I64, {3}, {1, 3, 1});
  const Tensor v = make(DType::F32, {3}, {1, 2, 4});
  CHECK(vals(cpu::index_put(x, {idx}, v, true)) == std::vector<double>{0, 5, 0, 2});
  CHECK(vals(cpu::index_put(x, {idx}, v, false)) == std::vector<double>{0, 4, 0, 2});
  // A scalar value broadcasts; rows of a 2-d tensor.
  const Tensor y = make(DType::BF16, {3, 2}, {0, 0, 0, 0, 0, 0});
  CHECK(vals(cpu::index_put(y, {make(DType::I64, {1}, {-1})}, make(DType::BF16, {}, {7}), false)) ==
        std::vector<double>{0, 0, 0, 0, 7, 7});
  // bf16 accumulation rounds after every add: 1 + 2^-8 ties to 1, twice.
  const Tensor one = make(DType::BF16, {1}, {1});
  CHECK(vals(cpu::index_put(one, {make(DType::I64, {2}, {0, 0})}, make(DType::BF16, {2}, {0.00390625, 0.00390625}), true)) ==
        std::vector<double>{1});
  CHECK_THROWS_AS(cpu::index_put(x, {make(DType::I64, {1}, {4})}, make(DType::F32, {1}, {1}), true), InputError);
  CHECK_THROWS_AS(cpu::index_put(x, {idx}, make(DType::F32, {2}, {1, 2}), true), InputError);  // values do not broadcast
}

// ----------------------------------------------------------------------------------------------- scan

TEST_CASE("heavy: cumsum accumulates in PyTorch's CPU accumulate type and promotes integers") {
  // bf16 accumulates in float: 1, 1+2^-8 (-> 1), 1+2^-7, 1+3*2^-8 (tie -> 1+2^-6); a bf16 sum would stay 1.
  const Tensor b = make(DType::BF16, {4}, {1, 0.00390625, 0.00390625, 0.00390625});
  CHECK(vals(cpu::cumsum(b, 0, std::nullopt)) == std::vector<double>{1, 1, 1.0078125, 1.015625});
  // float32 accumulates in double: 1e8 + 1 - 1e8 = 1 (a float sum gives 0).
  const Tensor f = make(DType::F32, {3}, {1e8, 1, -1e8});
  CHECK(vals(cpu::cumsum(f, 0, std::nullopt)) == std::vector<double>{1e8, 1e8, 1});
  const Tensor i = make(DType::I32, {2, 3}, {1, 2, 3, 4, 5, 6});
  const Tensor ci = cpu::cumsum(i, 1, std::nullopt);
  CHECK(ci.dtype() == DType::I64);
  CHECK(vals(ci) == std::vector<double>{1, 3, 6, 4, 9, 15});
  CHECK(vals(cpu::cumsum(tr(i), 0, std::nullopt)) == std::vector<double>{1, 4, 3, 9, 6, 15});
  CHECK(cpu::cumsum(make(DType::Bool, {3}, {1, 0, 1}), 0, std::nullopt).dtype() == DType::I64);
  CHECK(cpu::cumsum(i, 0, DType::F32).dtype() == DType::F32);
  CHECK(cpu::cumsum(make(DType::F32, {0, 2}, {}), 0, std::nullopt).shape() == Shape{0, 2});
  CHECK(vals(cpu::cumprod(make(DType::I64, {4}, {1, 2, 3, 4}), 0, std::nullopt)) == std::vector<double>{1, 2, 6, 24});
  CHECK_THROWS_AS(cpu::cumsum(i, 2, std::nullopt), InputError);
}

// ----------------------------------------------------------------------------------------------- sort

TEST_CASE("heavy: sort is stable, NaN sorts highest, -0 and +0 keep their order") {
  const Tensor x = make(DType::F32, {6}, {2, kNaN, -0.0, 1, 0.0, 1});
  cpu::SortResult r = cpu::sort(x, 0, false);
  CHECK(vals(r.indices) == std::vector<double>{2, 4, 3, 5, 0, 1});
  CHECK(std::signbit(r.values.value_at(0)));
  CHECK(std::isnan(r.values.value_at(5)));
  r = cpu::sort(x, 0, true);
  CHECK(vals(r.indices) == std::vector<double>{1, 0, 3, 5, 2, 4});
  // Along dim 0 of a transposed view.
  const Tensor y = tr(make(DType::I64, {2, 3}, {3, 1, 2, 0, 5, 4}));  // [[3, 0], [1, 5], [2, 4]]
  r = cpu::sort(y, 0, false);
  CHECK(vals(r.values) == std::vector<double>{1, 0, 2, 4, 3, 5});
  CHECK(vals(r.indices) == std::vector<double>{1, 0, 2, 2, 0, 1});
  CHECK(cpu::sort(make(DType::F32, {2, 0}, {}), 1, false).values.shape() == Shape{2, 0});
}

TEST_CASE("heavy: topk breaks ties by the lower index") {
  const Tensor x = make(DType::BF16, {2, 4}, {1, 3, 3, 2, -1, -1, -2, 5});
  cpu::SortResult r = cpu::topk(x, 2, -1, true, true);
  CHECK(vals(r.values) == std::vector<double>{3, 3, 5, -1});
  CHECK(vals(r.indices) == std::vector<double>{1, 2, 3, 0});
  r = cpu::topk(x, 1, 1, false, true);
  CHECK(vals(r.indices) == std::vector<double>{0, 2});
  CHECK(cpu::topk(x, 0, 1, true, true).values.shape() == Shape{2, 0});
  CHECK_THROWS_AS(cpu::topk(x, 5, 1, true, true), InputError);
}

TEST_CASE("heavy: histc bins with a closed last bin, ignoring outside values and NaN") {
  const Tensor x = make(DType::F32, {7}, {0, 0.5, 1, 2, -1, kNaN, 1.9});
  CHECK(vals(cpu::histc(x, 4, 0, 2)) == std::vector<double>{1, 1, 1, 2});
  // min == max: the data's range (here [0, 3]), 3 bins.
  CHECK(vals(cpu::histc(make(DType::F32, {4}, {0, 1, 3, 3}), 3, 0, 0)) == std::vector<double>{1, 1, 2});
  // A flat input widens by 1 each side.
  CHECK(vals(cpu::histc(make(DType::F64, {2}, {5, 5}), 2, 0, 0)) == std::vector<double>{0, 2});
  // Integer inputs (MoE expert counts): exact integer bins, counts in the input's dtype.
  const Tensor experts = make(DType::I32, {7}, {0, 3, 1, 1, 2, 3, 5});
  const Tensor h = cpu::histc(experts, 4, 0, 3);
  CHECK(h.dtype() == DType::I32);
  CHECK(vals(h) == std::vector<double>{1, 2, 1, 2});
  CHECK_THROWS_AS(cpu::histc(make(DType::Bool, {1}, {1}), 2, 0, 1), InputError);
  CHECK_THROWS_AS(cpu::histc(x, 0, 0, 1), InputError);
}

// ----------------------------------------------------------------------------------------------- conv

namespace {
// Naive double convolution (N, C, H, W), for checking.
std::vector<double> conv_ref(const Tensor& x, const Tensor& w, const Tensor* b, int64_t s, int64_t p, int64_t d, int64_t groups,
                             Shape& oshape) {
  const int64_t N = x.shape()[0], C = x.shape()[1], H = x.shape()[2], W = x.shape()[3];
  const int64_t O = w.shape()[0], KH = w.shape()[2], KW = w.shape()[3];
  const int64_t OH = (H + 2 * p - d * (KH - 1) - 1) / s + 1, OW = (W + 2 * p - d * (KW - 1) - 1) / s + 1;
  oshape = {N, O, OH, OW};
  std::vector<double> out;
  const int64_t cg = C / groups, og = O / groups;
  for (int64_t n = 0; n < N; ++n)
    for (int64_t o = 0; o < O; ++o)
      for (int64_t y = 0; y < OH; ++y)
        for (int64_t z = 0; z < OW; ++z) {
          double acc = b ? b->value_at(o) : 0.0;
          for (int64_t c = 0; c < cg; ++c)
            for (int64_t a = 0; a < KH; ++a)
              for (int64_t bb = 0; bb < KW; ++bb) {
                const int64_t r = y * s - p + a * d, q = z * s - p + bb * d;
                if (r < 0 || r >= H || q < 0 || q >= W) continue;
                const int64_t ci = (o / og) * cg + c;
                acc += x.value_at(((n * C + ci) * H + r) * W + q) * w.value_at(((o * cg + c) * KH + a) * KW + bb);
              }
          out.push_back(acc);
        }
  return out;
}
}  // namespace

TEST_CASE("heavy: convolution by hand: 3x3 input, 2x2 ones kernel, bias") {
  const Tensor x = make(DType::F32, {1, 1, 3, 3}, {1, 2, 3, 4, 5, 6, 7, 8, 9});
  const Tensor w = make(DType::F32, {1, 1, 2, 2}, {1, 1, 1, 1});
  const Tensor b = make(DType::F32, {1}, {0.5});
  const Tensor y = cpu::convolution(x, w, &b, {{1}, {0}, {1}, false, {}, 1}, 2);
  CHECK(y.shape() == Shape{1, 1, 2, 2});
  CHECK(vals(y) == std::vector<double>{12.5, 16.5, 24.5, 28.5});
  // Unbatched (C, H, W) input, padding 1, stride 2: corners see one 2x2 window each.
  const Tensor y2 = cpu::convolution(x.as_strided({1, 3, 3}, {9, 3, 1}, 0), w, nullptr, {{2}, {1}, {1}, false, {}, 1}, 1);
  CHECK(y2.shape() == Shape{1, 2, 2});
  CHECK(vals(y2) == std::vector<double>{1, 5, 11, 28});
}

TEST_CASE("heavy: convolution matches a double reference over strides, padding, dilation, groups") {
  struct Case { Shape x, w; int64_t s, p, d, g; bool bias; };
  const Case cases[] = {
      {{2, 3, 7, 9}, {8, 3, 3, 3}, 1, 1, 1, 1, true},     // odd sizes, im2col path
      {{1, 4, 8, 8}, {6, 2, 3, 3}, 2, 1, 1, 2, true},     // groups 2, stride 2
      {{1, 3, 11, 10}, {4, 3, 3, 3}, 1, 2, 2, 1, false},  // dilation 2
      {{2, 5, 6, 6}, {5, 1, 3, 3}, 1, 1, 1, 5, true},     // depthwise, direct path
      {{1, 64, 9, 9}, {32, 64, 1, 1}, 1, 0, 1, 1, false}, // 1x1, large K, im2col path
      {{1, 8, 16, 15}, {16, 8, 3, 3}, 1, 1, 1, 1, true},  // im2col path with padding
      {{3, 8, 12, 11}, {16, 8, 3, 3}, 1, 1, 1, 1, true},  // im2col path, three images in one matmul
      {{1, 1, 1, 1}, {1, 1, 1, 1}, 1, 0, 1, 1, true},     // size 1
      {{2, 32, 40, 40}, {32, 1, 3, 3}, 1, 1, 1, 32, true}, // depthwise, large enough to use the threads
  };
  for (const Case& c : cases) {
    CAPTURE(shape_str(c.x));
    CAPTURE(shape_str(c.w));
    const Tensor x = random_tensor(DType::F32, c.x, 1, "x"), w = random_tensor(DType::F32, c.w, 1, "w");
    const Tensor b = random_tensor(DType::F32, {c.w[0]}, 1, "b");
    Shape oshape;
    const std::vector<double> want = conv_ref(x, w, c.bias ? &b : nullptr, c.s, c.p, c.d, c.g, oshape);
    const cpu::ConvParams p{{c.s}, {c.p}, {c.d}, false, {}, c.g};
    const Tensor y1 = cpu::convolution(x, w, c.bias ? &b : nullptr, p, 1);
    CHECK(y1.shape() == oshape);
    CHECK(max_rel_err(y1, want) < 1e-5);
    CHECK(same_bits(y1, cpu::convolution(x, w, c.bias ? &b : nullptr, p, 3)));  // any thread count, same bits
  }
}

TEST_CASE("heavy: convolution 1-d (depthwise causal, as Qwen3-Next's short conv), bf16, bad arguments") {
  // (N=1, C=2, L=4), kernel 3, padding 2, groups 2: out[t] = sum_k w[k] x[t + k - 2], length 6.
  const Tensor x = make(DType::BF16, {1, 2, 4}, {1, 2, 3, 4, 10, 20, 30, 40});
  const Tensor w = make(DType::BF16, {2, 1, 3}, {1, 0, 0, 0, 0, 1});
  const Tensor y = cpu::convolution(x, w, nullptr, {{1}, {2}, {1}, false, {}, 2}, 2);
  CHECK(y.dtype() == DType::BF16);
  CHECK(y.shape() == Shape{1, 2, 6});
  CHECK(vals(y) == std::vector<double>{0, 0, 1, 2, 3, 4, 10, 20, 30, 40, 0, 0});
  CHECK_THROWS_AS(cpu::convolution(x, w, nullptr, {{1}, {0}, {1}, false, {}, 3}, 1), InputError);  // groups
  CHECK_THROWS_AS(cpu::convolution(x, w, nullptr, {{1}, {0}, {1}, true, {}, 2}, 1), InputError);   // transposed
  CHECK_THROWS_AS(cpu::convolution(x, make(DType::BF16, {2, 1, 9}, std::vector<double>(18, 1)), nullptr,
                                   {{1}, {0}, {1}, false, {}, 2}, 1), InputError);  // kernel larger than the input
}

// ----------------------------------------------------------------------------------------------- pool

TEST_CASE("heavy: max_pool2d values, indices and low-memory offsets") {
  // 4x4 input, 2x2 windows, stride 2.
  const Tensor x = make(DType::F32, {1, 1, 4, 4}, {1, 5, 2, 0, 3, 4, 8, 8, 0, 0, -1, -2, 9, 0, -3, -4});
  const cpu::PoolParams p{{2}, {2}, {0}, {1}, false};
  cpu::MaxPoolResult r = cpu::max_pool2d(x, p, false);
  CHECK(vals(r.values) == std::vector<double>{5, 8, 9, -1});
  CHECK(vals(r.indices) == std::vector<double>{1, 6, 12, 10});  // the first of equal maxima (8 at 6 and 7)
  r = cpu::max_pool2d(x, p, true);
  CHECK(r.indices.dtype() == DType::I8);
  CHECK(vals(r.indices) == std::vector<double>{1, 2, 2, 0});
  CHECK(vals(cpu::max_pool_offsets_to_indices(r.indices, {2, 2}, {4, 4}, {2, 2}, {0, 0}, {1, 1})) ==
        std::vector<double>{1, 6, 12, 10});
  // 3x3 stride 2 padding 1 (ResNet's stem pool) on 3x3: windows clipped by the padding; NaN wins.
  const Tensor y = make(DType::BF16, {1, 3, 3}, {1, 2, 3, 4, kNaN, 6, 7, 8, 9});
  r = cpu::max_pool2d(y, {{3}, {2}, {1}, {1}, false}, true);
  CHECK(r.values.shape() == Shape{1, 2, 2});
  CHECK(std::isnan(r.values.value_at(0)));
  CHECK(vals(r.indices) == std::vector<double>{8, 6, 2, 0});  // (1, 1) as an offset in each window
  // ceil_mode adds a last partial window.
  CHECK(cpu::max_pool2d(make(DType::F32, {1, 1, 5}, {1, 2, 3, 4, 5}), {{1, 2}, {1, 2}, {0}, {1}, true}, false).values.shape() ==
        Shape{1, 1, 3});
  // All -inf: the first in-bounds element's index, the value -inf.
  r = cpu::max_pool2d(make(DType::F32, {1, 1, 2}, {-kInf, -kInf}), {{1, 2}, {1, 2}, {0}, {1}, false}, false);
  CHECK(vals(r.indices) == std::vector<double>{0});
  CHECK(r.values.value_at(0) == -kInf);
  CHECK_THROWS_AS(cpu::max_pool2d(x, {{2}, {2}, {2}, {1}, false}, false), InputError);  // padding > half the kernel
}

TEST_CASE("heavy: avg_pool2d with and without counting the padding, adaptive_avg_pool2d") {
  const Tensor x = make(DType::F32, {1, 1, 2, 2}, {1, 2, 3, 4});
  // 2x2 windows, stride 1, padding 1: a 3x3 output; the corner sees only x[0][0].
  Tensor y = cpu::avg_pool2d(x, {{2}, {1}, {1}, {1}, false}, true, std::nullopt);
  CHECK(y.shape() == Shape{1, 1, 3, 3});
  CHECK(vals(y) == std::vector<double>{0.25, 0.75, 0.5, 1, 2.5, 1.5, 0.75, 1.75, 1});
  y = cpu::avg_pool2d(x, {{2}, {1}, {1}, {1}, false}, false, std::nullopt);
  CHECK(vals(y) == std::vector<double>{1, 1.5, 2, 2, 2.5, 3, 3, 3.5, 4});
  CHECK(vals(cpu::avg_pool2d(x, {{2}, {2}, {0}, {1}, false}, true, 2)) == std::vector<double>{5});
  // Adaptive 5 -> 2: windows [0, 3) and [2, 5).
  Tensor z = Tensor::empty(DType::F32, {1, 5, 5});
  for (int64_t i = 0; i < 25; ++i) z.data<float>()[i] = static_cast<float>(i);
  y = cpu::adaptive_avg_pool2d(z, {2, 2});
  CHECK(vals(y) == std::vector<double>{6, 8, 16, 18});
  CHECK(vals(cpu::adaptive_avg_pool2d(z, {1})) == std::vector<double>{12});
}

// ------------------------------------------------------------------------------------------ attention

namespace {
// Naive double attention: out (B, Hq, L, Ev) and lse (B, Hq, L).
void attn_ref(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor* mask, bool causal, double scale,
              std::vector<double>& out, std::vector<double>& lse) {
  const int64_t B = q.shape()[0], Hq = q.shape()[1], L = q.shape()[2], E = q.shape()[3];
  const int64_t Hk = k.shape()[1], S = k.shape()[2], Ev = v.shape()[3];
  const Tensor qc = q.contiguous(), kc = k.contiguous(), vc = v.contiguous();
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < Hq; ++h)
      for (int64_t i = 0; i < L; ++i) {
        const int64_t hk = h / (Hq / Hk);
        std::vector<double> s(static_cast<size_t>(S));
        double m = -kInf;
        for (int64_t j = 0; j < S; ++j) {
          double d = 0;
          for (int64_t e = 0; e < E; ++e) d += qc.value_at(((b * Hq + h) * L + i) * E + e) * kc.value_at(((b * Hk + hk) * S + j) * E + e);
          d *= scale;
          if (mask) {
            const double mv = mask->value_at(i * S + j);  // masks here are (L, S)
            d = mask->dtype() == DType::Bool ? (mv != 0 ? d : -kInf) : d + mv;
          }
          if (causal && j > i) d = -kInf;
          s[j] = d;
          m = std::max(m, d);
        }
        double l = 0;
        for (int64_t j = 0; j < S; ++j) l += std::exp(s[j] - m);
        for (int64_t c = 0; c < Ev; ++c) {
          double acc = 0;
          for (int64_t j = 0; j < S; ++j) acc += std::exp(s[j] - m) * vc.value_at(((b * Hk + hk) * S + j) * Ev + c);
          out.push_back(acc / l);
        }
        lse.push_back(m + std::log(l));
      }
}
}  // namespace

TEST_CASE("heavy: attention matches a double reference: causal, masks, GQA, scale, odd sizes") {
  struct Case { Shape q, k, v; bool causal; int mask; bool gqa; std::optional<double> scale; };
  const Case cases[] = {
      {{1, 2, 5, 8}, {1, 2, 5, 8}, {1, 2, 5, 8}, true, 0, false, std::nullopt},
      {{2, 4, 3, 16}, {2, 2, 7, 16}, {2, 2, 7, 5}, false, 1, true, 0.3},   // GQA, bool mask, Ev != E
      {{1, 1, 4, 3}, {1, 1, 4, 3}, {1, 1, 4, 3}, false, 2, false, std::nullopt},  // float mask
      {{1, 1, 1, 1}, {1, 1, 1, 1}, {1, 1, 1, 1}, true, 0, false, std::nullopt},   // size 1
      {{1, 4, 64, 32}, {1, 4, 64, 32}, {1, 4, 64, 32}, true, 2, false, std::nullopt},  // uses the threads
  };
  for (const Case& c : cases) {
    const Tensor q = random_tensor(DType::F32, c.q, 2, "q"), k = random_tensor(DType::F32, c.k, 2, "k"),
                 v = random_tensor(DType::F32, c.v, 2, "v");
    const int64_t L = c.q[2], S = c.k[2];
    Tensor mask;
    if (c.mask == 1) {
      mask = Tensor::empty(DType::Bool, {L, S});
      for (int64_t i = 0; i < L * S; ++i) mask.data<uint8_t>()[i] = (i % 3) != 1;  // no row fully masked
    } else if (c.mask == 2) {
      mask = random_tensor(DType::F32, {L, S}, 3, "mask");
    }
    cpu::AttentionParams p;
    p.mask = c.mask ? &mask : nullptr;
    p.causal = c.causal;
    p.scale = c.scale;
    p.enable_gqa = c.gqa;
    const cpu::AttentionResult r = cpu::attention(q, k, v, p, 1);
    std::vector<double> want, want_lse;
    attn_ref(q, k, v, p.mask, c.causal, c.scale ? *c.scale : 1.0 / std::sqrt(static_cast<double>(c.q[3])), want, want_lse);
    CHECK(r.out.shape() == Shape{c.q[0], c.q[1], L, c.v[3]});
    CHECK(max_rel_err(r.out, want) < 1e-5);
    CHECK(max_rel_err(r.lse, want_lse) < 1e-5);
    CHECK(same_bits(r.out, cpu::attention(q, k, v, p, 3).out));
  }
}

TEST_CASE("heavy: attention edge cases: bf16 output, fully masked rows, weights, non-contiguous, errors") {
  const Tensor q = random_tensor(DType::BF16, {1, 2, 3, 4}, 4, "q"), k = random_tensor(DType::BF16, {1, 2, 3, 4}, 4, "k");
  // v as a transposed view (non-contiguous).
  const Tensor vt = random_tensor(DType::BF16, {1, 2, 4, 3}, 4, "v");
  const Tensor v = vt.as_strided({1, 2, 3, 4}, {24, 12, 1, 3}, 0);
  Tensor mask = Tensor::empty(DType::Bool, {3, 3});
  for (int64_t i = 0; i < 9; ++i) mask.data<uint8_t>()[i] = i >= 3;  // row 0 fully masked
  cpu::AttentionParams p;
  p.mask = &mask;
  p.want_weights = true;
  const cpu::AttentionResult r = cpu::attention(q, k, v, p, 2);
  CHECK(r.out.dtype() == DType::BF16);
  CHECK(r.lse.dtype() == DType::F32);
  CHECK(vals(r.out)[0] == 0.0);
  CHECK(r.lse.value_at(0) == kInf);
  double row = 0;
  for (int64_t j = 0; j < 3; ++j) row += r.weights.value_at(3 + j);  // row 1 of head 0 sums to ~1
  CHECK(std::abs(row - 1.0) < 1e-2);
  std::vector<double> want, want_lse;
  attn_ref(q, k, v.contiguous(), nullptr, false, 0.5, want, want_lse);
  cpu::AttentionParams plain;
  CHECK(max_rel_err(cpu::attention(q, k, v, plain, 1).out, want) < 1e-2);  // bf16 output rounding
  const Tensor k3 = random_tensor(DType::BF16, {1, 3, 3, 4}, 4, "k3");
  CHECK_THROWS_AS(cpu::attention(q, k3, k3, plain, 1), InputError);  // 2 query heads, 3 kv heads
  cpu::AttentionParams drop;
  drop.dropout_p = 0.1;
  CHECK_THROWS_AS(cpu::attention(q, k, v, drop, 1), InputError);
}

TEST_CASE("heavy: the math variant adds a bool mask as 0 / 1, as PyTorch's _scaled_dot_product_attention_math does") {
  const Tensor q = random_tensor(DType::F32, {2, 4, 5, 8}, 6, "q"), k = random_tensor(DType::F32, {2, 2, 7, 8}, 6, "k"),
               v = random_tensor(DType::F32, {2, 2, 7, 8}, 6, "v");
  Tensor bmask = Tensor::empty(DType::Bool, {5, 7}), fmask = Tensor::empty(DType::F32, {5, 7});
  for (int64_t i = 0; i < 35; ++i) {
    bmask.data<uint8_t>()[i] = (i * 7) % 5 < 3;
    fmask.data<float>()[i] = bmask.data<uint8_t>()[i] ? 1.0f : 0.0f;
  }
  cpu::AttentionParams added, as_float, selecting;
  added.mask = &bmask;
  added.bool_mask_adds = true;
  as_float.mask = &fmask;
  selecting.mask = &bmask;
  added.enable_gqa = as_float.enable_gqa = selecting.enable_gqa = true;
  const Tensor a = cpu::attention(q, k, v, added, 1).out;
  CHECK(same_bits(a, cpu::attention(q, k, v, as_float, 1).out));
  CHECK_FALSE(same_bits(a, cpu::attention(q, k, v, selecting, 1).out));  // 0 / -inf: a different result
}

// ----------------------------------------------------------------------------------------- grouped mm

TEST_CASE("heavy: _grouped_mm in its four layouts against per-group matmuls") {
  const Tensor a = random_tensor(DType::F32, {5, 3}, 5, "a");
  const Tensor b3 = random_tensor(DType::F32, {3, 3, 4}, 5, "b3");
  const Tensor offs = make(DType::I32, {3}, {2, 2, 4});  // groups [0,2), [2,2) (empty), [2,4); row 4 unused
  const Tensor y = cpu::grouped_mm(a, b3, &offs, nullptr, std::nullopt, 2);
  CHECK(y.shape() == Shape{5, 4});
  auto dot = [](const Tensor& x, int64_t r, const Tensor& w, int64_t wbase, int64_t c) {
    double s = 0;
    for (int64_t kk = 0; kk < 3; ++kk) s += x.value_at(r * 3 + kk) * w.value_at(wbase + kk * 4 + c);
    return s;
  };
  CHECK(std::abs(y.value_at(1 * 4 + 2) - dot(a, 1, b3, 0, 2)) < 1e-5);       // row 1: group 0
  CHECK(std::abs(y.value_at(3 * 4 + 1) - dot(a, 3, b3, 2 * 12, 1)) < 1e-5);  // row 3: group 2
  CHECK(y.value_at(4 * 4) == 0.0);                                            // past the last offset
  // 3d x 3d is bmm; 3d x 2d splits columns; 2d x 2d splits k.
  const Tensor a3 = random_tensor(DType::BF16, {2, 2, 3}, 6, "a3"), bb3 = random_tensor(DType::BF16, {2, 3, 2}, 6, "bb3");
  CHECK(cpu::grouped_mm(a3, bb3, nullptr, nullptr, std::nullopt, 1).shape() == Shape{2, 2, 2});
  const Tensor b2 = random_tensor(DType::BF16, {3, 5}, 6, "b2");
  const Tensor cols = make(DType::I32, {2}, {3, 5});
  CHECK(cpu::grouped_mm(a3, b2, &cols, nullptr, std::nullopt, 1).shape() == Shape{2, 5});
  const Tensor a2 = random_tensor(DType::F32, {2, 4}, 7, "a2"), k2 = random_tensor(DType::F32, {4, 3}, 7, "k2");
  const Tensor ks = make(DType::I32, {2}, {1, 4});
  const Tensor g = cpu::grouped_mm(a2, k2, &ks, nullptr, std::nullopt, 1);
  CHECK(g.shape() == Shape{2, 2, 3});
  CHECK(std::abs(g.value_at(0) - a2.value_at(0) * k2.value_at(0)) < 1e-6);
  // Bad offsets: decreasing, too large, wrong dtype; missing offsets.
  const Tensor dec = make(DType::I32, {3}, {2, 1, 4}), big = make(DType::I32, {3}, {2, 2, 6}), i64 = make(DType::I64, {3}, {2, 2, 4});
  CHECK(error_of([&] { cpu::grouped_mm(a, b3, &dec, nullptr, std::nullopt, 1); }) ==
        "_grouped_mm offs[1] = 1 is out of range (offsets must be non-decreasing and at most 5)");
  CHECK_THROWS_AS(cpu::grouped_mm(a, b3, &big, nullptr, std::nullopt, 1), InputError);
  CHECK_THROWS_AS(cpu::grouped_mm(a, b3, &i64, nullptr, std::nullopt, 1), InputError);
  CHECK_THROWS_AS(cpu::grouped_mm(a, b3, nullptr, nullptr, std::nullopt, 1), InputError);
}

TEST_CASE("heavy: matmul_f32 gives the same bits for any thread count and strides") {
  // Large enough (M*N*K >= 2^20) for the threads to be used.
  const Tensor a = random_tensor(DType::F32, {151, 131}, 8, "a"), b = random_tensor(DType::F32, {131, 93}, 8, "b");
  const Tensor c1 = cpu::matmul_f32(a, b, 1);
  CHECK(same_bits(c1, cpu::matmul_f32(a, b, 3)));
  const Tensor bt = b.contiguous();
  const Tensor btt = tr(tr(bt).contiguous());  // same values, column-major strides
  CHECK(same_bits(c1, cpu::matmul_f32(a, btt, 2)));
  // Few columns take the transposed route (C^T = B^T A^T): the same bits as the first columns of a wide product.
  const Tensor b3 = b.as_strided({131, 3}, b.strides(), b.offset());
  const Tensor narrow = cpu::matmul_f32(a, b3, 2);
  const Tensor wide = cpu::matmul_f32(a, b.as_strided({131, 40}, b.strides(), b.offset()), 2);
  CHECK(same_bits(narrow, wide.as_strided({151, 3}, wide.strides(), 0)));
  // The contract itself: each element summed over k in increasing order, a separate multiply and add (no fma),
  // whichever ISA kernel (AVX-512, AVX2, baseline) this machine picks.
  const Tensor ac = a.contiguous();
  for (int64_t i : {0, 75, 150})
    for (int64_t j : {0, 46, 92}) {
      float acc = 0.0f;
      for (int64_t kk = 0; kk < 131; ++kk) {
        volatile float p = static_cast<float>(ac.value_at(i * 131 + kk)) * static_cast<float>(bt.value_at(kk * 93 + j));
        acc = acc + p;
      }
      CAPTURE(i);
      CAPTURE(j);
      CHECK(static_cast<float>(c1.value_at(i * 93 + j)) == acc);
    }
}

// ------------------------------------------------------------------------------------- registry rows

TEST_CASE("heavy rows: argsort, _unsafe_index, _unsafe_index_put and adaptive_avg_pool2d through the registry") {
  ExecContext ctx;
  SymbolValues syms;
  ctx.symbols = &syms;
  ctx.threads = 1;
  const Tensor x = make(DType::F32, {5}, {3, 1, 2, 1, 0});
  KernelArgs in;
  in.args = {Value::of(x)};
  in.kwargs = {{"stable", Value::boolean(true)}, {"descending", Value::boolean(true)}};
  CHECK(vals(call_op("aten.argsort.stable", in, ctx).tensor) == std::vector<double>{0, 2, 1, 3, 4});
  in = {{Value::of(x), Value::integer(0)}, {}};
  CHECK(vals(call_op("aten.argsort.default", in, ctx).tensor) == std::vector<double>{4, 1, 3, 2, 0});
  const Tensor idx = make(DType::I64, {2}, {4, -5});
  in = {{Value::of(x), Value::list({Value::of(idx)})}, {}};
  CHECK(vals(call_op("aten._unsafe_index.Tensor", in, ctx).tensor) == std::vector<double>{0, 3});
  in = {{Value::of(x), Value::list({Value::of(idx)}), Value::of(make(DType::F32, {2}, {7, 8})), Value::boolean(true)}, {}};
  CHECK(vals(call_op("aten._unsafe_index_put.default", in, ctx).tensor) == std::vector<double>{11, 1, 2, 1, 7});
  Tensor z = Tensor::empty(DType::F32, {1, 5, 5});
  for (int64_t i = 0; i < 25; ++i) z.data<float>()[i] = static_cast<float>(i);
  in = {{Value::of(z), Value::list({Value::integer(2), Value::integer(2)})}, {}};
  CHECK(vals(call_op("aten.adaptive_avg_pool2d.default", in, ctx).tensor) == std::vector<double>{6, 8, 16, 18});
}
