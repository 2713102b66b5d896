"""export -> load round trips on graphs from make_fx, a torch.compile backend, torch.export and Inductor's
post-grad pass: same printed code, same document; plus what export reports and load refuses."""
import json
import operator
import os
import re
import unittest
import warnings

import common

if common.torch_ok():
    import torch
    from torch.fx.experimental.proxy_tensor import make_fx

    import fxopt
    import models
    import tutil
    from fxopt import exporter, fxgraph_json, importer

DEVICE = "cuda" if common.cuda_ok() else "cpu"


def layer_fn(x, z, w, proj):
    v = models.Variant("make_fx", layers=1)
    hr, zr = torch.relu(x), torch.relu(z)
    y = models.gated_rms_norm(hr.view(-1, v.heads, v.head_dim).view(-1, v.head_dim),
                              zr.view(-1, v.heads, v.head_dim).view(-1, v.head_dim), w, eps=1e-6)
    q, s = models.group_quant(y.view(-1, v.hidden), 128, torch.float8_e4m3fn)
    return hr + models.dequant(q, s, 128) @ proj


@unittest.skipUnless(common.torch_ok(), "needs PyTorch 2.x")
class RoundTrips(unittest.TestCase):
    def setUp(self):
        tutil.configure_inductor()
        self.v = models.Variant("rt", layers=2)
        self.model = models.GatedBlock(self.v, device=DEVICE)
        self.x, self.z = models.inputs(self.v, 16, device=DEVICE)

    def check(self, graph, root=None, meta_keys=("val",)):
        """export -> fxopt fmt (when built) -> load: same printed code, same document, no problems."""
        binary = common.fxopt_binary() if common.fxopt_has("fmt") else None
        r = tutil.round_trip(graph, root=root, meta_keys=meta_keys, binary=binary)
        self.assertEqual(r["code"][1], r["code"][0])
        self.assertEqual(r["json"][1], r["json"][0])
        self.assertEqual(r["problems"], [])
        if binary is not None:
            self.assertTrue(r["fmt_same"], "fxopt fmt changed a canonical document")
        return r

    def test_make_fx_symbolic(self):
        w, proj = self.model.norm_w[0], self.model.proj
        gm = make_fx(layer_fn, tracing_mode="symbolic")(self.x, self.z, w, proj)
        doc = fxopt.export(gm)
        self.assertTrue(doc["symbols"], "the token dim should be symbolic")
        r = self.check(gm.graph, meta_keys=("val", "stack_trace"))
        with torch.no_grad():
            self.assertTrue(tutil.same_bits(r["gm"](self.x, self.z, w, proj), gm(self.x, self.z, w, proj)))

    def test_torch_compile_backend_graph(self):
        graphs = []

        def backend(gm, example_inputs):
            graphs.append(gm)
            return gm.forward

        torch._dynamo.reset()
        torch._dynamo.mark_dynamic(self.x, 0)
        torch._dynamo.mark_dynamic(self.z, 0)
        with torch.no_grad():
            torch.compile(self.model, backend=backend)(self.x, self.z)
        self.assertEqual(len(graphs), 1)
        doc = fxopt.export(graphs[0])
        self.assertTrue(any(n["op"] == "call_method" for n in doc["nodes"]))
        self.check(graphs[0].graph, root=graphs[0])

    def test_torch_export(self):
        n = torch.export.Dim("n", min=2, max=4096)
        ep = torch.export.export(self.model, (self.x, self.z), dynamic_shapes={"x": {0: n}, "z": {0: n}})
        doc = fxopt.export(ep)
        self.assertEqual(doc["symbols"][next(iter(doc["symbols"]))]["max"], 4096)
        self.check(ep.graph, root=ep.graph_module)

    @unittest.skipUnless(common.cuda_ok(), "Inductor post-grad graphs are captured on CUDA")
    def test_post_grad_graph_and_fxopt_fmt(self):
        cap = tutil.CapturePass()
        with tutil.post_grad_pass(cap):
            tutil.compile_and_run(self.model, [16], lambda n: models.inputs(self.v, n))
        self.assertEqual(len(cap.docs), 1)
        binary = common.fxopt_binary() if common.fxopt_has("fmt") else None
        r = tutil.round_trip_doc(cap.docs[0], cap.codes[0], binary=binary)
        self.assertEqual(r["code"][1], r["code"][0])
        self.assertEqual(r["json"][1], r["json"][0])
        if binary is not None:
            self.assertTrue(r["fmt_same"], "fxopt fmt should not change a canonical document")


