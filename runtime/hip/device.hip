// Device discovery, memory, copies and event timing behind gpu_api.h.
#include <cstdio>
#include <string>
#include <vector>

#include "runtime/hip/kernel_common.h"

namespace fxopt::gpu {

namespace detail {

int sm_count() {
  static const int n = [] {
    int dev = 0;
    FXOPT_HIP_CHECK(hipGetDevice(&dev));
    hipDeviceProp_t p;
    FXOPT_HIP_CHECK(hipGetDeviceProperties(&p, dev));
    return p.multiProcessorCount;
  }();
  return n;
}

int nvidia_arch() {
#if defined(FXOPT_GPU_NVIDIA)
  static const int a = [] {
    int dev = 0;
    FXOPT_HIP_CHECK(hipGetDevice(&dev));
    hipDeviceProp_t p;
    FXOPT_HIP_CHECK(hipGetDeviceProperties(&p, dev));
    return p.major * 10 + p.minor;
  }();
  return a;
#else
  return 0;
#endif
}

void broadcast_strides(const TensorRef& in, const TensorRef& out, int64_t* strides) {
  if (in.ndim > out.ndim) throw std::invalid_argument("broadcast: input has more dims than the output");
  const int lead = out.ndim - in.ndim;
  for (int d = 0; d < out.ndim; ++d) {
    if (d < lead) {
      strides[d] = 0;
      continue;
    }
    const int64_t s = in.shape[d - lead];
    if (s == out.shape[d]) {
      strides[d] = s == 1 ? 0 : in.strides[d - lead];
    } else if (s == 1) {
      strides[d] = 0;
    } else {
      throw std::invalid_argument("broadcast: input dim " + std::to_string(d - lead) + " of size " +
                                  std::to_string(s) + " does not broadcast to " + std::to_string(out.shape[d]));
    }
  }
}

}  // namespace detail

bool device_available() {
  int n = 0;
  if (hipGetDeviceCount(&n) != hipSuccess) {
    (void)hipGetLastError();
    return false;
  }
  return n > 0;
}

std::string device_name() {
  int dev = 0;
  FXOPT_HIP_CHECK(hipGetDevice(&dev));
  hipDeviceProp_t p;
  FXOPT_HIP_CHECK(hipGetDeviceProperties(&p, dev));
  char buf[512];
#if defined(FXOPT_GPU_NVIDIA)
  std::snprintf(buf, sizeof buf, "%s (%d SMs, sm_%d%d)", p.name, p.multiProcessorCount, p.major, p.minor);
#else
  std::snprintf(buf, sizeof buf, "%s (%d CUs, %s)", p.name, p.multiProcessorCount, p.gcnArchName);
#endif
  return buf;
}

int multiprocessor_count() { return detail::sm_count(); }

void* alloc(size_t bytes) {
  void* p = nullptr;
  FXOPT_HIP_CHECK(hipMalloc(&p, bytes == 0 ? 1 : bytes));
  return p;
}

void free(void* p) {
  if (p) FXOPT_HIP_CHECK(hipFree(p));
}

void copy_to_device(void* dst, const void* src, size_t bytes) {
  FXOPT_HIP_CHECK(hipMemcpy(dst, src, bytes, hipMemcpyHostToDevice));
}

void copy_to_host(void* dst, const void* src, size_t bytes) {
  FXOPT_HIP_CHECK(hipMemcpy(dst, src, bytes, hipMemcpyDeviceToHost));
}

void copy_device(void* dst, const void* src, size_t bytes) {
  FXOPT_HIP_CHECK(hipMemcpyAsync(dst, src, bytes, hipMemcpyDeviceToDevice, detail::stream()));
}

void fill_bytes(void* dst, int value, size_t bytes) { FXOPT_HIP_CHECK(hipMemsetAsync(dst, value, bytes, detail::stream())); }

void synchronize() { FXOPT_HIP_CHECK(hipDeviceSynchronize()); }

namespace {
void* g_stream = nullptr;
}

void set_stream(void* s) { g_stream = s; }
void* current_stream() { return g_stream; }

// ---- launch accounting and interval timing ----

namespace detail {
namespace {
uint64_t g_launches = 0;
}
void note_launch() { ++g_launches; }
}  // namespace detail

uint64_t kernel_launches() { return detail::g_launches; }

namespace {
struct OpenInterval {
  hipEvent_t start = nullptr, stop = nullptr;
  std::string label;
  uint64_t launches = 0;
  bool ended = false, keep = false;
};
bool g_timing = false;
std::vector<OpenInterval> g_intervals;
std::vector<hipEvent_t> g_event_pool;

hipEvent_t pooled_event() {
  if (!g_event_pool.empty()) {
    hipEvent_t e = g_event_pool.back();
    g_event_pool.pop_back();
    return e;
  }
  hipEvent_t e;
  FXOPT_HIP_CHECK(hipEventCreate(&e));
  return e;
}
}  // namespace

void timing_enable(bool on) { g_timing = on; }
bool timing_enabled() { return g_timing; }

int timing_begin() {
  if (!g_timing) return -1;
  OpenInterval iv;
  iv.start = pooled_event();
  iv.stop = pooled_event();
  FXOPT_HIP_CHECK(hipEventRecord(iv.start, detail::stream()));
  g_intervals.push_back(std::move(iv));
  return static_cast<int>(g_intervals.size() - 1);
}

void timing_end(int ticket, std::string label, uint64_t launches, bool keep) {
  if (ticket < 0 || static_cast<size_t>(ticket) >= g_intervals.size()) return;
  OpenInterval& iv = g_intervals[static_cast<size_t>(ticket)];
  FXOPT_HIP_CHECK(hipEventRecord(iv.stop, detail::stream()));
  iv.label = std::move(label);
  iv.launches = launches;
  iv.ended = true;
  iv.keep = keep;
}

std::vector<TimedInterval> timing_collect() {
  std::vector<TimedInterval> out;
  FXOPT_HIP_CHECK(hipDeviceSynchronize());
  for (OpenInterval& iv : g_intervals) {
    if (iv.ended && iv.keep) {
      float ms = 0.0f;
      FXOPT_HIP_CHECK(hipEventElapsedTime(&ms, iv.start, iv.stop));
      out.push_back(TimedInterval{iv.label, iv.launches, static_cast<double>(ms)});
    }
    g_event_pool.push_back(iv.start);
    g_event_pool.push_back(iv.stop);
  }
  g_intervals.clear();
  return out;
}

float time_ms(const std::function<void()>& launches, int iterations) {
  hipEvent_t start, stop;
  FXOPT_HIP_CHECK(hipEventCreate(&start));
  FXOPT_HIP_CHECK(hipEventCreate(&stop));
  FXOPT_HIP_CHECK(hipEventRecord(start, detail::stream()));
  for (int i = 0; i < iterations; ++i) launches();
  FXOPT_HIP_CHECK(hipEventRecord(stop, detail::stream()));
  FXOPT_HIP_CHECK(hipEventSynchronize(stop));
  float ms = 0.0f;
  FXOPT_HIP_CHECK(hipEventElapsedTime(&ms, start, stop));
  FXOPT_HIP_CHECK(hipEventDestroy(start));
  FXOPT_HIP_CHECK(hipEventDestroy(stop));
  return ms / static_cast<float>(iterations > 0 ? iterations : 1);
}

}  // namespace fxopt::gpu
