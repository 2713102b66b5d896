#!/usr/bin/env bash
# Builds the GPU (nvidia) configuration on this machine with its nvcc and stages the binaries the device runs in
# .gpubin/ (git-ignored), so a device call carries them instead of building: carry [".deps", ".gpubin"], then on
# the device `source scripts/gpu_env.sh` and run scripts/device_check.sh without its build stage.
# Usage: scripts/gpu_prebuild.sh [BUILD_DIR]   (default build-gpu; needs nvcc: /usr/local/cuda/bin or PATH)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build-gpu}
export CCACHE_DIR=${CCACHE_DIR:-$HOME/.ccache}
launcher=(); command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_CUDA_COMPILER_LAUNCHER=ccache)
export CUDACXX=${CUDACXX:-$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)}
cmake -S . -B "$build" -G Ninja -DFXOPT_GPU=nvidia -DCMAKE_BUILD_TYPE=Release "${launcher[@]}" >/dev/null
cmake --build "$build" -j"$(nproc)" --target fxopt fxopt_gpu_tests fxopt_gpu_capi
grep -qx "/.gpubin/" .git/info/exclude 2>/dev/null || echo "/.gpubin/" >> .git/info/exclude
mkdir -p .gpubin
cp "$build"/fxopt "$build"/fxopt_gpu_tests "$build"/libfxopt_gpu_capi.so .gpubin/
strip .gpubin/fxopt .gpubin/fxopt_gpu_tests && strip --strip-unneeded .gpubin/libfxopt_gpu_capi.so
du -sh .gpubin
