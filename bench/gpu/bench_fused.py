#!/usr/bin/env python3
"""Times fxopt's fused gated RMSNorm + fp8 group-quant kernel against torch.compile of the same
decomposed region (the corpus graph's ops, H=32, D=128, G=128, e4m3fn), both by GPU kernel time from
the PyTorch profiler (CUPTI) in one process, with L2 flushed before every call; also a
device-to-device copy's bandwidth, and how often the two implementations' fp8 codes differ.

Usage: bench_fused.py --lib build/libfxopt_gpu_capi.so [--tokens 1,4,32,128,1024,8192] [--json out.json]
"""
import argparse
import ctypes
import json
import statistics
import sys

import torch

H, D, G, EPS, FMAX = 32, 128, 128, 1e-6, 448.0


def region(x, w, z):
    """The decomposed graph of shared/corpus/qwen3next_gdn_L1 (view_1/view_3 to view_6/squeeze)."""
    xf = x.reshape(-1, 32, 128).reshape(-1, 128).float()
    wf = w.float()
    zf = z.reshape(-1, 32, 128).reshape(-1, 128).float()
    rstd = torch.rsqrt(xf.pow(2).mean([-1], keepdim=True) + EPS)
    norm = (xf * rstd) * wf
    silu = zf / (torch.exp(-zf) + 1)
    y = (norm * silu).to(torch.bfloat16)
    y = y.reshape(-1, 4096).reshape(-1, 32, 128)
    amax = y.abs().max(-1, keepdim=True)[0]
    scale = (amax.float() / FMAX).clamp_min(1.0 / (FMAX * 512))
    q = (y / scale).clamp_min(-FMAX).clamp_max(FMAX).to(torch.float8_e4m3fn).reshape(-1, 4096)
    return q, scale.squeeze(-1)


