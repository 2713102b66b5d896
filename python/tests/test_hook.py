"""The torch.compile hook: export, run the binary, swap the graph in place; errors surface; dry run reports.

Runs against the Python test double (tests/fake_fxopt.py) always, and against the real binary
(build/fxopt or $FXOPT_BIN) once `fxopt rewrite` / `fxopt match` are implemented.
"""
import unittest

import common

if common.torch_ok():
    import fxopt
    import models
    import tutil
    from fxopt import ops


def run_pair(v, hook, tokens=(16, 5, 33), base=True):
    """Outputs compiled without (unless base=False) and with the hook (same weights, same inputs)."""
    model = models.GatedBlock(v)
    inputs = lambda n: models.inputs(v, n)  # noqa: E731
    base = tutil.compile_and_run(model, tokens, inputs) if base else None
    with tutil.post_grad_pass(hook):
        hooked = tutil.compile_and_run(model, tokens, inputs)
    return base, hooked


@unittest.skipUnless(common.cuda_ok(), "needs PyTorch 2.x with CUDA (torch.compile + Inductor)")
class HookWithTestDouble(unittest.TestCase):
    def setUp(self):
        tutil.configure_inductor()
        ops.register()
        ops.set_impl("inductor")
        ops.set_fp8_dtype(None)
        self.v = models.Variant("hook", layers=2)

    def tearDown(self):
        ops.set_impl("eager")
        ops.set_fp8_dtype(None)

    def test_rewrites_in_place_and_outputs_are_bit_identical(self):
        hook = fxopt.post_grad_pass(common.FAKE_FXOPT)
        base, hooked = run_pair(self.v, hook)
        self.assertEqual(len(hook.history), 1, "one compile for all token counts (dynamic dim)")
        rec = hook.history[0]
        self.assertNotIn("error", rec)
        self.assertEqual(rec["fused"], {ops.qualified(ops.FUSED_RMS_GATED): 2})
        self.assertLess(rec["nodes_after"], rec["nodes_before"])
        for a, b in zip(base, hooked):
            self.assertTrue(tutil.same_bits(a, b))

    def test_binary_failure_stops_compilation_with_its_message(self):
        hook = fxopt.post_grad_pass(common.FAKE_FXOPT, extra_args=["--fail"])
        with self.assertRaisesRegex(Exception, "asked to fail"):
            run_pair(self.v, hook, tokens=(16,), base=False)

    def test_on_error_warn_keeps_the_graph(self):
        hook = fxopt.post_grad_pass(common.FAKE_FXOPT, extra_args=["--fail"], on_error="warn")
        with self.assertWarnsRegex(UserWarning, "left unchanged"):
            base, hooked = run_pair(self.v, hook, tokens=(16,))
        self.assertIn("asked to fail", hook.history[0]["error"])
        self.assertTrue(tutil.same_bits(base[0], hooked[0]))

    def test_missing_binary_is_an_error_not_a_fallback(self):
        hook = fxopt.post_grad_pass("/nonexistent/fxopt")
        with self.assertRaisesRegex(Exception, "cannot run fxopt"):
            run_pair(self.v, hook, tokens=(16,), base=False)

    def test_a_rewrite_that_fused_nothing_leaves_the_graph(self):
        hook = fxopt.post_grad_pass(common.FAKE_FXOPT, extra_args=["--leak-silu"])
        base, hooked = run_pair(self.v, hook, tokens=(16,))
        self.assertIs(hook.history[0]["swapped"], False)
        self.assertEqual(hook.history[0]["fused"], {})
        self.assertTrue(tutil.same_bits(base[0], hooked[0]))

    def test_ops_inductor_cannot_lower_are_refused_by_name(self):
        hook = fxopt.post_grad_pass(common.FAKE_FXOPT, extra_args=["--leak-silu"], swap="always")
        with self.assertRaisesRegex(Exception, r"cannot lower after decomposition: \w+ = aten\.silu\.default"):
            run_pair(self.v, hook, tokens=(16,), base=False)

    def test_verify_passes_verify_regions_and_swaps_when_it_agrees(self):
        hook = fxopt.post_grad_pass(common.FAKE_FXOPT, verify=True)
        base, hooked = run_pair(self.v, hook, tokens=(16,))
        rec = hook.history[0]
        self.assertTrue(rec["verify"])
        self.assertIn("--verify=regions: every rewrite agrees", rec["stderr"])
        self.assertTrue(rec["swapped"])
        self.assertTrue(tutil.same_bits(base[0], hooked[0]))

    def test_a_failed_verification_keeps_the_graph_or_raises(self):
        hook = fxopt.post_grad_pass(common.FAKE_FXOPT, verify=True, extra_args=["--verify-fails"], on_error="warn")
        with self.assertWarnsRegex(UserWarning, "a rewrite differs"):
            base, hooked = run_pair(self.v, hook, tokens=(16,))
        self.assertNotIn("swapped", hook.history[0])
        self.assertTrue(tutil.same_bits(base[0], hooked[0]))
        hook = fxopt.post_grad_pass(common.FAKE_FXOPT, verify=True, extra_args=["--verify-fails"])
        with self.assertRaisesRegex(Exception, "a rewrite differs"):
            run_pair(self.v, hook, tokens=(16,), base=False)

    def test_dry_run_logs_the_report_and_leaves_the_graph(self):
        hook = fxopt.post_grad_pass(common.FAKE_FXOPT, dry_run=True)
        with self.assertLogs("fxopt", level="INFO") as logs:
            base, hooked = run_pair(self.v, hook, tokens=(16,))
        self.assertEqual(hook.history[0]["matches"], 2)
        self.assertTrue(any("2 match(es)" in line for line in logs.output))
        self.assertNotIn("fused", hook.history[0])
        self.assertTrue(tutil.same_bits(base[0], hooked[0]))


