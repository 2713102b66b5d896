"""Captures Inductor post-grad graphs of real models (small configs, random weights) as fxgraph v1, with inputs
and PyTorch's outputs of each captured graph as safetensors, so `fxopt run` can be checked against PyTorch.

    python python/tools/capture_models.py --out DIR [--models llama,qwen3,...] [--dtype bfloat16] [--tokens 8]
    python python/tools/capture_models.py --out DIR --from-graphs tests/data/models   # inputs/outputs only

For each model: torch.compile with a post_grad_custom_post_pass that records the graph (token/batch dim dynamic),
then for each recorded graph: DIR/<model>[_gK].fxgraph.json, <...>.inputs.safetensors (every tensor placeholder,
by placeholder name: parameters drawn N(0, 0.02) (norm weights around 1), integer inputs in [0, 16)), and
<...>.expected.safetensors (the graph's outputs run eagerly by PyTorch on the CPU where it can, else on CUDA,
named like `fxopt run --save-outputs` names them). DIR/summary.json lists what was captured and what failed.
Needs torch, transformers, torchvision, timm, safetensors (the GPU machine has them).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
import traceback

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import torch  # noqa: E402
from torch._inductor.custom_graph_pass import CustomGraphPass  # noqa: E402

import fxopt  # noqa: E402
from fxopt import fxgraph_json, symexpr  # noqa: E402


class Capture(CustomGraphPass):
    """Records every post-grad graph Inductor compiles (export + a deep copy of the FX graph)."""

    def __init__(self):
        self.docs, self.problems = [], []

    def __call__(self, graph):
        problems = []
        self.docs.append(fxopt.export(graph, strict=False, problems=problems, producer={
            "source": "torch.compile post_grad_custom_post_pass", "torch": torch.__version__,
            "captured_by": "python/tools/capture_models.py"}))
        self.problems.append(problems)

    def uuid(self):
        return None


# ---- the models: (build(dtype) -> (module, example inputs, dynamic dims {input index: dim}))

def _hf_lm(config_cls_name, model_cls_name, **cfg):
    def build(dtype, tokens):
        import transformers
        config = getattr(transformers, config_cls_name)(**cfg)
        try:
            config._attn_implementation = "sdpa"
        except Exception:
            pass
        model = getattr(transformers, model_cls_name)(config)
        ids = torch.randint(0, 16, (1, tokens))

        class Wrap(torch.nn.Module):
            def __init__(self, m):
                super().__init__()
                self.m = m

            def forward(self, input_ids):
                return self.m(input_ids=input_ids, use_cache=False).logits

        return Wrap(model).to(dtype), (ids,), {0: 1}
    return build


_LM = dict(vocab_size=128, hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
           num_key_value_heads=2, max_position_embeddings=256)

MODELS = {
    "llama": _hf_lm("LlamaConfig", "LlamaForCausalLM", **_LM),
    "qwen3": _hf_lm("Qwen3Config", "Qwen3ForCausalLM", head_dim=16, **_LM),
    "qwen3_next": _hf_lm("Qwen3NextConfig", "Qwen3NextForCausalLM", vocab_size=128, hidden_size=64,
                         intermediate_size=128, num_hidden_layers=4, num_attention_heads=4, num_key_value_heads=2,
                         head_dim=16, linear_num_value_heads=4, linear_num_key_heads=2, linear_key_head_dim=16,
                         linear_value_head_dim=16, linear_conv_kernel_dim=4, num_experts=4, num_experts_per_tok=2,
                         moe_intermediate_size=32, shared_expert_intermediate_size=32, decoder_sparse_step=1,
                         full_attention_interval=2, max_position_embeddings=256),
    "mixtral": _hf_lm("MixtralConfig", "MixtralForCausalLM", num_local_experts=4, num_experts_per_tok=2, **_LM),
    "deepseek_v3": _hf_lm("DeepseekV3Config", "DeepseekV3ForCausalLM", vocab_size=128, hidden_size=64,
                          intermediate_size=128, moe_intermediate_size=32, num_hidden_layers=2,
                          num_attention_heads=4, num_key_value_heads=4, q_lora_rank=32, kv_lora_rank=16,
                          qk_rope_head_dim=8, qk_nope_head_dim=8, v_head_dim=16, n_routed_experts=4,
                          num_experts_per_tok=2, n_group=2, topk_group=1, first_k_dense_replace=1,
                          n_shared_experts=1, max_position_embeddings=256),
    "gemma": _hf_lm("GemmaConfig", "GemmaForCausalLM", head_dim=16, **_LM),
    "gpt2": None,   # below
    "resnet18": None,
    "vit_tiny": None,
}


def _gpt2(dtype, tokens):
    import transformers
    model = transformers.GPT2LMHeadModel(transformers.GPT2Config(vocab_size=128, n_positions=256, n_embd=64,
                                                                 n_layer=2, n_head=4))

    class Wrap(torch.nn.Module):
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, input_ids):
            return self.m(input_ids=input_ids, use_cache=False).logits

    return Wrap(model).to(dtype), (torch.randint(0, 16, (1, tokens)),), {0: 1}


def _resnet18(dtype, tokens):
    import torchvision
    return torchvision.models.resnet18(num_classes=10).to(dtype), (torch.randn(2, 3, 32, 32, dtype=dtype),), {0: 0}


def _vit_tiny(dtype, tokens):
    import timm
    model = timm.create_model("vit_tiny_patch16_224", pretrained=False, num_classes=10, img_size=64)
    return model.to(dtype), (torch.randn(2, 3, 64, 64, dtype=dtype),), {0: 0}


MODELS.update(gpt2=_gpt2, resnet18=_resnet18, vit_tiny=_vit_tiny)


# ---- inputs and expected outputs of one captured graph

def _concrete(size, env):
    return size if isinstance(size, int) else symexpr.evaluate(symexpr.parse(size), env)


def make_inputs(doc, seed=0):
    """Tensor placeholders by name, made from meta.val at the symbols' hints."""
    env = {k: v["hint"] for k, v in doc["symbols"].items() if v.get("hint") is not None}
    g = torch.Generator().manual_seed(seed)
    out = {}
    for n in doc["nodes"]:
        if n["op"] != "placeholder":
            continue
        val = n.get("meta", {}).get("val")
        if not isinstance(val, dict) or "dtype" not in val:
            continue
        shape = [_concrete(s, env) for s in val["shape"]]
        dtype = getattr(torch, val["dtype"])
        if dtype == torch.bool:
            t = torch.randint(0, 2, shape, generator=g).bool()
        elif not dtype.is_floating_point:
            t = torch.randint(0, 16, shape, generator=g).to(dtype)
        else:
            t = torch.randn(shape, generator=g, dtype=torch.float32) * 0.02
            if len(shape) == 1:         # norm weights / biases: around 1 so activations stay in range
                t = t + 1.0
            t = t.to(dtype)
        out[n["name"]] = t.contiguous()
    return out, env


