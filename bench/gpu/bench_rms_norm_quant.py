#!/usr/bin/env python3
"""Times fxopt's kernel for the vLLM RMSNorm (+ residual) -> FP8 family (runtime/hip/rms_norm_quant.hip, through
libfxopt_gpu_capi.so) against torch.compile of the same decomposed region (vLLM's native forms,
python/tests/vllm_native.py), compiled twice in the same run: Inductor's default and emulate_precision_casts=True.
GPU kernel time from the PyTorch profiler with L2 flushed before every call (bench_fused.kernel_time_us), hidden 4096,
bf16, e4m3fn; the share of a device-to-device copy's bandwidth; how often fxopt's fp8 codes differ from each compile's
(and the largest code distance, largest relative scale difference).

Usage: bench_rms_norm_quant.py --lib build-gpu/libfxopt_gpu_capi.so [--tokens 1,32,1024,8192] [--json out.json]
"""
import argparse
import ctypes
import json
import os
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(HERE)), "python", "tests"))
from bench_fused import compare, kernel_time_us  # noqa: E402
import vllm_native as vn  # noqa: E402

EPS = 1e-6
FP8 = torch.float8_e4m3fn
# region name -> (residual?, scheme (1 static, 2 per-token, 3 group), divide, group size): the fused ops of
# patterns/rms_norm_quant.json (--target cuda; the per-token region is timed as the AITER op, which multiplies
# by the reciprocal like the native chain).
REGIONS = {
    "add+static": (True, 1, 0, 0),          # _C.fused_add_rms_norm_static_fp8_quant
    "add+per-token": (True, 2, 0, 0),       # rocm_aiter_rmsnorm_fused_add_dynamic_quant
    "add+group128": (True, 3, 1, 128),      # _C.rms_norm_per_block_quant(residual)
    "rms+group128": (False, 3, 1, 128),     # _C.rms_norm_per_block_quant
    "rms+static": (False, 1, 0, 0),         # _C.rms_norm_static_fp8_quant
}


