// Device discovery, memory, copies and event timing behind gpu_api.h.
#include <cstdio>
#include <string>
#include <unordered_map>
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

// ---- caching allocator ----
// Device blocks are rounded up to a size class (512 B steps up to 1 MiB, then 1 MiB steps) and kept
// on a free list per class when freed, so a steady-state run (the same sizes again) does no
// hipMalloc/hipFree: hipFree synchronises the whole device, and both cost tens to hundreds of us.
// A block returned by free() may be handed out again at once: every launch and async copy goes to one
// stream in issue order, so work enqueued later on that stream cannot start before the work that used
// the block's previous contents finished (set_stream() synchronises before it switches streams, so
// this also holds across a switch). The host never touches device memory directly.
namespace {
struct Cache {
  std::unordered_map<size_t, std::vector<void*>> free_lists;  // size class -> idle blocks
  std::unordered_map<void*, size_t> live;                     // block -> size class
  AllocStats stats;
  bool dead = false;  // destroyed at exit: free() then goes straight to hipFree
  void release_idle() {
    for (auto& [cls, blocks] : free_lists)
      for (void* p : blocks) {
        (void)hipFree(p);  // errors ignored: also runs at exit, possibly after the runtime's teardown
        ++stats.device_frees;
        stats.bytes_cached -= cls;
      }
    free_lists.clear();
  }
  ~Cache() {
    release_idle();
    dead = true;
  }
};
Cache& cache() {
  static Cache c;
  return c;
}
size_t size_class(size_t bytes) {
  if (bytes == 0) bytes = 1;
  const size_t step = bytes <= (size_t{1} << 20) ? 512 : (size_t{1} << 20);
  return (bytes + step - 1) / step * step;
}
}  // namespace

void* alloc(size_t bytes) {
  Cache& c = cache();
  const size_t cls = size_class(bytes);
  auto it = c.free_lists.find(cls);
  if (it != c.free_lists.end() && !it->second.empty()) {
    void* p = it->second.back();
    it->second.pop_back();
    c.live.emplace(p, cls);
    ++c.stats.cache_hits;
    c.stats.bytes_cached -= cls;
    c.stats.bytes_in_use += cls;
    return p;
  }
  void* p = nullptr;
  hipError_t err = hipMalloc(&p, cls);
  if (err != hipSuccess && !c.free_lists.empty()) {  // out of memory: give the idle blocks back, retry once
    (void)hipGetLastError();
    FXOPT_HIP_CHECK(hipDeviceSynchronize());
    c.release_idle();
    err = hipMalloc(&p, cls);
  }
  if (err != hipSuccess) detail::throw_hip_error(err, "hipMalloc(&p, bytes) (caching allocator)", __FILE__, __LINE__);
  ++c.stats.device_allocs;
  c.live.emplace(p, cls);
  c.stats.bytes_in_use += cls;
  return p;
}

void free(void* p) {
  if (!p) return;
  Cache& c = cache();
  if (c.dead) {
    (void)hipFree(p);
    return;
  }
  auto it = c.live.find(p);
  if (it == c.live.end()) {  // not from alloc(): free it directly
    FXOPT_HIP_CHECK(hipFree(p));
    return;
  }
  const size_t cls = it->second;
  c.live.erase(it);
  c.free_lists[cls].push_back(p);
  c.stats.bytes_in_use -= cls;
  c.stats.bytes_cached += cls;
}

AllocStats alloc_stats() { return cache().stats; }

void release_cached_memory() {
  FXOPT_HIP_CHECK(hipDeviceSynchronize());
  cache().release_idle();
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

// Cached blocks freed under the old stream may still be read or written by its queued work: let it
// finish before launches go to the new one.
void set_stream(void* s) {
  if (s != g_stream) synchronize();
  g_stream = s;
}
void* current_stream() { return g_stream; }

// ---- launch accounting and interval timing ----

namespace detail {
namespace {
uint64_t g_launches = 0;
}
void note_launch() { ++g_launches; }
}  // namespace detail

uint64_t kernel_launches() { return detail::g_launches; }

// Under timing_enable(true) every kernel launch (FXOPT_LAUNCH) runs between its own two events on the
// launch stream, so an interval measures device work alone: not the host code between launches
// (allocation, argument checks) nor idle gaps. Each launch is attributed to the innermost open
// interval (timing_begin/timing_end); launches outside any go to one "(outside nodes)" interval.
namespace {
struct OpenInterval {
  std::string label;
  uint64_t launches = 0;
  int parent = -1;
  bool ended = false, keep = false;
};
struct LaunchEvents {
  hipEvent_t start = nullptr, stop = nullptr;
  int interval = -1;
};
bool g_timing = false;
int g_open = -1;  // innermost open interval
bool g_launch_open = false;
std::vector<OpenInterval> g_intervals;
std::vector<LaunchEvents> g_launch_events;
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

namespace detail {
void launch_begin(hipStream_t s) {
  if (!g_timing) return;
  LaunchEvents le;
  le.start = pooled_event();
  le.stop = pooled_event();
  le.interval = g_open;
  FXOPT_HIP_CHECK(hipEventRecord(le.start, s));
  g_launch_events.push_back(le);
  g_launch_open = true;
}
void launch_end(hipStream_t s) {
  if (!g_launch_open) return;
  g_launch_open = false;
  FXOPT_HIP_CHECK(hipEventRecord(g_launch_events.back().stop, s));
}
}  // namespace detail

void timing_enable(bool on) { g_timing = on; }
bool timing_enabled() { return g_timing; }

int timing_begin() {
  if (!g_timing) return -1;
  OpenInterval iv;
  iv.parent = g_open;
  g_intervals.push_back(std::move(iv));
  g_open = static_cast<int>(g_intervals.size() - 1);
  return g_open;
}

void timing_end(int ticket, std::string label, uint64_t launches, bool keep) {
  if (ticket < 0 || static_cast<size_t>(ticket) >= g_intervals.size()) return;
  OpenInterval& iv = g_intervals[static_cast<size_t>(ticket)];
  iv.label = std::move(label);
  iv.launches = launches;
  iv.ended = true;
  iv.keep = keep;
  if (g_open == ticket) g_open = iv.parent;
}

std::vector<TimedInterval> timing_collect() {
  FXOPT_HIP_CHECK(hipDeviceSynchronize());
  std::vector<double> ms(g_intervals.size(), 0.0);
  double outside_ms = 0.0;
  uint64_t outside_n = 0;
  for (LaunchEvents& le : g_launch_events) {
    float t = 0.0f;
    FXOPT_HIP_CHECK(hipEventElapsedTime(&t, le.start, le.stop));
    if (le.interval >= 0) {
      ms[static_cast<size_t>(le.interval)] += t;
    } else {
      outside_ms += t;
      ++outside_n;
    }
    g_event_pool.push_back(le.start);
    g_event_pool.push_back(le.stop);
  }
  std::vector<TimedInterval> out;
  for (size_t i = 0; i < g_intervals.size(); ++i)
    if (g_intervals[i].ended && g_intervals[i].keep)
      out.push_back(TimedInterval{g_intervals[i].label, g_intervals[i].launches, ms[i]});
  if (outside_n) out.push_back(TimedInterval{"(outside nodes)", outside_n, outside_ms});
  g_intervals.clear();
  g_launch_events.clear();
  g_open = -1;
  g_launch_open = false;
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