@unittest.skipUnless(common.cuda_ok(), "needs PyTorch 2.x with CUDA")
class CorpusReproduction(unittest.TestCase):
    def test_export_of_the_corpus_model_matches_the_corpus_file(self):
        path = next((f for f in common.corpus_files() if f.endswith("qwen3next_gdn_L1.fxgraph.json")), None)
        if path is None:
            self.skipTest("corpus L1 not found")
        tutil.configure_inductor()
        v = models.Variant("corpus", layers=1)
        cap = tutil.CapturePass()
        with tutil.post_grad_pass(cap):
            tutil.compile_and_run(models.GatedBlock(v), [16], lambda n: models.inputs(v, n))
        want = fxgraph_json.read(path)
        got = cap.docs[0]
        if os.environ.get("FXOPT_TEST_OUT"):
            fxgraph_json.write(got, os.path.join(os.environ["FXOPT_TEST_OUT"], "corpus_model_L1.fxgraph.json"))
        # Symbol names come from a hash of the input's name: compare up to renaming them.
        rename = dict(zip(got["symbols"], want["symbols"]))
        got = json.loads(re.sub(r"\b[su]\d+\b", lambda m: rename.get(m.group(0), m.group(0)), json.dumps(got)))
        self.assertEqual(got["symbols"], want["symbols"])
        # Node names and order depend on how the model's Python code was written (the order ops were
        # traced in, placeholders per input): compare each node's op, target, constant arguments, the
        # kind of node each argument refers to, and meta.val.
        mine, theirs = _structure(got), _structure(want)
        missing = sorted((theirs - mine).elements())
        extra = sorted((mine - theirs).elements())
        print(f"\n[corpus] L1: {len(got['nodes'])} nodes vs {len(want['nodes'])} in the corpus file; "
              f"{sum(a['name'] != b['name'] for a, b in zip(got['nodes'], want['nodes']))} names differ by "
              f"position; compute nodes only in the corpus: {len(missing)}, only here: {len(extra)}")
        self.assertFalse(missing or extra, f"only in the corpus: {missing[:3]}\nonly here: {extra[:3]}")


def _structure(doc):
    """A name-free multiset of the compute nodes: (target, args with node refs as their targets, val)."""
    from collections import Counter
    target = {n["name"]: (n["target"] if n["op"] != "placeholder" else "placeholder") for n in doc["nodes"]}

    def strip(v):
        if isinstance(v, dict) and set(v) == {"node"}:
            return {"node": target[v["node"]]}
        if isinstance(v, list):
            return [strip(e) for e in v]
        return v

    return Counter(json.dumps([n["target"], strip(n["args"]), n["kwargs"], n["meta"].get("val")])
                   for n in doc["nodes"] if n["op"] == "call_function")


@unittest.skipUnless(common.torch_ok(), "needs PyTorch 2.x")
class ExportReports(unittest.TestCase):
    def graph_with_opaque_arg(self):
        g = torch.fx.Graph()
        x = g.placeholder("x")
        y = g.call_function(torch.ops.aten.add.Tensor, (x, 1.5))
        g.call_function(torch.ops.aten.mul.Tensor, (y, float("inf")))
        s = g.call_function(torch.ops.aten.slice.Tensor, (y, 0, 0, slice(1, 2)))
        g.output((s,))
        return g

    def test_strict_export_lists_every_unencodable_value(self):
        with self.assertRaises(exporter.ExportError) as cm:
            fxopt.export(self.graph_with_opaque_arg())
        self.assertEqual(len(cm.exception.problems), 1)
        self.assertRegex(cm.exception.problems[0], r"node slice\w*: args\[3\]: slice value")

    def test_lenient_export_warns_and_keeps_an_opaque_repr(self):
        problems = []
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            doc = fxopt.export(self.graph_with_opaque_arg(), strict=False, problems=problems)
        self.assertTrue(w)
        self.assertEqual(len(problems), 1)
        by = {n["target"]: n for n in doc["nodes"]}
        self.assertEqual(by["aten.slice.Tensor"]["args"][3], {"repr": "slice(1, 2, None)"})
        self.assertEqual(by["aten.mul.Tensor"]["args"][1], {"float": "inf"})
        self.assertEqual(by["aten.add.Tensor"]["args"][1], 1.5)
        with self.assertRaisesRegex(importer.LoadError, "opaque value"):
            fxopt.load(doc)


