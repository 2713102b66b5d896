# Sourced on the device machine from the repository root: the carried Debian packages, CUDA's libraries, and
# FXOPT_GPU_BUILD / FXOPT_BIN / B pointing at the prebuilt .gpubin (scripts/gpu_prebuild.sh), or at an
# on-device build when the prebuilt binary does not run there (another glibc or CUDA).
eval "$(bash scripts/device_deps.sh)"
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:/usr/local/cuda/lib:$LD_LIBRARY_PATH
export CUDACXX=${CUDACXX:-$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)}
export PYTHONUNBUFFERED=1 PYTHONPATH=$PWD/python
B=$PWD/.gpubin
if ! "$B/fxopt" --version >/dev/null 2>&1; then
  echo "prebuilt fxopt does not run here ($("$B/fxopt" --version 2>&1 | head -1)); building"
  B=/tmp/fxopt-build-gpu
  { cmake -S . -B "$B" -G Ninja -DFXOPT_GPU=nvidia -DCMAKE_BUILD_TYPE=Release &&
    ninja -C "$B" -j"$(nproc)" fxopt fxopt_gpu_tests fxopt_gpu_capi; } >/tmp/fxopt-gpu-build.log 2>&1 ||
    tail -30 /tmp/fxopt-gpu-build.log
fi
export FXOPT_GPU_BUILD=$B FXOPT_BIN=$B/fxopt B