def region_fn(name):
    has_res, scheme, _, group = REGIONS[name]

    def fn(x, res, w, scale):
        if has_res:
            y, r = vn.fused_add_rms_norm(x, res, w, EPS)
        else:
            y, r = vn.rms_norm(x, w, EPS), None
        if scheme == 1:
            q, s = vn.static_quant(y, scale, FP8), None
        elif scheme == 2:
            q, s = vn.per_token_quant(y, FP8)
        else:
            q, s = vn.group_quant(y, group, FP8)
        return q, s, r
    return fn


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lib", required=True, help="libfxopt_gpu_capi.so of a GPU build")
    ap.add_argument("--tokens", default="1,32,1024,8192")
    ap.add_argument("--hidden", type=int, default=4096)
    ap.add_argument("--regions", default="add+static,add+per-token,add+group128",
                    help=f"comma-separated, of {', '.join(REGIONS)} (default: %(default)s)")
    ap.add_argument("--iters", type=int, default=100)
    ap.add_argument("--json", default="")
    args = ap.parse_args()

    lib = ctypes.CDLL(args.lib)
    lib.fxopt_gpu_rms_norm_quant.argtypes = ([ctypes.c_void_p] * 3 + [ctypes.c_int64, ctypes.c_int64, ctypes.c_double,
                                             ctypes.c_int, ctypes.c_int, ctypes.c_int64] + [ctypes.c_void_p] * 2 +
                                            [ctypes.c_int] + [ctypes.c_void_p] * 4 + [ctypes.c_int])
    lib.fxopt_gpu_last_error.restype = ctypes.c_char_p
    lib.fxopt_gpu_device_name.restype = ctypes.c_char_p
    lib.fxopt_gpu_set_stream.argtypes = [ctypes.c_void_p]
    dev = torch.cuda.get_device_properties(0)
    print(f"device: {torch.cuda.get_device_name(0)}, {dev.multi_processor_count} SMs, L2 {dev.L2_cache_size >> 20} MB; "
          f"fxopt sees: {lib.fxopt_gpu_device_name().decode()}; torch {torch.__version__}", flush=True)
    lib.fxopt_gpu_set_stream(ctypes.c_void_p(torch.cuda.current_stream().cuda_stream))
    torch._dynamo.config.cache_size_limit = 64

    flush = torch.empty(256 << 20, dtype=torch.uint8, device="cuda")  # 256 MB > L2
    src = torch.randn(64 << 20, device="cuda")  # 256 MB
    dst = torch.empty_like(src)
    copy_us = kernel_time_us(lambda: dst.copy_(src), 20, flush)[0]
    copy_gbs = 2 * src.numel() * 4 / copy_us / 1e3
    print(f"device-to-device copy of 256 MB: {copy_us:.1f} us, {copy_gbs:.0f} GB/s (read + write)", flush=True)

    D = args.hidden
    rows = []
    for name in args.regions.split(","):
        has_res, scheme, divide, group = REGIONS[name]
        fn = region_fn(name)
        compiled = {"default": torch.compile(fn, dynamic=False),
                    "emulate": torch.compile(fn, dynamic=False, options={"emulate_precision_casts": True})}
        for n_tok in [int(t) for t in args.tokens.split(",")]:
            torch.manual_seed(n_tok)
            x = torch.randn(n_tok, D, device="cuda").to(torch.bfloat16)
            res = torch.randn(n_tok, D, device="cuda").to(torch.bfloat16)
            w = (1 + 0.25 * torch.randn(D, device="cuda")).to(torch.bfloat16)
            scale = torch.full((1, 1), 0.02, device="cuda")
            q = torch.empty(n_tok, D, dtype=FP8, device="cuda")
            r_out = torch.empty_like(x)
            groups = 1 if scheme == 2 else (D // group if scheme == 3 else 0)
            s = torch.empty(n_tok, max(groups, 1), dtype=torch.float32, device="cuda")

            def ours():
                rc = lib.fxopt_gpu_rms_norm_quant(
                    x.data_ptr(), res.data_ptr() if has_res else None, w.data_ptr(), n_tok, D, EPS, scheme, divide,
                    group, scale.data_ptr(), None, 0, None, r_out.data_ptr() if has_res else None, q.data_ptr(),
                    s.data_ptr() if groups else None, 1)
                if rc != 0:
                    raise RuntimeError(lib.fxopt_gpu_last_error().decode())

            ours()
            torch.cuda.synchronize()
            diffs, times, kernels = {}, {}, {}
            for mode, c in compiled.items():
                q_c, s_c, r_c = c(x, res, w, scale)
                s_ref = s_c if s_c is not None else scale.expand(n_tok, 1)
                s_ours = s if groups else scale.expand(n_tok, 1)
                frac, step, rel = compare(q, s_ours.reshape(s_ref.shape), q_c, s_ref)
                r_same = bool(torch.equal(r_out.view(torch.int16), r_c.view(torch.int16))) if has_res else None
                diffs[mode] = dict(codes_differing=frac, max_step=step, scale_rel_diff=rel, residual_identical=r_same)
                times[mode], _, kernels[mode] = kernel_time_us(lambda: c(x, res, w, scale), args.iters, flush)
            t_ours, _, _ = kernel_time_us(ours, args.iters, flush)
            nbytes = (n_tok * D * 2 * (2 if has_res else 1) + D * 2 + n_tok * D + n_tok * groups * 4 +
                      (n_tok * D * 2 if has_res else 0))
            row = dict(region=name, tokens=n_tok, hidden=D, bytes=nbytes, fxopt_us=t_ours,
                       torch_compile_us=times["default"], torch_compile_emulate_us=times["emulate"],
                       torch_kernels=kernels, pct_of_copy=100 * nbytes / t_ours / 1e3 / copy_gbs,
                       compile_pct_of_copy=100 * nbytes / times["default"] / 1e3 / copy_gbs, diff=diffs)
            rows.append(row)
            print(f"{name:14s} N={n_tok:5d}: fxopt {t_ours:8.2f} us | torch.compile {times['default']:8.2f} us, "
                  f"emulate_precision_casts {times['emulate']:8.2f} us {kernels['default']} | codes differing vs "
                  f"compile {diffs['default']['codes_differing']:.2e} (max {diffs['default']['max_step']}), vs emulate "
                  f"{diffs['emulate']['codes_differing']:.2e} (max {diffs['emulate']['max_step']}), residual identical "
                  f"{diffs['emulate']['residual_identical']}", flush=True)

    print()
    print(f"| region | tokens N | bytes | torch.compile (us) | torch.compile, emulate_precision_casts (us) | "
          f"fxopt (us) | speedup vs default | fxopt % of copy BW ({copy_gbs:.0f} GB/s) | torch.compile % of copy |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        print(f"| {r['region']} | {r['tokens']} | {r['bytes'] / 1e6:.2f} MB | {r['torch_compile_us']:.2f} | "
              f"{r['torch_compile_emulate_us']:.2f} | {r['fxopt_us']:.2f} | {r['torch_compile_us'] / r['fxopt_us']:.2f}x | "
              f"{r['pct_of_copy']:.1f}% | {r['compile_pct_of_copy']:.1f}% |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(dict(device=torch.cuda.get_device_name(0), copy_us=copy_us, copy_gbs=copy_gbs, rows=rows), f,
                      indent=1)


if __name__ == "__main__":
    main()