@unittest.skipUnless(common.torch_ok(), "needs PyTorch 2.x")
class LoadBehaviour(unittest.TestCase):
    def corpus(self):
        path = next((f for f in common.corpus_files() if f.endswith("qwen3next_gdn_L1.fxgraph.json")), None)
        if path is None:
            self.skipTest("corpus L1 not found")
        return fxgraph_json.read(path)

    def test_corpus_loads_with_recomputed_vals_equal_to_the_document(self):
        doc = self.corpus()
        gm = fxopt.load(doc, strict=True, check=True)
        again = fxopt.export(gm, producer=doc["producer"])
        self.assertEqual(fxgraph_json.dumps(again), fxgraph_json.dumps(doc))

    def test_lazy_load_generates_the_same_code_on_first_use(self):
        doc = self.corpus()
        lazy, eager = fxopt.load(doc, strict=True), fxopt.load(doc, strict=True, lazy=False)
        self.assertIsInstance(lazy, torch.fx.GraphModule)
        from torch.fx._lazy_graph_module import _LazyGraphModule
        self.assertIsInstance(lazy, _LazyGraphModule)
        self.assertNotIsInstance(eager, _LazyGraphModule)
        self.assertEqual(lazy.code, eager.code)
        self.assertIn("def forward", lazy.code)

    def test_sym_arguments_are_relinked_to_symint_nodes(self):
        doc = self.corpus()
        by = {n["name"]: n for n in doc["nodes"]}
        by["view"]["args"][1] = [{"sym": "s68"}, 32, 128]
        by["view_1"]["args"][1] = [{"sym": "32*s68"}, 128]
        gm = fxopt.load(doc, strict=True)
        nodes = {n.name: n for n in gm.graph.nodes}
        self.assertIs(nodes["view"].args[1][0], nodes["arg0_1"])
        helper = nodes["view_1"].args[1][0]
        self.assertIsInstance(helper, torch.fx.Node)
        self.assertEqual(str(helper.meta["val"]), "32*s68")
        self.assertEqual(nodes["view_1"].meta["val"].shape[0], helper.meta["val"])

    def test_operator_values_round_trip_as_op_encoding(self):
        # auto_functionalized(op, ...) passes an OpOverload as a value: {"op": "ns.name.overload"}.
        lib = torch.library.Library("fxopt_t17", "FRAGMENT")
        lib.define("scale_into(Tensor(a!) result, Tensor x, float s) -> ()")
        op = torch.ops.fxopt_t17.scale_into.default
        g = torch.fx.Graph()
        x = g.placeholder("x")
        buf = g.call_function(torch.ops.aten.empty_like.default, (x,))
        af = g.call_function(torch.ops.higher_order.auto_functionalized, (op,),
                             {"result": buf, "x": x, "s": 2.0})
        out = g.call_function(operator.getitem, (af, 1))
        g.output((out,))
        doc = fxopt.export(g, meta_keys=())
        node = next(n for n in doc["nodes"] if n["target"] == "higher_order.auto_functionalized")
        self.assertEqual(node["args"], [{"op": "fxopt_t17.scale_into.default"}])
        gm = fxopt.load(doc, strict=False)
        again = next(n for n in gm.graph.nodes if n.target is torch.ops.higher_order.auto_functionalized)
        self.assertIs(again.args[0], op)
        bad = json.loads(json.dumps(doc))
        next(n for n in bad["nodes"] if n["name"] == node["name"])["args"] = [{"op": "fxopt_t17.nope.default"}]
        with self.assertRaisesRegex(importer.LoadError, "nope"):
            fxopt.load(bad)

    def test_load_refuses_unknown_targets_and_forward_references(self):
        doc = self.corpus()
        bad = json.loads(json.dumps(doc))
        bad["nodes"][6]["target"] = "aten.no_such_op.default"
        with self.assertRaisesRegex(importer.LoadError, r"nodes\[6\] \(relu\).*no_such_op"):
            fxopt.load(bad)
        bad = json.loads(json.dumps(doc))
        bad["nodes"][6]["args"] = [{"node": "view"}]
        with self.assertRaisesRegex(importer.LoadError, "unknown or later node 'view'"):
            fxopt.load(bad)

    def test_fused_node_dtype_sets_the_reference_ops_fp8_dtype(self):
        from fxopt import ops
        if ops.register()[ops.FUSED_RMS_GATED] != "fxopt":
            self.skipTest("vLLM provides the op")
        doc = json.loads(json.dumps(self.corpus()))
        path = os.path.join(os.path.dirname(__file__), "fake_fxopt.py")
        import subprocess
        import sys
        import tempfile
        with tempfile.TemporaryDirectory() as d:
            src = os.path.join(d, "in.json")
            for n in doc["nodes"]:   # make the graph an e4m3fnuz one
                if n["args"][1:2] == [{"dtype": "float8_e4m3fn"}]:
                    n["args"][1] = {"dtype": "float8_e4m3fnuz"}
                for k, c in (("clamp_max", 224.0), ("clamp_min_1", -224.0), ("div_1", 224.0),
                             ("clamp_min", 1 / (224 * 512))):
                    if n["name"] == k:
                        n["args"][1] = c
                s = json.dumps(n["meta"]).replace("float8_e4m3fn\"", "float8_e4m3fnuz\"")
                n["meta"] = json.loads(s)
            fxgraph_json.write(doc, src)
            out = os.path.join(d, "out.json")
            subprocess.run([sys.executable, path, "rewrite", src, "-o", out], check=True, capture_output=True)
            try:
                gm = fxopt.load(out, strict=True)
                self.assertEqual(ops.fp8_dtype(), torch.float8_e4m3fnuz)
                fused = [n for n in gm.graph.nodes if str(n.target) == ops.qualified(ops.FUSED_RMS_GATED)]
                self.assertEqual(len(fused), 1)
                self.assertEqual(fused[0].meta["val"][0].dtype, torch.float8_e4m3fnuz)
            finally:
                ops.set_fp8_dtype(None)


if __name__ == "__main__":
    unittest.main()
