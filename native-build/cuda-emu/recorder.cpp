// The access recorder: which 32-byte sectors each warp's global loads and stores touch, so that an
// uncoalesced kernel shows without a GPU. The kernels' host build is compiled with gcc's ThreadSanitizer
// instrumentation (-fsanitize=thread), which calls __tsan_readN / __tsan_writeN before every memory access;
// this file defines those calls (no TSan runtime is linked) and records the accesses that fall in device
// memory while a recorded launch runs. Why this mechanism: the .cu sources stay standard CUDA (a pointer
// wrapper would need its own parameter types in every kernel), and the compiler sees every access,
// including those in shared headers. -fno-tree-sra keeps a float4 load one 16-byte access, as on a GPU.
//
// A warp's request is one load or store instruction (its call site) executed by the lanes of one warp: the
// i-th time lane a executes it pairs with the i-th time lane b does, as under SIMT execution. A request is
// coalesced when it touches no more sectors than its distinct bytes need (ceil(bytes / 32)); that is
// Nsight Compute's ideal, also for misaligned views.
#include <sys/mman.h>

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <tuple>

#include "emu.h"

namespace ts_emu {
namespace {

constexpr unsigned SECTOR = 32;
constexpr size_t CAPACITY = size_t{1} << 22;  // accesses of one block; more are dropped and the stats marked

struct Access {
    uint64_t address;
    uint64_t site;  // the instrumentation call's return address: one per load or store instruction
    uint32_t thread;
    uint32_t occurrence;  // the how-many-th execution of site by thread, from 0 (set when a block ends)
    uint32_t order;       // position in the thread's accesses
    uint16_t bytes;
    bool store;
};

Access *accesses;  // a reserved mapping, touched only as far as a block fills it
size_t count;
bool recording;      // while a recorded launch runs
AccessStats totals;  // of the running launch
std::map<std::string, AccessStats> by_kernel;
bool switched_on;  // by tsEmuRecordAccesses

// TESSERA_CUDA_EMU_RECORD=1 records every launch and prints the report when the process exits. Registered after
// by_kernel is constructed, so that the handler runs before by_kernel is destroyed (registered first, it read a
// destroyed map at exit and the JVM died of SIGSEGV).
void print_report();
const bool record_all = [] {
    const char *text = std::getenv("TESSERA_CUDA_EMU_RECORD");
    if (text == nullptr || *text == '\0') return false;
    std::atexit(print_report);
    return true;
}();

double percent(uint64_t part, uint64_t whole) { return whole == 0 ? 100.0 : 100.0 * part / whole; }

void print_report() {
    std::lock_guard lock(api_mutex);
    std::fprintf(stderr, "tessera cuda-emu access report (a model of a GPU's memory traffic, not a measurement)\n");
    std::fprintf(stderr, "%-28s %8s %12s %12s %12s %12s %14s %14s\n", "kernel", "launches", "loads coal.", "load sect.",
                 "stores coal.", "store sect.", "bytes moved", "bytes asked");
    for (const auto &[kernel, a] : by_kernel) {
        std::fprintf(stderr, "%-28s %8" PRIu64 " %11.1f%% %11.1f%% %11.1f%% %11.1f%% %14" PRIu64 " %14" PRIu64 "%s\n", kernel.c_str(),
                     a.launches, percent(a.loads.coalesced, a.loads.requests), percent(a.loads.ideal_sectors, a.loads.sectors),
                     percent(a.stores.coalesced, a.stores.requests), percent(a.stores.ideal_sectors, a.stores.sectors),
                     SECTOR * (a.loads.sectors + a.stores.sectors), a.loads.bytes + a.stores.bytes,
                     a.dropped ? " (accesses dropped)" : "");
    }
}

void record(const void *p, size_t bytes, bool store, const void *site) {
    if (!recording) return;
    const auto address = reinterpret_cast<uint64_t>(p);
    if (!mem_is_device(address)) return;
    if (count == CAPACITY) {
        totals.dropped++;
        return;
    }
    const uint3 &t = *current_thread_idx;
    accesses[count] = {address, reinterpret_cast<uint64_t>(site), t.x + block_dim.x * (t.y + block_dim.y * t.z), 0,
                       static_cast<uint32_t>(count), static_cast<uint16_t>(std::min<size_t>(bytes, UINT16_MAX)), store};
    count++;
}

// Adds one warp request, accesses [first, last), to the totals.
void add_request(const Access *first, const Access *last) {
    uint64_t sectors[2 * 32 * 2];  // an access of up to 16 bytes spans at most 2 sectors; lanes may repeat
    size_t n = 0;
    std::pair<uint64_t, uint64_t> ranges[2 * 32];
    size_t r = 0;
    uint64_t requested = 0;
    for (const Access *a = first; a != last && r < 64; a++, r++) {
        for (uint64_t s = a->address / SECTOR; s <= (a->address + a->bytes - 1) / SECTOR && n < std::size(sectors); s++) sectors[n++] = s;
        ranges[r] = {a->address, a->address + a->bytes};
        requested += a->bytes;
    }
    std::sort(sectors, sectors + n);
    const uint64_t touched = static_cast<uint64_t>(std::unique(sectors, sectors + n) - sectors);
    std::sort(ranges, ranges + r);
    uint64_t distinct = 0, end = 0;
    for (size_t i = 0; i < r; i++) {
        const uint64_t from = std::max(ranges[i].first, end);
        if (ranges[i].second > from) distinct += ranges[i].second - from;
        end = std::max(end, ranges[i].second);
    }
    const uint64_t needed = (distinct + SECTOR - 1) / SECTOR;
    AccessStats::Side &side = first->store ? totals.stores : totals.loads;
    side.requests++;
    side.coalesced += touched <= needed;
    side.sectors += touched;
    side.ideal_sectors += needed;
    side.bytes += requested;
}

}  // namespace

bool record_requested() { return switched_on || record_all; }

void record_start(bool on) {
    recording = on;
    totals = {};
    count = 0;
    if (on && accesses == nullptr) {
        void *p = mmap(nullptr, CAPACITY * sizeof(Access), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        accesses = p == MAP_FAILED ? nullptr : static_cast<Access *>(p);
        recording = accesses != nullptr;
    }
}

// Groups the block's accesses into warp requests (sorting in place: the child allocates nothing).
void record_block_done() {
    if (!recording) return;
    std::sort(accesses, accesses + count, [](const Access &a, const Access &b) {
        return a.thread != b.thread ? a.thread < b.thread : a.site != b.site ? a.site < b.site : a.order < b.order;
    });
    for (size_t i = 0; i < count; i++)
        accesses[i].occurrence = i > 0 && accesses[i - 1].thread == accesses[i].thread && accesses[i - 1].site == accesses[i].site
                                     ? accesses[i - 1].occurrence + 1
                                     : 0;
    auto request = [](const Access &a) { return std::make_tuple(a.thread / 32, a.site, a.occurrence); };
    std::sort(accesses, accesses + count, [&](const Access &a, const Access &b) { return request(a) < request(b); });
    for (size_t first = 0; first < count;) {
        size_t last = first + 1;
        while (last < count && request(accesses[last]) == request(accesses[first])) last++;
        add_request(accesses + first, accesses + last);
        first = last;
    }
    count = 0;
}

void record_finish(const char *kernel) {
    if (!recording) return;
    recording = false;
    totals.launches = 1;
    by_kernel[kernel] += totals;
}

}  // namespace ts_emu

using namespace ts_emu;

// The instrumentation's entry points (gcc -fsanitize=thread, with function entry and exit not instrumented).
#define TS_EMU_HOOKS(bytes)                                                                                      \
    EMU_HOOK void __tsan_read##bytes(void *p) { record(p, bytes, false, __builtin_return_address(0)); }           \
    EMU_HOOK void __tsan_write##bytes(void *p) { record(p, bytes, true, __builtin_return_address(0)); }           \
    EMU_HOOK void __tsan_unaligned_read##bytes(void *p) { record(p, bytes, false, __builtin_return_address(0)); } \
    EMU_HOOK void __tsan_unaligned_write##bytes(void *p) { record(p, bytes, true, __builtin_return_address(0)); }
#define EMU_HOOK extern "C" __attribute__((visibility("hidden")))
TS_EMU_HOOKS(1)
TS_EMU_HOOKS(2)
TS_EMU_HOOKS(4)
TS_EMU_HOOKS(8)
TS_EMU_HOOKS(16)
EMU_HOOK void __tsan_read_range(void *p, size_t bytes) { record(p, bytes, false, __builtin_return_address(0)); }
EMU_HOOK void __tsan_write_range(void *p, size_t bytes) { record(p, bytes, true, __builtin_return_address(0)); }
EMU_HOOK void __tsan_init() {}

// Emulator-only: recording on (clearing what was recorded) or off, for the launches made from now on.
EMU_API void tsEmuRecordAccesses(int on) {
    std::lock_guard lock(api_mutex);
    if (on) by_kernel.clear();
    switched_on = on != 0;
}

// Emulator-only: what the recorded launches of a kernel did, as 12 numbers: launches; for loads, then for
// stores: requests, coalesced requests, sectors touched, sectors needed, bytes requested; accesses dropped
// (a block made more than the recorder holds). NOT_FOUND if no launch of the kernel was recorded.
EMU_API int tsEmuAccessStats(const char *kernel, uint64_t *out) {
    std::lock_guard lock(api_mutex);
    if (kernel == nullptr || out == nullptr) return INVALID_VALUE;
    auto it = by_kernel.find(kernel);
    if (it == by_kernel.end()) return NOT_FOUND;
    const AccessStats &a = it->second;
    const uint64_t values[] = {a.launches,           a.loads.requests, a.loads.coalesced, a.loads.sectors,
                               a.loads.ideal_sectors, a.loads.bytes,   a.stores.requests, a.stores.coalesced,
                               a.stores.sectors,     a.stores.ideal_sectors, a.stores.bytes, a.dropped};
    std::copy(std::begin(values), std::end(values), out);
    return SUCCESS;
}
