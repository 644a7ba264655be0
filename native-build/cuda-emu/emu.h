// Internals shared by the emulated driver's files. The emulator is a test double for the CUDA driver and
// cuBLAS subsets that io.tessera.ffi.CudaDriver and Cublas bind: one device, host memory, everything
// synchronous. One mutex serialises all calls, so the state below needs no further locking.
#ifndef TESSERA_CUDA_EMU_H
#define TESSERA_CUDA_EMU_H

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_set>

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
    ILLEGAL_ADDRESS = 700,
    LAUNCH_FAILED = 719,
    NOT_SUPPORTED = 801,
};

extern std::mutex api_mutex;

// ---- contexts (driver.cpp) ----
// The one device's primary context. An illegal address in a kernel makes it unusable (sticky, as on a
// GPU) until the last cuDevicePrimaryCtxRelease_v2 destroys it with all its memory.
// A stream, event or module. Everything runs synchronously, so only events carry state: when they were recorded.
struct Handle {
    unsigned flags = 0;
    bool recorded = false;
    double ms = 0;  // CLOCK_MONOTONIC at the last cuEventRecord
};

struct Context {
    bool alive = false;
    int retains = 0;
    Result sticky = SUCCESS;
    // Live handles, so a call can reject an unknown one and the context's end can free them.
    std::unordered_set<const void *> streams, events, modules, host_blocks;
};
// The calling thread's usable context, or the error every call must return instead.
Result current(Context **ctx);
void make_sticky(Context *ctx, Result error);
// Whether h is NULL (the default stream) or a live stream of ctx.
bool valid_stream(const Context *ctx, const void *h);

// ---- device memory (memory.cpp) ----
// Every allocation ends at a PROT_NONE guard page; the few bytes between its end and the guard page (it
// starts 256-byte aligned, as cuMemAlloc promises) hold a canary that launches check.
Result mem_alloc(uint64_t *dptr, size_t bytes);
Result mem_free(uint64_t dptr);
// Whether [p, p + bytes) lies inside one live allocation.
bool mem_valid(uint64_t p, size_t bytes);
// A description of the first allocation whose canary was overwritten, or empty if none was.
std::string mem_check_canaries();
// Where an address lies relative to the allocations, for fault messages.
std::string mem_describe(uint64_t address);
size_t mem_used();
void mem_release_all();
extern const size_t mem_total;

// ---- kernels (generated kernels.cpp, fibers.cpp, launch.cpp) ----
struct Kernel {
    const char *name;
    void (*call)(void **params);  // unpacks CUDA's kernelParams and calls the host build
    int arity;
};
extern const Kernel kernels[];
extern const size_t kernel_count;

constexpr unsigned MAX_DYNAMIC_SHARED = 48 * 1024;

struct Launch {
    const Kernel *kernel;
    uint3 grid, block;
    unsigned shared_bytes;  // dynamic shared memory, at most MAX_DYNAMIC_SHARED
    void **params;
};
// Runs every block, each block's threads as fibers; called in the launch's child process.
void run_grid(const Launch &launch);
// Gets fiber stacks and dynamic shared memory ready for run_grid; called before the child starts, so
// the child allocates nothing. False if memory ran out.
bool prepare_grid(const Launch &launch);
Result launch(Context *ctx, const Launch &launch);

}  // namespace ts_emu

#endif
