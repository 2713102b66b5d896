"""The reference vLLM ops compute fxopt's bit-exact definition: equal, bit for bit, to the decomposed math."""
import unittest

import common

if common.torch_ok():
    import torch
    from torch._subclasses.fake_tensor import FakeTensorMode
    from torch.fx.experimental.symbolic_shapes import ShapeEnv

    import models
    import tutil
    import vllm_native
    from fxopt import ops

DEVICES = ["cpu"] + (["cuda"] if common.cuda_ok() else [])


def rand(*shape, device, seed=0, scale=1.0):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(*shape, generator=g) * scale).to(torch.bfloat16).to(device)


class OpsCase(unittest.TestCase):
    """The reference ops registered, the platform fp8 dtype and the eager implementation for every test."""

    def setUp(self):
        self.owner = ops.register()
        ops.set_fp8_dtype(None)
        ops.set_impl("eager")

    def tearDown(self):
        ops.set_fp8_dtype(None)
        ops.set_impl("eager")

    def need(self, key):
        if self.owner.get(key) != "fxopt":
            self.skipTest(f"vLLM provides {key}")


@unittest.skipUnless(common.torch_ok(), "needs PyTorch 2.x")
class ReferenceOps(OpsCase):
    def test_registered_under_vllm_with_the_right_schema(self):
        for name in ops.SCHEMAS:
            self.assertIn(self.owner[name], ("fxopt", "vllm"))
            op = getattr(torch.ops.vllm, name).default
            self.assertEqual(str(op), ops.qualified(name))
        if self.owner[ops.FUSED_RMS_GATED] == "fxopt":
            schema = str(torch.ops.vllm.rocm_aiter_fused_rms_gated_fp8_group_quant.default._schema)
            self.assertIn("Tensor? bias", schema)
            self.assertIn("int group_size", schema)
        self.assertEqual(ops.register(), self.owner)   # idempotent

    def test_fused_equals_decomposed_math_bit_for_bit(self):
        if self.owner[ops.FUSED_RMS_GATED] != "fxopt":
            self.skipTest("vLLM provides the op")
        for device in DEVICES:
            for dtype in (torch.float8_e4m3fn, torch.float8_e4m3fnuz):
                for heads, tokens in ((32, 16), (16, 7)):
                    with self.subTest(device=device, dtype=dtype, heads=heads, tokens=tokens):
                        ops.set_fp8_dtype(dtype)
                        x = rand(tokens * heads, 128, device=device, seed=1, scale=3)
                        z = rand(tokens * heads, 128, device=device, seed=2, scale=3)
                        w = rand(128, device=device, seed=3)
                        q, s = torch.ops.vllm.rocm_aiter_fused_rms_gated_fp8_group_quant(
                            x, w, None, z, 1e-6, True, "silu", 128)
                        y = models.gated_rms_norm(x, z, w, eps=1e-6).view(-1, heads * 128)
                        q_ref, s_ref = models.group_quant(y, 128, dtype)
                        self.assertEqual(q.dtype, dtype)
                        self.assertEqual(tuple(q.shape), (tokens * heads, 128))
                        self.assertEqual(tuple(s.shape), (tokens * heads, 1))
                        self.assertTrue(tutil.same_bits(q.view(tokens, heads * 128), q_ref))
                        self.assertTrue(tutil.same_bits(s.view(tokens, heads), s_ref))

    def test_group_quant_and_rmsnorm_dynamic_quant(self):
        for device in DEVICES:
            with self.subTest(device=device):
                y = rand(9, 512, device=device, seed=4, scale=5)
                if self.owner[ops.GROUP_QUANT] == "fxopt":
                    ops.set_fp8_dtype(torch.float8_e4m3fn)
                    q, s = torch.ops.vllm.rocm_aiter_group_fp8_quant(y, 128)
                    q_ref, s_ref = models.group_quant(y, 128, torch.float8_e4m3fn)
                    self.assertTrue(tutil.same_bits(q, q_ref))
                    self.assertTrue(tutil.same_bits(s, s_ref))
                if self.owner[ops.RMSNORM_DYNAMIC_QUANT] == "fxopt":
                    # vLLM's order (normed value rounded to bf16 before the weight multiply), per-token scale,
                    # multiply by its reciprocal: the native chain the op replaces.
                    w = rand(512, device=device, seed=5)
                    q, s = torch.ops.vllm.rocm_aiter_rmsnorm_fused_dynamic_quant(y, w, 1e-5,
                                                                                torch.float8_e4m3fnuz)
                    q_ref, s_ref = vllm_native.per_token_quant(vllm_native.rms_norm(y, w, 1e-5), torch.float8_e4m3fnuz)
                    self.assertEqual(tuple(s.shape), (9, 1))
                    self.assertTrue(tutil.same_bits(q, q_ref))
                    self.assertTrue(tutil.same_bits(s, s_ref))

    def test_fake_functions_follow_shapes_and_the_fp8_setting(self):
        mode = FakeTensorMode(shape_env=ShapeEnv())
        x = mode.from_tensor(torch.empty(64, 128, dtype=torch.bfloat16))
        w = mode.from_tensor(torch.empty(128, dtype=torch.bfloat16))
        with mode:
            ops.set_fp8_dtype(torch.float8_e4m3fnuz)
            q, s = torch.ops.vllm.rocm_aiter_fused_rms_gated_fp8_group_quant(x, w, None, x, 1e-6, True,
                                                                             "silu", 128)
            q2, s2 = torch.ops.vllm.rocm_aiter_rmsnorm_fused_dynamic_quant(x, w, 1e-6, torch.float8_e4m3fn)
        self.assertEqual(q.dtype, torch.float8_e4m3fnuz)
        self.assertEqual(tuple(q.shape), (64, 128))
        self.assertEqual(tuple(s.shape), (64, 1))
        self.assertEqual(s.dtype, torch.float32)
        self.assertEqual(q2.dtype, torch.float8_e4m3fn)
        self.assertEqual(s2.shape[1], 1)

    def test_refuses_bad_group_and_activation(self):
        x = rand(4, 128, device="cpu")
        with self.assertRaisesRegex(Exception, "multiple of group_size"):
            torch.ops.vllm.rocm_aiter_group_fp8_quant(x, 96)
        with self.assertRaisesRegex(Exception, "activation"):
            torch.ops.vllm.rocm_aiter_fused_rms_gated_fp8_group_quant(x, x[0], None, x, 1e-6, True, "gelu", 128)
        with self.assertRaises(ValueError):
            ops.set_fp8_dtype(torch.float16)

    @unittest.skipUnless(common.cuda_ok(), "the inductor implementation runs on CUDA")
    def test_inductor_impl_matches_the_compiled_decomposed_graph(self):
        if self.owner[ops.FUSED_RMS_GATED] != "fxopt":
            self.skipTest("vLLM provides the op")
        tutil.configure_inductor()

        def decomposed(x, z, w):
            return models.group_quant(models.gated_rms_norm(x, z, w, eps=1e-6).view(-1, 4096), 128,
                                      torch.float8_e4m3fn)

        compiled = torch.compile(decomposed, dynamic=False)
        ops.set_fp8_dtype(torch.float8_e4m3fn)
        for tokens in (16, 5, 100):
            x = rand(tokens * 32, 128, device="cuda", seed=tokens, scale=3)
            z = rand(tokens * 32, 128, device="cuda", seed=tokens + 1, scale=3)
            w = rand(128, device="cuda", seed=7)
            torch._dynamo.mark_dynamic(x, 0)
            torch._dynamo.mark_dynamic(z, 0)
            q_c, s_c = compiled(x, z, w)
            results = {}
            for impl in ("eager", "inductor"):
                ops.set_impl(impl)
                q, s = torch.ops.vllm.rocm_aiter_fused_rms_gated_fp8_group_quant(x, w, None, z, 1e-6, True,
                                                                                 "silu", 128)
                results[impl] = (tutil.differing_fraction(q.view(tokens, 4096), q_c),
                                 tutil.differing_fraction(s.view(tokens, 32), s_c))
            print(f"\n[ops] tokens={tokens}: differing fraction vs compiled graph (q, scale): {results}")
            self.assertEqual(results["inductor"], (0.0, 0.0))


