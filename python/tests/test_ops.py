"""The reference vLLM ops compute fxopt's bit-exact definition: equal, bit for bit, to the decomposed math."""
import unittest

import common

if common.torch_ok():
    import torch
    from torch._subclasses.fake_tensor import FakeTensorMode
    from torch.fx.experimental.symbolic_shapes import ShapeEnv

    import models
    import tutil
    from fxopt import ops

DEVICES = ["cpu"] + (["cuda"] if common.cuda_ok() else [])


def rand(*shape, device, seed=0, scale=1.0):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(*shape, generator=g) * scale).to(torch.bfloat16).to(device)


@unittest.skipUnless(common.torch_ok(), "needs PyTorch 2.x")
class ReferenceOps(unittest.TestCase):
    def setUp(self):
        self.owner = ops.register()
        ops.set_fp8_dtype(None)
        ops.set_impl("eager")

    def tearDown(self):
        ops.set_fp8_dtype(None)
        ops.set_impl("eager")

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
                    w = rand(512, device=device, seed=5)
                    q, s = torch.ops.vllm.rocm_aiter_rmsnorm_fused_dynamic_quant(y, w, 1e-5,
                                                                                torch.float8_e4m3fnuz)
                    yf = y.float()
                    n = (yf * torch.rsqrt(yf.pow(2).mean(-1, keepdim=True) + 1e-5) * w.float()).to(y.dtype)
                    q_ref, s_ref = models.per_token_quant(n, torch.float8_e4m3fnuz)
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


if __name__ == "__main__":
    unittest.main()
