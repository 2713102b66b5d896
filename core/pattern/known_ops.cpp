// The table of known op names (PyTorch's aten/prims ops that post-grad graphs use, Python's operator
// functions, vLLM's custom ops) and the check behind `patterns --lint`'s typo finding.
#include "core/pattern/known_ops.h"

#include <algorithm>
#include <map>
#include <set>
#include <sstream>

namespace fxopt {
namespace {

// One line per op: "name overload overload ...". aten: the ops of native_functions.yaml that appear in
// post-grad (Inductor-decomposed) graphs, and their overloads; an op missing here is reported as a warning
// only, unless it is one edit away from a listed one (a typo).
constexpr std::string_view kAten = R"(
abs default out
acos default
acosh default
add Tensor Scalar out Scalar_out
addcdiv default
addcmul default
addmm default out
addmv default
alias default
all default dim dims
amax default out
amin default out
aminmax default
any default dim dims
arange default start start_step start_out
argmax default
argmin default
argsort default stable
as_strided default
as_strided_copy default
asin default
asinh default
atan default
atan2 default
atanh default
avg_pool2d default
baddbmm default
bernoulli default p
bitwise_and Tensor Scalar
bitwise_left_shift Tensor Tensor_Scalar
bitwise_not default
bitwise_or Tensor Scalar
bitwise_right_shift Tensor Tensor_Scalar
bitwise_xor Tensor Scalar
bmm default out
bucketize Tensor
cat default out
ceil default
chunk default
clamp default Tensor
clamp_max default Tensor
clamp_min default Tensor
clone default
constant_pad_nd default
contiguous default
convolution default
copy default
copy_ default
copysign Tensor Scalar
cos default
cosh default
count_nonzero default dim_IntList
cumprod default
cumsum default
detach default
diagonal default
diagonal_copy default
div Tensor Scalar Tensor_mode Scalar_mode
dot default
einsum default
elu default
embedding default
empty memory_format
empty_like default
empty_strided default
eq Tensor Scalar
erf default
erfinv default
exp default
exp2 default
expand default
expand_as default
expand_copy default
expm1 default
fill Scalar Tensor
fill_ Scalar Tensor
flatten using_ints
flip default
floor default
floor_divide default
fmax default
fmin default
fmod Tensor Scalar
frac default
full default
full_like default
gather default
ge Tensor Scalar
gelu default
group_norm default
gt Tensor Scalar
hardsigmoid default
hardswish default
hardtanh default
histc default
index Tensor
index_add default
index_copy default
index_put default
index_put_ default
index_select default
isin Tensor_Tensor
isinf default
isnan default
item default
layer_norm default
le Tensor Scalar
leaky_relu default
lerp Scalar Tensor
lift_fresh_copy default
linalg_vector_norm default
linear default
log default
log10 default
log1p default
log2 default
log_softmax int
logical_and default
logical_not default
logical_or default
logical_xor default
logsumexp default
lt Tensor Scalar
masked_fill Scalar Tensor
masked_scatter default
matmul default
max default dim other
max_pool2d_with_indices default
maximum default
mean default dim
min default dim other
minimum default
mish default
mm default out
mul Tensor Scalar out
mv default
nan_to_num default
narrow default
native_dropout default
native_group_norm default
native_layer_norm default
ne Tensor Scalar
neg default
new_empty default
new_full default
new_ones default
new_zeros default
nonzero default
norm Scalar ScalarOpt_dim
ones default
ones_like default
permute default
permute_copy default
pow Tensor_Scalar Tensor_Tensor Scalar
prod default dim_int
rand default
rand_like default
randint default low
randn default
randn_like default
reciprocal default
relu default
remainder Tensor Scalar
repeat default
repeat_interleave Tensor self_int self_Tensor
reshape default
roll default
round default decimals
rsqrt default
rsub Tensor Scalar
scalar_tensor default
scaled_dot_product_attention default
scatter src value reduce value_reduce
scatter_add default
searchsorted Tensor
select int
select_copy int
select_scatter default
sigmoid default
sign default
signbit default
silu default
sin default
sinh default
slice Tensor
slice_copy Tensor
slice_scatter default
softmax int
softplus default
sort default stable
split Tensor
split_copy Tensor
split_with_sizes default
split_with_sizes_copy default
sqrt default
square default
squeeze default dim dims
squeeze_copy default dim dims
stack default
std correction
sub Tensor Scalar
sum default dim_IntList
sym_numel default
sym_size int
sym_storage_offset default
sym_stride int
sym_constrain_range default
sym_constrain_range_for_size default
t default
t_copy default
tanh default
to dtype device dtype_layout other
topk default
transpose int
transpose_copy int
tril default
triu default
trunc default
type_as default
unbind int
unbind_copy int
unflatten int
unsqueeze default
unsqueeze_copy default
upsample_nearest2d default vec
var default correction dim
var_mean correction
view default dtype
view_as default
view_as_complex default
view_as_real default
view_copy default
where self ScalarSelf ScalarOther Scalar
zeros default
zeros_like default
_assert_async default msg
_assert_scalar default
_embedding_bag default
_grouped_mm default
_local_scalar_dense default
_log_softmax default
_native_batch_norm_legit_functional default
_native_batch_norm_legit_no_training default
_reshape_alias default
_scaled_dot_product_cudnn_attention default
_scaled_dot_product_efficient_attention default
_scaled_dot_product_flash_attention default
_scaled_mm default
_softmax default
_to_copy default
_unsafe_view default
)";

constexpr std::string_view kPrims = R"(
abs default
add default
amax default
amin default
broadcast_in_dim default
collapse_view default
convert_element_type default
device_put default
div default
exp default
fma default
inductor_lookup_seed default
inductor_random default
inductor_randint default
inductor_seeds default
_low_memory_max_pool_offsets_to_indices default
_low_memory_max_pool_with_offsets default
prepare_softmax_online default
iota default
mul default
neg default
prod default
reshape default
rsqrt default
split_dim default
sqrt default
squeeze default
sub default
sum default
transpose default
var default
view_of default
where default
)";

