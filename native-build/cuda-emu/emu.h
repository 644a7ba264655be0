// Internals shared by the emulated driver's files. The emulator is a test double for the CUDA driver and
// cuBLAS subsets that io.tessera.ffi.CudaDriver and Cublas bind: identical devices (one, or as many as
// the environment variable TESSERA_CUDA_EMU_DEVICES says, at most MAX_DEVICES), host memory, and stream
// work deferred until something waits for it (streams.cpp), so a missing wait shows as a stale read. One
// mutex serialises all calls, so the state below needs no further locking.
//
// Work must run in the context it belongs to: device memory, streams, events and modules (and the
// functions looked up in them) belong to the context current when they were made, and using them while
// another device's context is current is an error. Queued work runs in the context it was queued in (only
// a wait in that context runs it, and a fault makes that context sticky). A GPU without peer access faults
// on another device's memory in a kernel; the emulator is stricter (copies and frees are refused too,
// where unified addressing would let them through) so that work landing on the wrong device never goes
// unnoticed.
#ifndef TESSERA_CUDA_EMU_H
#define TESSERA_CUDA_EMU_H

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_set>
#include <vector>

#include "cuda_shim.h"

#define EMU_API extern "C" __attribute__((visibility("default")))

namespace ts_emu {

// CUresult values (cuda.h) the emulator returns.
enum Result : int {
    SUCCESS = 0,
    INVALID_VALUE = 1,
    OUT_OF_MEMORY = 2,
    NOT_INITIALIZED = 3,
    INVALID_DEVICE = 101,
    INVALID_IMAGE = 200,
    INVALID_CONTEXT = 201,
    INVALID_HANDLE = 400,
    NOT_FOUND = 500,
    NOT_READY = 600,
    ILLEGAL_ADDRESS = 700,
    LAUNCH_FAILED = 719,
    NOT_SUPPORTED = 801,
};

extern std::mutex api_mutex;

// ---- streams (streams.cpp) ----
// Work queued on a stream runs only when something waits for it: a stream, event or context
// synchronisation, an event query, a synchronous copy or one to pageable host memory, or freeing memory.
// Each stream then runs in order, and before each piece of work, the work it waits for on other streams
// (an event it waits for; on the legacy default stream, the blocking streams, and vice versa). So work
// that reads another stream's results without waiting for them reads stale memory, as a race may on a GPU.
struct Point {  // a place in a stream's work: reached once the stream has run `seq` pieces of work
    uint64_t stream;  // id; 0 is the default stream
    uint64_t seq;
};

struct Work {
    std::vector<Point> after;      // reached first
    std::function<Result()> body;  // empty for a pure wait
};

struct Stream {
    uint64_t id = 0;
    unsigned flags = 0;  // 0 (blocking: ordered with the default stream) or NON_BLOCKING
    std::deque<Work> queue;
    uint64_t enqueued = 0, completed = 0;
};

struct Event {
    unsigned flags = 0;
    bool recorded = false;
    Point at{};                  // the last record's place
    std::shared_ptr<double> ms;  // CLOCK_MONOTONIC when that record ran; NaN until then
};

struct Kernel;
// What cuModuleGetFunction hands out: one per kernel and module, so that a launch can tell whether its
// function belongs to the current context.
struct Function {
    const Kernel *kernel;
};
struct Module {
    std::vector<Function> functions;  // in the order of kernels[]
};

// ---- contexts (driver.cpp) ----
constexpr int MAX_DEVICES = 8;

// A device's primary context. An illegal address in a kernel makes it unusable (sticky, as on a GPU)
// until the last cuDevicePrimaryCtxRelease_v2 destroys it with all its memory.
struct Context {
    bool alive = false;
    int retains = 0;
    Result sticky = SUCCESS;
    size_t used = 0;  // device memory reserved by its live allocations
    Stream default_stream;
    uint64_t next_stream_id = 1;
    // Live handles, so a call can reject an unknown one and the context's end can free them.
    std::unordered_set<Stream *> streams;
    std::unordered_set<Event *> events;
    std::unordered_set<Module *> modules;
    std::map<const char *, size_t> host_blocks;  // page-locked host memory: start, bytes
};
// The calling thread's usable context, or the error every call must return instead.
Result current(Context **ctx);
void make_sticky(Context *ctx, Result error);
// The stream a handle names (NULL: the default stream), or nullptr if it is not a live stream of ctx.
Stream *find_stream(Context *ctx, const void *h);
// Queues body on the stream (which the caller has checked), to run after the places in `after` and when
// something waits for it. An empty body is a pure wait.
void enqueue(Context *ctx, Stream *stream, std::function<Result()> body, std::vector<Point> after = {});
// Runs the stream's queued work, and what it waits for; the first failure, which makes the context sticky.
Result finish(Context *ctx, Stream *stream);
// Runs the work of every stream; the first failure.
Result finish_all(Context *ctx);
// Whether [p, p + bytes) lies in page-locked host memory: only there do asynchronous copies stay deferred.
bool page_locked(const Context *ctx, const void *p, size_t bytes);

// ---- device memory (memory.cpp) ----
// Every allocation ends at a PROT_NONE guard page; the few bytes between its end and the guard page (it
// starts 256-byte aligned, as cuMemAlloc promises) hold a canary that launches check. Each belongs to
// the context that allocated it, whose device has mem_total bytes.
Result mem_alloc(Context *ctx, uint64_t *dptr, size_t bytes);
Result mem_free(Context *ctx, uint64_t dptr);
// Whether [p, p + bytes) lies inside one live allocation of ctx.
bool mem_valid(const Context *ctx, uint64_t p, size_t bytes);
// A description of the first allocation whose canary was overwritten, or empty if none was.
std::string mem_check_canaries();
// Where an address lies relative to the allocations, for fault messages.
std::string mem_describe(uint64_t address);
// Whether p lies inside a live allocation of any context (for the access recorder).
bool mem_is_device(uint64_t p);
// Frees every allocation of ctx.
void mem_release_all(Context *ctx);
extern const size_t mem_total;

// ---- kernels (generated kernels.cpp, fibers.cpp, launch.cpp) ----
struct Kernel {
    const char *name;
    // Copies the arguments CUDA's kernelParams point to (as cuLaunchKernel does) into a call of the host build.
    std::function<void()> (*bind)(void **params);
    int arity;
};
extern const Kernel kernels[];
extern const size_t kernel_count;

constexpr unsigned MAX_DYNAMIC_SHARED = 48 * 1024;

struct Launch {
    const Kernel *kernel;
    uint3 grid, block;
    unsigned shared_bytes;  // dynamic shared memory, at most MAX_DYNAMIC_SHARED
    std::function<void()> call;  // the kernel with its arguments (Kernel::bind)
    bool record;                 // its global accesses go to the access recorder
};
// Runs every block, each block's threads as fibers; called in the launch's child process.
void run_grid(const Launch &launch);
// Ends the launch's child process with a launch failure described by the message (a kernel's misuse of
// barriers or warp primitives that a GPU would hang on or silently get wrong).
[[noreturn]] void fail_in_grid(const char *format, ...) __attribute__((format(printf, 1, 2)));
// ---- the access recorder (recorder.cpp) ----
struct AccessStats {
    struct Side {
        uint64_t requests = 0, coalesced = 0, sectors = 0, ideal_sectors = 0, bytes = 0;
    };
    uint64_t launches = 0;
    Side loads, stores;
    uint64_t dropped = 0;
    AccessStats &operator+=(const AccessStats &o) {
        launches += o.launches;
        for (auto [mine, theirs] : {std::pair{&loads, &o.loads}, std::pair{&stores, &o.stores}}) {
            mine->requests += theirs->requests;
            mine->coalesced += theirs->coalesced;
            mine->sectors += theirs->sectors;
            mine->ideal_sectors += theirs->ideal_sectors;
            mine->bytes += theirs->bytes;
        }
        dropped += o.dropped;
        return *this;
    }
};
// Whether a launch made now is recorded (tsEmuRecordAccesses, or TESSERA_CUDA_EMU_RECORD for all).
bool record_requested();
// Before the launch's child starts: recording on (or off) for it (off if the buffer cannot be mapped).
void record_start(bool on);
// In the child, after each block: the block's accesses grouped into warp requests.
void record_block_done();
// After the child ended normally: the launch's totals added to the kernel's.
void record_finish(const char *kernel);

// The seed of the blocks' order (fibers.cpp): TESSERA_CUDA_EMU_SEED, or drawn once and printed.
uint64_t block_order_seed();
// Gets fiber stacks and dynamic shared memory ready for run_grid; called before the child starts, so
// the child allocates nothing. False if memory ran out.
bool prepare_grid(const Launch &launch);
Result launch(Context *ctx, const Launch &launch);

}  // namespace ts_emu

#endif