@unittest.skipUnless(common.torch_ok(), "needs PyTorch 2.x")
class RmsNormQuantFamilyOps(OpsCase):
    """The RMSNorm (+ residual) -> FP8 family: fxopt.ops's _C and AITER reference ops compute vLLM's native forms
    (python/tests/vllm_native.py), bit for bit, except the _C per-token kernel's division (one fp8 code)."""

    FAMILY = (ops.ADD_RMSNORM_DYNAMIC_QUANT, ops.RMSNORM_GROUP_QUANT, ops.ADD_RMSNORM_GROUP_QUANT) if common.torch_ok() else ()
    C_OPS = tuple(f"_C.{n}" for n in ops.C_SCHEMAS) if common.torch_ok() else ()

    def inputs(self, device, tokens=7, hidden=512, seed=0):
        x = rand(tokens, hidden, device=device, seed=seed, scale=2)
        r = rand(tokens, hidden, device=device, seed=seed + 1, scale=2)
        w = rand(hidden, device=device, seed=seed + 2)
        return x, r, w

    def test_registered_once_with_vllms_schemas(self):
        for name in self.FAMILY:
            self.assertIn(self.owner[name], ("fxopt", "vllm"))
        for key in self.C_OPS:
            self.assertIn(self.owner[key], ("fxopt", "vllm"))
            op = getattr(torch.ops._C, key.split(".")[1]).default
            self.assertEqual(str(op), ops.qualified(key))
            if self.owner[key] == "fxopt":
                self.assertTrue(op._schema.is_mutable)
        self.assertEqual(ops.register(), self.owner)   # idempotent: no second registration
        self.assertEqual(ops.qualified("_C.rms_norm_per_block_quant"), "_C.rms_norm_per_block_quant.default")

    def test_c_static_ops_equal_the_native_chain(self):
        self.need("_C.rms_norm_static_fp8_quant")
        for device in DEVICES:
            for fp8 in (torch.float8_e4m3fn, torch.float8_e4m3fnuz):
                with self.subTest(device=device, fp8=fp8):
                    x, r, w = self.inputs(device)
                    scale = torch.full((1, 1), 0.0123, device=device)
                    q = torch.empty(x.shape, dtype=fp8, device=device)
                    torch.ops._C.rms_norm_static_fp8_quant(q, x, w, scale, 1e-6)
                    q_ref = vllm_native.static_quant(vllm_native.rms_norm(x, w, 1e-6), scale, fp8)
                    self.assertTrue(tutil.same_bits(q, q_ref))
                    res = r.clone()
                    torch.ops._C.fused_add_rms_norm_static_fp8_quant(q, x, res, w, scale, 1e-5)
                    y_ref, r_ref = vllm_native.fused_add_rms_norm(x, r, w, 1e-5)
                    self.assertTrue(tutil.same_bits(q, vllm_native.static_quant(y_ref, scale, fp8)))
                    self.assertTrue(tutil.same_bits(res, r_ref))    # the residual argument is written in place

    def test_c_per_token_divides_within_one_code_of_the_native_chain(self):
        self.need("_C.rms_norm_dynamic_per_token_quant")
        for device in DEVICES:
            x, r, w = self.inputs(device, tokens=33, hidden=1024)
            q = torch.empty(x.shape, dtype=torch.float8_e4m3fn, device=device)
            s = torch.empty(33, 1, device=device)
            res = r.clone()
            torch.ops._C.rms_norm_dynamic_per_token_quant(q, x, w, s, 1e-6, None, res)
            y_ref, r_ref = vllm_native.fused_add_rms_norm(x, r, w, 1e-6)
            q_ref, s_ref = vllm_native.per_token_quant(y_ref, torch.float8_e4m3fn)
            self.assertTrue(tutil.same_bits(s, s_ref))
            self.assertTrue(tutil.same_bits(res, r_ref))
            step = (q.view(torch.uint8).int() - q_ref.view(torch.uint8).int()).abs().max()
            self.assertLessEqual(int(step), 1)
            # exactly the division: q = fp8(clamp(y / s))
            q_div = (y_ref.float() / s_ref).clamp(-448, 448).to(torch.float8_e4m3fn)
            self.assertTrue(tutil.same_bits(q, q_div))
            # scale_ub bounds amax before the scale
            ub = torch.full((1,), 0.5, device=device)
            torch.ops._C.rms_norm_dynamic_per_token_quant(q, x, w, s, 1e-6, ub, None)
            amax = vllm_native.rms_norm(x, w, 1e-6).abs().amax(-1, keepdim=True).float()
            self.assertTrue(tutil.same_bits(s, (torch.minimum(amax, ub) / 448.0).clamp_min(1 / (448.0 * 512))))

    def test_c_per_block_and_aiter_group_ops_equal_the_native_chain(self):
        self.need("_C.rms_norm_per_block_quant")
        for device in DEVICES:
            for group in (64, 128):
                with self.subTest(device=device, group=group):
                    x, r, w = self.inputs(device, tokens=5, hidden=1024, seed=group)
                    y_ref, r_ref = vllm_native.fused_add_rms_norm(x, r, w, 1e-6)
                    q_ref, s_ref = vllm_native.group_quant(y_ref, group, torch.float8_e4m3fn)
                    q = torch.empty(x.shape, dtype=torch.float8_e4m3fn, device=device)
                    s = torch.empty(1024 // group, 5, device=device).t()        # column-major scales
                    res = r.clone()
                    torch.ops._C.rms_norm_per_block_quant(q, x, w, s, 1e-6, None, res, group, True)
                    self.assertTrue(tutil.same_bits(q, q_ref))
                    self.assertTrue(tutil.same_bits(s.contiguous(), s_ref))
                    self.assertTrue(tutil.same_bits(res, r_ref))
                    if self.owner[ops.ADD_RMSNORM_GROUP_QUANT] == "fxopt":
                        ops.set_fp8_dtype(torch.float8_e4m3fnuz)
                        q2, r2, s2 = torch.ops.vllm.rocm_aiter_rmsnorm_with_add_fp8_group_quant(x, r, w, 1e-6, group)
                        q2_ref, s2_ref = vllm_native.group_quant(y_ref, group, torch.float8_e4m3fnuz)
                        self.assertTrue(tutil.same_bits(q2, q2_ref) and tutil.same_bits(s2, s2_ref))
                        self.assertTrue(tutil.same_bits(r2, r_ref))
                        q3, s3 = torch.ops.vllm.rocm_aiter_rmsnorm_fp8_group_quant(x, w, 1e-6, group)
                        q3_ref, s3_ref = vllm_native.group_quant(vllm_native.rms_norm(x, w, 1e-6), group,
                                                                 torch.float8_e4m3fnuz)
                        self.assertTrue(tutil.same_bits(q3, q3_ref) and tutil.same_bits(s3, s3_ref))
                        ops.set_fp8_dtype(None)

    def test_aiter_fused_add_per_token_multiplies_by_the_reciprocal(self):
        self.need(ops.ADD_RMSNORM_DYNAMIC_QUANT)
        x, r, w = self.inputs("cpu", tokens=9, hidden=768)
        q, r_out, s = torch.ops.vllm.rocm_aiter_rmsnorm_fused_add_dynamic_quant(x, r, w, 1e-6, torch.float8_e4m3fnuz)
        y_ref, r_ref = vllm_native.fused_add_rms_norm(x, r, w, 1e-6)
        q_ref, s_ref = vllm_native.per_token_quant(y_ref, torch.float8_e4m3fnuz)
        self.assertTrue(tutil.same_bits(q, q_ref) and tutil.same_bits(s, s_ref) and tutil.same_bits(r_out, r_ref))

    def test_auto_functionalized_runs_the_c_ops_without_touching_the_inputs(self):
        self.need("_C.fused_add_rms_norm_static_fp8_quant")
        x, r, w = self.inputs("cpu")
        scale = torch.full((1, 1), 0.02)
        buf = torch.empty(x.shape, dtype=torch.float8_e4m3fn)
        r_before = r.clone()
        out = torch.ops.higher_order.auto_functionalized(
            torch.ops._C.fused_add_rms_norm_static_fp8_quant.default, result=buf, input=x, residual=r, weight=w,
            scale=scale, epsilon=1e-6)
        y_ref, r_ref = vllm_native.fused_add_rms_norm(x, r_before, w, 1e-6)
        self.assertTrue(tutil.same_bits(out[1], vllm_native.static_quant(y_ref, scale, torch.float8_e4m3fn)))
        self.assertTrue(tutil.same_bits(out[2], r_ref))
        self.assertTrue(tutil.same_bits(r, r_before))        # functional: the residual argument is unchanged

    def test_unfused_opaque_ops_equal_the_native_forms(self):
        self.need("_C.rms_norm")
        x, r, w = self.inputs("cpu")
        out = torch.empty_like(x)
        torch.ops._C.rms_norm(out, x, w, 1e-6)
        self.assertTrue(tutil.same_bits(out, vllm_native.rms_norm(x, w, 1e-6)))
        xi, ri = x.clone(), r.clone()
        torch.ops._C.fused_add_rms_norm(xi, ri, w, 1e-6)          # both written in place
        y_ref, r_ref = vllm_native.fused_add_rms_norm(x, r, w, 1e-6)
        self.assertTrue(tutil.same_bits(xi, y_ref) and tutil.same_bits(ri, r_ref))
        if self.owner.get("vllm_ir.rms_norm") == "fxopt":
            self.assertTrue(tutil.same_bits(torch.ops.vllm_ir.rms_norm(x, w, 1e-6), vllm_native.rms_norm(x, w, 1e-6)))
            y2, r2 = torch.ops.vllm_ir.fused_add_rms_norm(x, r, w, 1e-6)
            self.assertTrue(tutil.same_bits(y2, y_ref) and tutil.same_bits(r2, r_ref))
            with self.assertRaisesRegex(Exception, "variance_size"):
                torch.ops.vllm_ir.rms_norm(x, w, 1e-6, 64)
        fp8 = torch.float8_e4m3fn
        q, s = torch.empty(x.shape, dtype=fp8), torch.empty(7, 1)
        torch.ops._C.dynamic_per_token_scaled_fp8_quant(q, y_ref, s, None)
        q_ref, s_ref = vllm_native.per_token_quant(y_ref, fp8)
        self.assertTrue(tutil.same_bits(s, s_ref))
        self.assertLessEqual(int((q.view(torch.uint8).int() - q_ref.view(torch.uint8).int()).abs().max()), 1)
        scale = torch.full((1, 1), 0.03)
        torch.ops._C.static_scaled_fp8_quant(q, y_ref, scale)
        self.assertTrue(tutil.same_bits(q, vllm_native.static_quant(y_ref, scale, fp8)))

    def test_fake_functions_give_shapes_and_dtypes(self):
        mode = FakeTensorMode(shape_env=ShapeEnv())
        x = mode.from_tensor(torch.empty(64, 256, dtype=torch.bfloat16))
        w = mode.from_tensor(torch.empty(256, dtype=torch.bfloat16))
        q = mode.from_tensor(torch.empty(64, 256, dtype=torch.float8_e4m3fn))
        s = mode.from_tensor(torch.empty(64, 2, dtype=torch.float32))
        with mode:
            ops.set_fp8_dtype(torch.float8_e4m3fnuz)
            outs = torch.ops.vllm.rocm_aiter_rmsnorm_with_add_fp8_group_quant(x, x, w, 1e-6, 128)
            outs2 = torch.ops.vllm.rocm_aiter_rmsnorm_fused_add_dynamic_quant(x, x, w, 1e-6, torch.float8_e4m3fn)
            self.assertIsNone(torch.ops._C.rms_norm_per_block_quant(q, x, w, s, 1e-6, None, x, 128, False))
        self.assertEqual([o.dtype for o in outs], [torch.float8_e4m3fnuz, torch.bfloat16, torch.float32])
        self.assertEqual(tuple(outs[2].shape), (64, 2))
        self.assertEqual([tuple(o.shape) for o in outs2], [(64, 256), (64, 256), (64, 1)])
        self.assertEqual(outs2[0].dtype, torch.float8_e4m3fn)

    def test_refuses_mixed_weight_dtype_and_bad_groups(self):
        self.need("_C.rms_norm_static_fp8_quant")
        x, r, w = self.inputs("cpu")
        q = torch.empty(x.shape, dtype=torch.float8_e4m3fn)
        with self.assertRaisesRegex(Exception, "weight dtype"):
            torch.ops._C.rms_norm_static_fp8_quant(q, x, w.float(), torch.ones(1, 1), 1e-6)
        with self.assertRaisesRegex(Exception, "multiple of group_size"):
            torch.ops._C.rms_norm_per_block_quant(q, x, w, torch.empty(7, 5), 1e-6, None, None, 96, False)


def silu_and_mul_native(x):
    """SiluAndMul.forward_native (`F.silu(x[..., :d]) * x[..., d:]`) as its post-grad graph computes it (spec
    vllm-fusions.md 9.1): slice, float32, x / (1 + exp(-x)), back to x.dtype, multiplied by the up half in x.dtype."""
    d = x.shape[-1] // 2
    c = x[..., :d].to(torch.float32)
    return (c / (torch.exp(-c) + 1)).to(x.dtype) * x[..., d:]


@unittest.skipUnless(common.torch_ok(), "needs PyTorch 2.x")
class SiluMulQuantFamilyOps(OpsCase):
    """The SiLU-and-mul -> FP8 family: fxopt.ops's _C and AITER reference ops compute SiLU-and-mul then vLLM's
    native static / group quant (python/tests/vllm_native.py), bit for bit."""

    C_OPS = ("_C.silu_and_mul", "_C.silu_and_mul_quant", "_C.silu_and_mul_per_block_quant")

    def inputs(self, device, tokens=7, hidden=256, seed=0):
        """x (tokens, 2*hidden) with a zero row, an inf/NaN row and a huge row among random ones."""
        x = rand(tokens, 2 * hidden, device=device, seed=seed, scale=3)
        x[0] = 0
        x[1, ::3] = float("inf")
        x[1, 1::3] = float("-inf")
        x[1, hidden + 5] = float("nan")
        x[2] = 3e38
        return x

    def test_registered_once_with_vllms_schemas(self):
        self.assertIn(self.owner[ops.ACT_MUL_GROUP_QUANT], ("fxopt", "vllm"))
        self.assertIn(ops.ACT_MUL_GROUP_QUANT, ops.PLATFORM_DTYPE_OPS)
        for key in self.C_OPS:
            self.assertIn(self.owner[key], ("fxopt", "vllm"))
            op = getattr(torch.ops._C, key.split(".")[1]).default
            self.assertEqual(str(op), ops.qualified(key))
            if self.owner[key] == "fxopt":
                self.assertTrue(op._schema.is_mutable)
        if self.owner["_C.silu_and_mul_per_block_quant"] == "fxopt":
            names = [a.name for a in torch.ops._C.silu_and_mul_per_block_quant.default._schema.arguments]
            self.assertEqual(names, ["out", "input", "scales", "group_size", "scale_ub", "is_scale_transposed"])
        self.assertEqual(ops.register(), self.owner)   # idempotent

    def test_c_and_aiter_ops_equal_the_native_chain(self):
        self.need("_C.silu_and_mul_per_block_quant")
        for device in DEVICES:
            for fp8 in (torch.float8_e4m3fn, torch.float8_e4m3fnuz):
                for group in (64, 128):
                    with self.subTest(device=device, fp8=fp8, group=group):
                        x = self.inputs(device, seed=group)
                        y_ref = silu_and_mul_native(x)
                        y = torch.empty(7, 256, dtype=torch.bfloat16, device=device)
                        torch.ops._C.silu_and_mul(y, x)
                        self.assertTrue(tutil.same_bits(y, y_ref))
                        scale = torch.full((1, 1), 0.0123, device=device)
                        q = torch.empty(7, 256, dtype=fp8, device=device)
                        torch.ops._C.silu_and_mul_quant(q, x, scale)
                        self.assertTrue(tutil.same_bits(q, vllm_native.static_quant(y_ref, scale, fp8)))
                        q_ref, s_ref = vllm_native.group_quant(y_ref, group, fp8)
                        s = torch.empty(7, 256 // group, device=device)
                        torch.ops._C.silu_and_mul_per_block_quant(q, x, s, group, None, False)
                        self.assertTrue(tutil.same_bits(q, q_ref) and tutil.same_bits(s, s_ref))
                        st = torch.empty(256 // group, 7, device=device).t()     # column-major scales
                        torch.ops._C.silu_and_mul_per_block_quant(q, x, st, group, None, True)
                        self.assertTrue(tutil.same_bits(q, q_ref) and tutil.same_bits(st.contiguous(), s_ref))
                        if self.owner[ops.ACT_MUL_GROUP_QUANT] == "fxopt":
                            ops.set_fp8_dtype(fp8)
                            q2, s2 = torch.ops.vllm.rocm_aiter_act_mul_and_fp8_group_quant(x, group)
                            self.assertTrue(tutil.same_bits(q2, q_ref) and tutil.same_bits(s2, s_ref))
                            ops.set_fp8_dtype(None)

    def test_nd_inputs_are_rows_of_the_last_dim(self):
        self.need(ops.ACT_MUL_GROUP_QUANT)
        x = self.inputs("cpu", tokens=6)
        q, s = torch.ops.vllm.rocm_aiter_act_mul_and_fp8_group_quant(x.view(2, 3, 512), 128)
        q_ref, s_ref = vllm_native.group_quant(silu_and_mul_native(x), 128, ops.fp8_dtype())
        self.assertEqual((tuple(q.shape), tuple(s.shape)), ((2, 3, 256), (2, 3, 2)))
        self.assertTrue(tutil.same_bits(q.view(6, 256), q_ref) and tutil.same_bits(s.view(6, 2), s_ref))

    def test_auto_functionalized_runs_the_c_ops_without_touching_the_buffers(self):
        self.need("_C.silu_and_mul_per_block_quant")
        x = self.inputs("cpu")
        out = torch.zeros(7, 256, dtype=torch.float8_e4m3fn)
        scales = torch.zeros(7, 2)
        res = torch.ops.higher_order.auto_functionalized(
            torch.ops._C.silu_and_mul_per_block_quant.default, out=out, input=x, scales=scales, group_size=128,
            scale_ub=None, is_scale_transposed=False)
        q_ref, s_ref = vllm_native.group_quant(silu_and_mul_native(x), 128, torch.float8_e4m3fn)
        self.assertTrue(tutil.same_bits(res[1], q_ref) and tutil.same_bits(res[2], s_ref))
        self.assertEqual(int(scales.abs().sum()), 0)        # functional: the buffers are unchanged

    def test_fake_functions_give_shapes_and_dtypes(self):
        mode = FakeTensorMode(shape_env=ShapeEnv())
        x = mode.from_tensor(torch.empty(64, 512, dtype=torch.bfloat16))
        q = mode.from_tensor(torch.empty(64, 256, dtype=torch.float8_e4m3fn))
        s = mode.from_tensor(torch.empty(64, 4, dtype=torch.float32))
        with mode:
            ops.set_fp8_dtype(torch.float8_e4m3fnuz)
            q2, s2 = torch.ops.vllm.rocm_aiter_act_mul_and_fp8_group_quant(x, 64)
            self.assertIsNone(torch.ops._C.silu_and_mul_per_block_quant(q, x, s, 64, None, False))
        self.assertEqual((q2.dtype, tuple(q2.shape)), (torch.float8_e4m3fnuz, (64, 256)))
        self.assertEqual((s2.dtype, tuple(s2.shape)), (torch.float32, (64, 4)))

    def test_refuses_odd_last_dim_bad_groups_and_scale_ub(self):
        self.need("_C.silu_and_mul_per_block_quant")
        x = self.inputs("cpu")
        q = torch.empty(7, 256, dtype=torch.float8_e4m3fn)
        with self.assertRaisesRegex(Exception, "must be even"):
            torch.ops._C.silu_and_mul(torch.empty(7, 128, dtype=torch.bfloat16), x[:, :257])
        with self.assertRaisesRegex(Exception, "multiple of group_size"):
            torch.ops._C.silu_and_mul_per_block_quant(q, x, torch.empty(7, 3), 96, None, False)
        with self.assertRaisesRegex(Exception, "scale_ub"):
            torch.ops._C.silu_and_mul_per_block_quant(q, x, torch.empty(7, 2), 128, torch.ones(1), False)
        with self.assertRaisesRegex(Exception, "differs from the input"):
            torch.ops._C.silu_and_mul(torch.empty(7, 256), x)


@unittest.skipUnless(common.torch_ok(), "needs PyTorch 2.x")
class QkNormRopeFamilyOps(OpsCase):
    """The QK-norm + RoPE family: fxopt.ops's _C.rotary_embedding equals vLLM's native RoPE, and
    _C.fused_qk_norm_rope the unfused chain (split, per-head native RMSNorm, RoPE), bit for bit."""

    C_OPS = ("_C.rotary_embedding", "_C.fused_qk_norm_rope")

    @staticmethod
    def positions(tokens, rows, device):
        p = [(rows - 1) if i == 0 else 0 if i == 1 else (i * 5 + 3) % rows for i in range(tokens)]
        return torch.tensor(p, dtype=torch.int64, device=device)

    def test_registered_once_with_vllms_schemas(self):
        for key in self.C_OPS:
            self.assertIn(self.owner[key], ("fxopt", "vllm"))
            op = getattr(torch.ops._C, key.split(".")[1]).default
            self.assertEqual(str(op), ops.qualified(key))
            if self.owner[key] == "fxopt":
                self.assertTrue(op._schema.is_mutable)
        if self.owner["_C.fused_qk_norm_rope"] == "fxopt":
            names = [a.name for a in torch.ops._C.fused_qk_norm_rope.default._schema.arguments]
            self.assertEqual(names, ["qkv", "num_heads_q", "num_heads_k", "num_heads_v", "head_dim", "eps",
                                     "q_weight", "k_weight", "cos_sin_cache", "is_neox", "position_ids"])
        self.assertEqual(ops.register(), self.owner)   # idempotent

    def test_rotary_embedding_equals_the_native_chain(self):
        self.need("_C.rotary_embedding")
        for device in DEVICES:
            for is_neox in (True, False):
                for cache_dtype in (torch.bfloat16, torch.float32):
                    for rot in (64, 32):
                        for tokens in (1, 7):
                            with self.subTest(device=device, neox=is_neox, cache=cache_dtype, rot=rot, tokens=tokens):
                                q = rand(tokens, 4 * 64, device=device, seed=1, scale=2)
                                k = rand(tokens, 2 * 64, device=device, seed=2, scale=2)
                                cache = rand(16, rot, device=device, seed=3).to(cache_dtype)
                                pos = self.positions(tokens, 16, device)
                                q_ref, k_ref = vllm_native.rotary_embedding(pos, q, k, 64, rot, cache, is_neox)
                                q2, k2 = q.clone(), k.clone()
                                torch.ops._C.rotary_embedding(pos, q2, k2, 64, cache, is_neox)
                                self.assertTrue(tutil.same_bits(q2, q_ref) and tutil.same_bits(k2, k_ref))
                                self.assertFalse(tutil.same_bits(q2, q))      # something was rotated
                                q3 = q.clone()
                                torch.ops._C.rotary_embedding(pos, q3, None, 64, cache, is_neox)
                                self.assertTrue(tutil.same_bits(q3, q_ref))

    def test_fused_qk_norm_rope_equals_the_unfused_chain(self):
        self.need("_C.fused_qk_norm_rope")
        hq, hk, d = 4, 2, 64
        for device in DEVICES:
            for is_neox in (True, False):
                for tokens in (1, 7):
                    with self.subTest(device=device, neox=is_neox, tokens=tokens):
                        qkv = rand(tokens, (hq + 2 * hk) * d, device=device, seed=4, scale=2)
                        if tokens > 1:
                            qkv[0, :d] = 0
                            qkv[0, d:2 * d:3] = float("inf")
                            qkv[1, d + 5] = float("nan")
                            qkv[1, :d] = 3e38
                        qw = rand(d, device=device, seed=5)
                        kw = rand(1, d, device=device, seed=6)
                        cache = rand(16, d, device=device, seed=7)
                        pos = self.positions(tokens, 16, device)
                        q, k, v = qkv.split([hq * d, hk * d, hk * d], dim=-1)
                        qn = vllm_native.rms_norm(q.reshape(tokens, hq, d), qw, 1e-6).reshape(tokens, hq * d)
                        kn = vllm_native.rms_norm(k.reshape(tokens, hk, d), kw, 1e-6).reshape(tokens, hk * d)
                        q_ref, k_ref = vllm_native.rotary_embedding(pos, qn, kn, d, d, cache, is_neox)
                        out = qkv.clone()
                        torch.ops._C.fused_qk_norm_rope(out, hq, hk, hk, d, 1e-6, qw, kw, cache, is_neox, pos)
                        q2, k2, v2 = out.split([hq * d, hk * d, hk * d], dim=-1)
                        self.assertTrue(tutil.same_bits(q2.contiguous(), q_ref))
                        self.assertTrue(tutil.same_bits(k2.contiguous(), k_ref))
                        self.assertTrue(tutil.same_bits(v2.contiguous(), v.contiguous()))

    def test_auto_functionalized_leaves_qkv_alone(self):
        self.need("_C.fused_qk_norm_rope")
        qkv = rand(5, 8 * 64, device="cpu", seed=8)
        before = qkv.clone()
        w = rand(64, device="cpu", seed=9)
        cache = rand(16, 64, device="cpu", seed=10)
        res = torch.ops.higher_order.auto_functionalized(
            torch.ops._C.fused_qk_norm_rope.default, qkv=qkv, num_heads_q=4, num_heads_k=2, num_heads_v=2,
            head_dim=64, eps=1e-6, q_weight=w, k_weight=w, cos_sin_cache=cache, is_neox=True,
            position_ids=torch.arange(5))
        self.assertTrue(tutil.same_bits(qkv, before))
        self.assertFalse(tutil.same_bits(res[1], before))

    def test_refuses_bad_rotary_dim_offsets_and_widths(self):
        self.need("_C.rotary_embedding")
        self.need("_C.fused_qk_norm_rope")
        q = rand(4, 128, device="cpu", seed=11)
        pos = torch.zeros(4, dtype=torch.int64)
        with self.assertRaisesRegex(Exception, "must be even"):
            torch.ops._C.rotary_embedding(pos, q, None, 64, torch.zeros(16, 33, dtype=torch.bfloat16), True)
        with self.assertRaisesRegex(Exception, "exceeds"):
            torch.ops._C.rotary_embedding(pos, q, None, 64, torch.zeros(16, 66, dtype=torch.bfloat16), True)
        with self.assertRaisesRegex(Exception, "rope_dim_offset"):
            torch.ops._C.rotary_embedding(pos, q, None, 64, torch.zeros(16, 64, dtype=torch.bfloat16), True, 2, False)
        with self.assertRaisesRegex(Exception, "num_heads_v"):
            torch.ops._C.fused_qk_norm_rope(q, 1, 1, 1, 64, 1e-6, q[0, :64], q[0, :64],
                                            torch.zeros(16, 64, dtype=torch.bfloat16), True, pos)


@unittest.skipUnless(common.torch_ok(), "needs PyTorch 2.x")
class E2eModels(unittest.TestCase):
    """The decoders of python/tools/e2e_rms_norm_quant.py run eagerly (small hidden sizes, CPU)."""

    def test_every_variant_runs_eagerly(self):
        import dataclasses
        import importlib.util
        import os
        path = os.path.join(common.PYTHON_DIR, "tools", "e2e_rms_norm_quant.py")
        spec = importlib.util.spec_from_file_location("e2e_rms_norm_quant", path)
        e2e = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(e2e)
        ops.register()                        # the custom-op spellings call the _C / vllm_ir reference ops
        for v in e2e.variants():
            with self.subTest(variant=v.name):
                small = dataclasses.replace(v, hidden=v.hidden // 4 if v.hidden % 1024 == 0 else v.hidden)
                model = vllm_native.Decoder(small, device="cpu")
                with torch.no_grad():
                    outs = model(vllm_native.inputs(small, 5, device="cpu"))
                per_layer = {"static": 1, "token": 2, "group": 2, "token+group": 4}[v.quant]
                self.assertEqual(len(outs), 2 + per_layer * v.layers)
                self.assertEqual(tuple(outs[0].shape), (5, small.hidden))
                self.assertEqual(outs[2].dtype, v.fp8)
                self.assertTrue(all(bool(torch.isfinite(o.float()).all()) for o in outs[:2]))

    def test_every_mlp_variant_runs_eagerly(self):
        """python/tools/e2e_silu_mul_quant.py's MLPs (the SiLU-and-mul family), small sizes."""
        import dataclasses
        import importlib.util
        import os
        path = os.path.join(common.PYTHON_DIR, "tools", "e2e_silu_mul_quant.py")
        spec = importlib.util.spec_from_file_location("e2e_silu_mul_quant", path)
        e2e = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(e2e)
        ops.register()                        # the custom-op spellings call the _C reference ops
        for v in e2e.variants():
            with self.subTest(variant=v.name):
                small = dataclasses.replace(v, hidden=256, inter=v.inter // 4 if v.inter % 1024 == 0 else v.inter)
                model = vllm_native.model(small, device="cpu")
                self.assertIsInstance(model, vllm_native.Mlp)
                with torch.no_grad():
                    outs = model(vllm_native.inputs(small, 5, device="cpu"))
                self.assertEqual(len(outs), 1 + {"static": 1, "group": 2}[v.quant] * v.layers)
                self.assertEqual(tuple(outs[0].shape), (5, 256))
                self.assertEqual(tuple(outs[1].shape), (5, small.inter))
                self.assertEqual(outs[1].dtype, v.fp8)
                self.assertTrue(bool(torch.isfinite(outs[0].float()).all()))

    def test_every_qk_norm_rope_variant_runs_eagerly(self):
        """python/tools/e2e_qk_norm_rope.py's attention fronts (the QK-norm + RoPE family), small sizes; the native
        and the custom-op rotary embedding give the same bits (the _C reference op is the native chain)."""
        import dataclasses
        import importlib.util
        import os
        path = os.path.join(common.PYTHON_DIR, "tools", "e2e_qk_norm_rope.py")
        spec = importlib.util.spec_from_file_location("e2e_qk_norm_rope", path)
        e2e = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(e2e)
        ops.register()                        # the custom-op spelling calls the _C reference op
        results = {}
        for v in e2e.variants():
            with self.subTest(variant=v.name):
                small = dataclasses.replace(v, hidden=256, heads_q=4, head_dim=64, max_position=64,
                                            rotary_dim=v.rotary_dim // 2)
                model = vllm_native.model(small, device="cpu")
                self.assertIsInstance(model, vllm_native.QkNormRope)
                with torch.no_grad():
                    outs = model(vllm_native.inputs(small, 5, device="cpu"))
                self.assertEqual(len(outs), 1 + 2 * v.layers)
                self.assertEqual(tuple(outs[0].shape), (5, 256))
                if v.attn_heads:
                    self.assertEqual(tuple(outs[1].shape), (5, 4, 64))
                    self.assertEqual(tuple(outs[2].shape), (5, small.heads_k, 64))
                else:
                    self.assertEqual(tuple(outs[1].shape), (5, 256))
                    self.assertEqual(tuple(outs[2].shape), (5, small.heads_k * 64))
                self.assertTrue(all(o.dtype == torch.bfloat16 for o in outs))
                self.assertTrue(bool(torch.isfinite(outs[0].float()).all()))
                key = (v.neox, v.heads_k, v.rotary_dim, v.cache_dtype, v.attn_heads)
                if key in results:
                    for a, b in zip(results[key], outs):
                        self.assertTrue(torch.equal(a, b), f"{v.name}: native and custom-op RoPE differ")
                results[key] = outs
        with self.assertRaisesRegex(ValueError, "heads_q"):
            vllm_native.model(dataclasses.replace(e2e.variants()[0], hidden=512), device="cpu")


if __name__ == "__main__":
    unittest.main()