// Python's operator module (SymInt arithmetic, getitem): "_operator.NAME", no overload.
constexpr std::string_view kOperator =
    "abs add and_ eq floordiv ge getitem gt invert le lshift lt matmul mod mul ne neg not_ or_ pos pow rshift "
    "sub truediv xor";

// vLLM's custom ops (direct_register_custom_op: overload "default"), including the ROCm/AITER ones and the
// fused ops fxopt emits. vLLM adds ops often: an op missing here is a warning, not an error.
constexpr std::string_view kVllm =
    "all_reduce dynamic_per_token_scaled_fp8_quant dynamic_scaled_fp8_quant fused_add_rms_norm "
    "fused_add_rms_norm_static_fp8_quant gelu_and_mul moe_forward per_token_group_fp8_quant rms_norm "
    "rms_norm_dynamic_per_token_quant rms_norm_static_fp8_quant rocm_aiter_act_mul_and_fp8_group_quant "
    "rocm_aiter_fused_rms_gated_fp8_group_quant rocm_aiter_group_fp8_quant rocm_aiter_per_tensor_quant "
    "rocm_aiter_per_token_quant rocm_aiter_rms_norm "
    "rocm_aiter_rmsnorm2d_fwd_with_add rocm_aiter_rmsnorm_fp8_group_quant rocm_aiter_rmsnorm_fused_add_dynamic_quant "
    "rocm_aiter_rmsnorm_fused_dynamic_quant rocm_aiter_rmsnorm_with_add_fp8_group_quant rotary_embedding "
    "silu_and_mul silu_and_mul_per_block_quant silu_and_mul_quant static_scaled_fp8_quant unified_attention "
    "unified_attention_with_output";

constexpr std::string_view kHigherOrder =
    "auto_functionalized auto_functionalized_v2 cond flex_attention invoke_subgraph map_impl "
    "triton_kernel_wrapper_functional triton_kernel_wrapper_mutation while_loop with_effects";

// Namespaces whose targets are Python callables ("torch.sym_max", "math.floor") or that fxopt does not list.
const std::set<std::string, std::less<>> kUnlistedNamespaces = {"torch", "math", "builtins", "operator",
                                                                 "_c10d_functional", "c10d_functional",
                                                                 "quantized", "fbgemm", "inductor", "triton"};

using Table = std::map<std::string, std::vector<std::string>, std::less<>>;

Table parse_lines(std::string_view text) {
  Table t;
  std::istringstream in{std::string(text)};
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream ls(line);
    std::string name, ov;
    if (!(ls >> name)) continue;
    auto& v = t[name];
    while (ls >> ov) v.push_back(ov);
  }
  return t;
}

Table parse_words(std::string_view text, const char* overload) {
  Table t;
  std::istringstream in{std::string(text)};
  std::string w;
  while (in >> w) t[w] = overload ? std::vector<std::string>{overload} : std::vector<std::string>{};
  return t;
}

struct Namespaces {
  std::map<std::string, Table, std::less<>> complete;  // an op missing here is an error
  std::map<std::string, Table, std::less<>> partial;   // an op missing here is a warning
};