@unittest.skipUnless(common.cuda_ok() and common.fxopt_has("rewrite"),
                     "needs CUDA and an fxopt binary with `rewrite` (build/fxopt or $FXOPT_BIN)")
class HookWithRealBinary(unittest.TestCase):
    def setUp(self):
        tutil.configure_inductor()
        ops.register()
        ops.set_impl("inductor")

    def tearDown(self):
        ops.set_impl("eager")
        ops.set_fp8_dtype(None)

    def test_fuses_the_corpus_model_and_is_bit_identical(self):
        v = models.Variant("real", layers=2)
        hook = fxopt.post_grad_pass(common.fxopt_binary())
        base, hooked = run_pair(v, hook)
        self.assertEqual(hook.history[0].get("fused"), {ops.qualified(ops.FUSED_RMS_GATED): 2},
                         hook.history[0])
        for a, b in zip(base, hooked):
            self.assertTrue(tutil.same_bits(a, b))

    def test_verify_with_the_real_binary(self):
        v = models.Variant("real_verify", layers=2)
        hook = fxopt.post_grad_pass(common.fxopt_binary(), verify=True)
        base, hooked = run_pair(v, hook, tokens=(16,))
        rec = hook.history[0]
        self.assertIn("--verify=regions: every rewrite agrees", rec.get("stderr", ""), rec)
        self.assertEqual(rec.get("fused"), {ops.qualified(ops.FUSED_RMS_GATED): 2}, rec)
        self.assertTrue(tutil.same_bits(base[0], hooked[0]))

    @unittest.skipUnless(common.fxopt_has("match"), "needs `fxopt match`")
    def test_dry_run_with_the_real_binary(self):
        v = models.Variant("real_dry", layers=2)
        hook = fxopt.post_grad_pass(common.fxopt_binary(), dry_run=True)
        run_pair(v, hook, tokens=(16,))
        self.assertEqual(hook.history[0].get("matches"), 2, hook.history[0])


if __name__ == "__main__":
    unittest.main()