def run_eager(doc, inputs, env, device):
    gm = fxopt.load(doc, fake=False)
    args = []
    for node in gm.graph.nodes:
        if node.op != "placeholder":
            continue
        if node.name in inputs:
            args.append(inputs[node.name].to(device))
        else:   # a SymInt placeholder: its value from the symbols' hints
            v = next(n for n in doc["nodes"] if n["name"] == node.name).get("meta", {}).get("val", {})
            args.append(_concrete(v["sym"], env) if isinstance(v, dict) and "sym" in v else 0)
    with torch.no_grad():
        outs = gm(*args)
    out_node = next(n for n in doc["nodes"] if n["op"] == "output")
    flat = out_node["args"][0]
    if not isinstance(flat, list):
        flat, outs = [flat], [outs]
    named = {}
    for a, t in zip(flat, outs):
        if isinstance(a, dict) and "node" in a and isinstance(t, torch.Tensor):
            named[a["node"]] = t.detach().to("cpu").contiguous()
    return named


def save_io(doc, stem, out_dir, device, row):
    """Writes <stem>.inputs.safetensors and <stem>.expected.safetensors for one graph document."""
    from safetensors.torch import save_file
    try:
        inputs, env = make_inputs(doc)
        save_file(inputs, os.path.join(out_dir, stem + ".inputs.safetensors"))
        for dev in ("cpu", device):
            try:
                outs = run_eager(doc, inputs, env, dev)
                row["expected_device"] = dev
                break
            except Exception as e:  # an op with no CPU kernel in PyTorch: try the GPU
                row.setdefault("eager_errors", []).append(f"{dev}: {type(e).__name__}: {e}"[:400])
        else:
            raise RuntimeError("eager run failed on every device")
        save_file(outs, os.path.join(out_dir, stem + ".expected.safetensors"))
        row["outputs"] = list(outs)
    except Exception as e:
        row["error"] = f"{type(e).__name__}: {e}"[:1000]