const Namespaces& namespaces() {
  static const Namespaces ns = [] {
    Namespaces n;
    n.complete["aten"] = parse_lines(kAten);
    n.complete["prims"] = parse_lines(kPrims);
    n.complete["_operator"] = parse_words(kOperator, nullptr);
    n.partial["vllm"] = parse_words(kVllm, "default");
    n.partial["higher_order"] = parse_words(kHigherOrder, nullptr);
    return n;
  }();
  return ns;
}

std::vector<std::string> split_dots(std::string_view s) {
  std::vector<std::string> out(1);
  for (char c : s) {
    if (c == '.') out.emplace_back();
    else out.back() += c;
  }
  return out;
}

std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : ", ") + x;
  return s;
}

}  // namespace

size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j)
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)});
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

OpCheckResult check_op_name(std::string_view target, const std::vector<std::string>& extra) {
  OpCheckResult r;
  for (const auto& e : extra)
    if (e == target) return r;
  auto parts = split_dots(target);
  for (const auto& p : parts)
    if (p.empty()) {
      r.kind = OpCheck::BadShape;
      r.detail = "expected \"namespace.op.overload\" (torch.ops) or \"_operator.name\"";
      return r;
    }
  const auto& ns = namespaces();
  const std::string& space = parts[0];
  auto cit = ns.complete.find(space);
  auto pit = ns.partial.find(space);
  const Table* table = cit != ns.complete.end() ? &cit->second : pit != ns.partial.end() ? &pit->second : nullptr;
  if (!table) {
    if (parts.size() < 2) {
      r.kind = OpCheck::BadShape;
      r.detail = "expected \"namespace.op.overload\" (torch.ops) or \"_operator.name\"";
    } else if (!kUnlistedNamespaces.count(space)) {
      r.kind = OpCheck::UnknownNamespace;
      std::string known;
      for (const auto& [k, v] : ns.complete) known += (known.empty() ? "" : ", ") + k;
      for (const auto& [k, v] : ns.partial) known += ", " + k;
      r.detail = "known namespaces: " + known;
    }
    return r;
  }
  const bool no_overload = space == "_operator" || space == "higher_order";
  if (parts.size() != (no_overload ? 2u : 3u)) {
    r.kind = OpCheck::BadShape;
    r.detail = no_overload ? "expected \"" + space + ".name\"" : "expected \"" + space + ".op.overload\"";
    if (!no_overload && parts.size() == 2) {
      auto it = table->find(parts[1]);
      if (it != table->end() && !it->second.empty()) r.suggestion = space + "." + parts[1] + "." + it->second.front();
    }
    return r;
  }
  auto it = table->find(parts[1]);
  if (it != table->end()) {
    if (no_overload) return r;
    const auto& ovs = it->second;
    if (std::find(ovs.begin(), ovs.end(), parts[2]) != ovs.end()) return r;
    r.kind = OpCheck::UnknownOverload;
    r.detail = space + "." + parts[1] + " has overloads " + join(ovs);
    size_t best = SIZE_MAX;
    for (const auto& o : ovs) {
      size_t d = edit_distance(o, parts[2]);
      if (d < best) { best = d; r.suggestion = space + "." + parts[1] + "." + o; }
    }
    if (best > parts[2].size() / 2) r.suggestion = space + "." + parts[1] + "." + ovs.front();  // no near one: the main
    return r;
  }
  // Unknown op: the nearest known names (a typo is at most one edit per four characters away).
  size_t best = SIZE_MAX;
  std::string best_name;
  for (const auto& [name, ovs] : *table) {
    size_t d = edit_distance(name, parts[1]);
    if (d < best) { best = d; best_name = name; }
  }
  // Suggestions also consider the extra targets of this namespace.
  for (const auto& e : extra) {
    auto ep = split_dots(e);
    if (ep.size() >= 2 && ep[0] == space) {
      size_t d = edit_distance(ep[1], parts[1]);
      if (d < best) { best = d; best_name = ep[1]; }
    }
  }
  size_t limit = std::max<size_t>(1, parts[1].size() / 4);
  bool close = best <= limit;
  r.kind = cit != ns.complete.end() && close ? OpCheck::UnknownOp : OpCheck::UnlistedOp;
  if (cit != ns.complete.end() && !close) r.kind = OpCheck::UnlistedOp;
  if (close) {
    auto bit = table->find(best_name);
    std::string ov = no_overload ? "" : "." + (bit != table->end() && !bit->second.empty()
                                                  ? (std::find(bit->second.begin(), bit->second.end(), parts[2]) !=
                                                             bit->second.end()
                                                         ? parts[2]
                                                         : bit->second.front())
                                                  : parts[2]);
    r.suggestion = space + "." + best_name + ov;
  }
  return r;
}

}  // namespace fxopt