def kernel_time_us(fn, iters, flush, skip=("fill", "Fill", "Memset"), warm=None):
    """Mean GPU time per call of the kernels `fn` launches (not the L2 flush), by the profiler.
    With `warm` (the same kernels on other buffers), that runs between the flush and `fn`: code and
    constants are then in L2, `fn`'s data is not, and only `fn`'s launches (every second one) count."""
    from torch.profiler import ProfilerActivity, profile

    for _ in range(3):
        fn()
    torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
        for _ in range(iters):
            flush.zero_()
            if warm is not None:
                warm()
            fn()
        torch.cuda.synchronize()
    per_kernel = {}
    for evt in prof.events():
        if str(getattr(evt, "device_type", "")).endswith("CUDA") and not any(s in evt.name for s in skip):
            dur = evt.time_range.elapsed_us() if hasattr(evt, "time_range") else evt.device_time
            per_kernel.setdefault(evt.name, []).append(dur)
    if warm is not None:
        per_kernel = {k: v[1::2] for k, v in per_kernel.items()}
    if not per_kernel:  # no kernel events from the profiler: fall back to CUDA events
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        times = []
        for _ in range(iters):
            flush.zero_()
            start.record()
            fn()
            end.record()
            end.synchronize()
            times.append(start.elapsed_time(end) * 1e3)
        t = statistics.median(times)
        return t, t, {"(cuda events)": 1}
    total = sum(sum(v) for v in per_kernel.values()) / iters
    names = {k[:60]: len(v) // iters for k, v in per_kernel.items()}
    # Medians per kernel (robust to an outlier), times launches per call.
    med = sum(statistics.median(v) * (len(v) / iters) for v in per_kernel.values())
    return med, total, names


def compare(q_a, s_a, q_b, s_b):
    """Fraction of differing fp8 codes, largest step distance, largest relative scale difference."""
    a = q_a.view(torch.uint8).to(torch.int32)
    b = q_b.view(torch.uint8).to(torch.int32)
    same_sign = (a & 0x80) == (b & 0x80)
    step = torch.where(same_sign, (a - b).abs(), (a & 0x7F) + (b & 0x7F))
    frac = (step != 0).float().mean().item()
    rel = ((s_a - s_b).abs() / s_b.abs()).max().item()
    return frac, int(step.max().item()), rel


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lib", required=True)
    ap.add_argument("--tokens", default="1,4,32,128,1024,8192")
    ap.add_argument("--iters", type=int, default=100)
    ap.add_argument("--json", default="")
    ap.add_argument("--variants", default="direct16,table8_s2,table16_s2_t512,table16_s2_t768",
                    help="comma-separated variant names besides auto, or 'all' (default: %(default)s)")
    ap.add_argument("--warm-code", action="store_true",
                    help="diagnostic: after each flush run the same kernels once on other buffers, so only the timed "
                         "call's data is cold (not its code)")
    ap.add_argument("--ncu", action="store_true", help="no timing: run torch.compile and each variant twice per N "
                                                       "(for `ncu --kernel-name regex:...`)")
    args = ap.parse_args()

    lib = ctypes.CDLL(args.lib)
    lib.fxopt_gpu_fused_rms_gated.argtypes = [ctypes.c_void_p] * 5 + [ctypes.c_int64, ctypes.c_int64, ctypes.c_double,
                                                                      ctypes.c_int64] + [ctypes.c_int] * 7
    lib.fxopt_gpu_last_error.restype = ctypes.c_char_p
    lib.fxopt_gpu_device_name.restype = ctypes.c_char_p
    lib.fxopt_gpu_set_stream.argtypes = [ctypes.c_void_p]
    dev = torch.cuda.get_device_properties(0)
    print(f"device: {torch.cuda.get_device_name(0)}, {dev.multi_processor_count} SMs, L2 {dev.L2_cache_size >> 20} MB; "
          f"fxopt sees: {lib.fxopt_gpu_device_name().decode()}; torch {torch.__version__}", flush=True)
    lib.fxopt_gpu_set_stream(ctypes.c_void_p(torch.cuda.current_stream().cuda_stream))

    flush = torch.empty(256 << 20, dtype=torch.uint8, device="cuda")  # 256 MB > L2
    compiled = torch.compile(region, dynamic=False)

    # Copy bandwidth: bytes read + written by one large device-to-device copy.
    src = torch.randn(64 << 20, device="cuda")  # 256 MB
    dst = torch.empty_like(src)
    copy_us = 1.0 if args.ncu else kernel_time_us(lambda: dst.copy_(src), 20, flush)[0]
    copy_gbs = 2 * src.numel() * 4 / copy_us / 1e3
    print(f"device-to-device copy of 256 MB: {copy_us:.1f} us, {copy_gbs:.0f} GB/s (read + write)", flush=True)

    # (silu mode 0 auto/1 direct/2 table, fast paths, blocks per SM, lanes per row, stages, threads per block)
    variants = {"auto": (0, 1, 0, 0, 0, 0), "direct16": (1, 1, 0, 16, 1, 0), "table16": (2, 1, 0, 16, 1, 0),
                "table16_s2": (2, 1, 0, 16, 2, 0), "table8": (2, 1, 0, 8, 1, 0), "table8_s2": (2, 1, 0, 8, 2, 0),
                "table8_s4": (2, 1, 0, 8, 4, 0), "table4_s2": (2, 1, 0, 4, 2, 0),
                "table16_s2_t768": (2, 1, 0, 16, 2, 768), "table16_s2_t512": (2, 1, 0, 16, 2, 512),
                "table16_s2_t512_b1": (2, 1, 1, 16, 2, 512), "table16_s2_t256": (2, 1, 0, 16, 2, 256),
                "table16_s4_t512": (2, 1, 0, 16, 4, 512),
                "table16_t512": (2, 1, 0, 16, 1, 512), "table16_s2_t384": (2, 1, 0, 16, 2, 384),
                "table16_s2_t640": (2, 1, 0, 16, 2, 640), "direct16_t64": (1, 1, 0, 16, 1, 64),
                "direct16_t256": (1, 1, 0, 16, 1, 256), "direct8": (1, 1, 0, 8, 1, 0)}
    if args.variants != "all":
        unknown = [k for k in args.variants.split(",") if k and k not in variants]
        if unknown:
            sys.exit(f"unknown variant(s) {unknown}; known: {', '.join(variants)}")
        variants = {k: variants[k] for k in ["auto"] + args.variants.split(",") if k in variants}
    rows = []
    for n_tok in [int(t) for t in args.tokens.split(",")]:
        torch.manual_seed(n_tok)
        M = n_tok * H
        x = torch.randn(n_tok, H * D, device="cuda").to(torch.bfloat16)
        z = (2 * torch.randn(n_tok, H * D, device="cuda")).to(torch.bfloat16)
        w = (1 + 0.25 * torch.randn(D, device="cuda")).to(torch.bfloat16)
        q = torch.empty(n_tok, H * D, dtype=torch.float8_e4m3fn, device="cuda")
        s = torch.empty(n_tok, H * D // G, dtype=torch.float32, device="cuda")

        bufs = (q, s, x, w, z)
        other = tuple(t.clone() for t in bufs) if args.warm_code else None  # --warm-code's second set

        def ours(mode=(0, 1, 0, 0, 0, 0), b=bufs):
            rc = lib.fxopt_gpu_fused_rms_gated(*(t.data_ptr() for t in b), M, D, EPS, G, 0, *mode)
            if rc != 0:
                raise RuntimeError(lib.fxopt_gpu_last_error().decode())

        q_c, s_c = compiled(x, w, z)
        if args.ncu:
            for mode in variants.values():
                ours(mode)
            torch.cuda.synchronize()
            continue
        q_e, s_e = region(x, w, z)
        ours()
        torch.cuda.synchronize()
        vs_compile = compare(q, s, q_c, s_c)
        vs_eager = compare(q, s, q_e, s_e)
        wc = args.warm_code
        t_compile, _, names = kernel_time_us(lambda: compiled(x, w, z), args.iters, flush,
                                             warm=(lambda: compiled(other[2], other[3], other[4])) if wc else None)
        times = {}
        for name, mode in variants.items():
            times[name], _, _ = kernel_time_us(lambda: ours(mode), args.iters, flush,
                                               warm=(lambda: ours(mode, other)) if wc else None)
        extra = {}
        nbytes = 2 * M * D * 2 + D * 2 + M * D + M * (D // G) * 4
        best = min(times.values())
        row = dict(tokens=n_tok, rows=M, bytes=nbytes, torch_compile_us=t_compile, torch_kernels=names,
                   fxopt_us=times, fxopt_extra_us=extra, fxopt_auto_gbs=nbytes / times["auto"] / 1e3,
                   pct_of_copy=100 * nbytes / times["auto"] / 1e3 / copy_gbs,
                   diff_vs_compile=vs_compile, diff_vs_eager=vs_eager)
        rows.append(row)
        print(f"N={n_tok:5d}: torch.compile {t_compile:8.2f} us {names} | fxopt " +
              " ".join(f"{k} {v:.2f}" for k, v in times.items()) +
              (" | " + " ".join(f"{k} {v:.2f}" for k, v in extra.items()) if extra else "") +
              f" | codes differing vs compile {vs_compile[0]:.2e} (max {vs_compile[1]} step), "
              f"vs eager {vs_eager[0]:.2e} (max {vs_eager[1]}), scale rel diff {vs_compile[2]:.1e}", flush=True)

    print()
    print(f"| tokens N | rows M | bytes | torch.compile (us) | fxopt fused, auto (us) | speedup | fxopt GB/s | % of copy BW ({copy_gbs:.0f} GB/s) |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in rows:
        print(f"| {r['tokens']} | {r['rows']} | {r['bytes'] / 1e6:.2f} MB | {r['torch_compile_us']:.2f} | "
              f"{r['fxopt_us']['auto']:.2f} | {r['torch_compile_us'] / r['fxopt_us']['auto']:.2f}x | "
              f"{r['fxopt_auto_gbs']:.0f} | {r['pct_of_copy']:.1f}% |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(dict(device=torch.cuda.get_device_name(0), copy_us=copy_us, copy_gbs=copy_gbs, rows=rows), f,
                      indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