def capture(name, dtype, tokens, out_dir, device):
    build = MODELS[name]
    model, example, dyn = build(dtype, tokens)
    model = model.to(device).eval()
    example = tuple(x.to(device) for x in example)
    for i, d in dyn.items():
        torch._dynamo.mark_dynamic(example[i], d)
    cap = Capture()
    import torch._inductor.config as icfg
    torch._dynamo.reset()
    with icfg.patch(post_grad_custom_post_pass=cap, fx_graph_cache=False), torch.no_grad():
        torch.compile(model)(*example)
    rows = []
    for k, doc in enumerate(cap.docs):
        stem = name if len(cap.docs) == 1 else f"{name}_g{k}"
        row = {"graph": stem, "nodes": len(doc["nodes"]),
               "targets": sorted({n["target"] for n in doc["nodes"] if n["op"] == "call_function"})}
        with open(os.path.join(out_dir, stem + ".fxgraph.json"), "w") as f:
            f.write(fxgraph_json.dumps(doc))
        if cap.problems[k]:
            row["export_problems"] = [str(p)[:300] for p in cap.problems[k]]
        save_io(doc, stem, out_dir, device, row)
        rows.append(row)
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True)
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--dtype", default="bfloat16")
    ap.add_argument("--tokens", type=int, default=8)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--from-graphs", help="skip capture: make inputs/expected outputs for DIR/*.fxgraph.json")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    if a.from_graphs:
        rows = []
        for fn in sorted(os.listdir(a.from_graphs)):
            if fn.endswith(".fxgraph.json"):
                row = {"graph": fn[:-len(".fxgraph.json")]}
                save_io(fxgraph_json.read(os.path.join(a.from_graphs, fn)), row["graph"], a.out, a.device, row)
                rows.append(row)
                print(json.dumps(row)[:300], flush=True)
        return
    torch.manual_seed(0)
    summary = {"torch": torch.__version__, "dtype": a.dtype, "tokens": a.tokens, "models": {}}
    for name in a.models.split(","):
        t0 = time.time()
        try:
            torch.manual_seed(0)
            summary["models"][name] = {"graphs": capture(name, getattr(torch, a.dtype), a.tokens, a.out, a.device)}
        except Exception as e:
            summary["models"][name] = {"error": f"{type(e).__name__}: {e}"[:2000],
                                       "trace": traceback.format_exc()[-3000:]}
        summary["models"][name]["seconds"] = round(time.time() - t0, 1)
        print(name, json.dumps(summary["models"][name])[:600], flush=True)
    with open(os.path.join(a.out, "summary.json"), "w") as f:
        json.dump(summary, f, indent=1)
    allt = sorted({t for m in summary["models"].values() for g in m.get("graphs", []) for t in g["targets"]})
    print(f"{len(allt)} distinct call_function targets:\n  " + "\n  ".join(allt))


if __name__ == "__main__":
    main()
