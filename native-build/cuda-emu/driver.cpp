// Initialisation, the emulated devices, their primary contexts, and status names.
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "emu.h"

using namespace ts_emu;

namespace ts_emu {

std::mutex api_mutex;

namespace {

bool initialized;
int device_count = 1;
Context primaries[MAX_DEVICES];
thread_local Context *bound;

struct Status {
    int code;
    const char *name, *text;
};
const Status statuses[] = {
    {0, "CUDA_SUCCESS", "no error"},
    {1, "CUDA_ERROR_INVALID_VALUE", "invalid argument"},
    {2, "CUDA_ERROR_OUT_OF_MEMORY", "out of memory"},
    {3, "CUDA_ERROR_NOT_INITIALIZED", "initialization error"},
    {4, "CUDA_ERROR_DEINITIALIZED", "driver shutting down"},
    {34, "CUDA_ERROR_STUB_LIBRARY", "CUDA driver is a stub library"},
    {100, "CUDA_ERROR_NO_DEVICE", "no CUDA-capable device is detected"},
    {101, "CUDA_ERROR_INVALID_DEVICE", "invalid device ordinal"},
    {200, "CUDA_ERROR_INVALID_IMAGE", "device kernel image is invalid"},
    {201, "CUDA_ERROR_INVALID_CONTEXT", "invalid device context"},
    {400, "CUDA_ERROR_INVALID_HANDLE", "invalid resource handle"},
    {500, "CUDA_ERROR_NOT_FOUND", "named symbol not found"},
    {600, "CUDA_ERROR_NOT_READY", "device not ready"},
    {700, "CUDA_ERROR_ILLEGAL_ADDRESS", "an illegal memory access was encountered"},
    {701, "CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES", "too many resources requested for launch"},
    {719, "CUDA_ERROR_LAUNCH_FAILED", "unspecified launch failure"},
    {801, "CUDA_ERROR_NOT_SUPPORTED", "operation not supported"},
    {999, "CUDA_ERROR_UNKNOWN", "unknown error"},
};

// An A100-like (sm_80) device: what launch geometry and tuning code ask for. Others are INVALID_VALUE.
struct Attribute {
    int id, value;
};
const Attribute attributes[] = {
    {1, 1024},         // MAX_THREADS_PER_BLOCK
    {2, 1024},         // MAX_BLOCK_DIM_X
    {3, 1024},         // MAX_BLOCK_DIM_Y
    {4, 64},           // MAX_BLOCK_DIM_Z
    {5, 2147483647},   // MAX_GRID_DIM_X
    {6, 65535},        // MAX_GRID_DIM_Y
    {7, 65535},        // MAX_GRID_DIM_Z
    {8, 48 * 1024},    // MAX_SHARED_MEMORY_PER_BLOCK
    {9, 64 * 1024},    // TOTAL_CONSTANT_MEMORY
    {10, 32},          // WARP_SIZE
    {12, 65536},       // MAX_REGISTERS_PER_BLOCK
    {13, 1410000},     // CLOCK_RATE (kHz)
    {16, 108},         // MULTIPROCESSOR_COUNT
    {38, 40 << 20},    // L2_CACHE_SIZE
    {39, 2048},        // MAX_THREADS_PER_MULTIPROCESSOR
    {75, 8},           // COMPUTE_CAPABILITY_MAJOR
    {76, 0},           // COMPUTE_CAPABILITY_MINOR
    {81, 164 * 1024},  // MAX_SHARED_MEMORY_PER_MULTIPROCESSOR
    {97, 163 * 1024},  // MAX_SHARED_MEMORY_PER_BLOCK_OPTIN
};

const char DEVICE_NAME[] = "Tessera emulated CUDA device (host fibers, sm_80 limits)";

const Status *status(int code) {
    for (const Status &s : statuses)
        if (s.code == code) return &s;
    return nullptr;
}

// TESSERA_CUDA_EMU_DEVICES, 1 to MAX_DEVICES (1 when unset): how many devices there are. False if invalid.
bool read_device_count() {
    const char *text = std::getenv("TESSERA_CUDA_EMU_DEVICES");
    if (text == nullptr) return true;
    char *end;
    const long count = std::strtol(text, &end, 10);
    if (end == text || *end != '\0' || count < 1 || count > MAX_DEVICES) {
        std::fprintf(stderr, "tessera cuda-emu: TESSERA_CUDA_EMU_DEVICES=%s is not a device count from 1 to %d\n", text, MAX_DEVICES);
        return false;
    }
    device_count = static_cast<int>(count);
    return true;
}

Result device_ready(int dev) {
    if (!initialized) return NOT_INITIALIZED;
    return dev >= 0 && dev < device_count ? SUCCESS : INVALID_DEVICE;
}

// A primary context's end: frees everything it owned, as cuDevicePrimaryCtxRelease does on a GPU.
// Queued work that nobody waited for is dropped.
void destroy_primary(Context &ctx) {
    mem_release_all(&ctx);
    for (const auto &block : ctx.host_blocks) std::free(const_cast<char *>(block.first));
    for (Stream *s : ctx.streams) delete s;
    for (Event *e : ctx.events) delete e;
    for (Module *m : ctx.modules) delete m;
    ctx = Context{};
}

bool is_primary(const Context *ctx) {
    for (int dev = 0; dev < device_count; dev++)
        if (ctx == &primaries[dev]) return true;
    return false;
}

}  // namespace

Result current(Context **ctx) {
    if (!initialized) return NOT_INITIALIZED;
    if (bound == nullptr || !bound->alive) return INVALID_CONTEXT;
    if (bound->sticky != SUCCESS) return bound->sticky;
    *ctx = bound;
    return SUCCESS;
}

void make_sticky(Context *ctx, Result error) { ctx->sticky = error; }

}  // namespace ts_emu

EMU_API int cuInit(unsigned flags) {
    std::lock_guard lock(api_mutex);
    if (flags != 0 || !read_device_count()) return INVALID_VALUE;
    initialized = true;
    return SUCCESS;
}

EMU_API int cuDriverGetVersion(int *version) {
    if (version == nullptr) return INVALID_VALUE;
    *version = 13000;  // the API level the emulator follows (CUDA 13.0's cuda.h)
    return SUCCESS;
}

EMU_API int cuDeviceGetCount(int *count) {
    std::lock_guard lock(api_mutex);
    if (!initialized) return NOT_INITIALIZED;
    if (count == nullptr) return INVALID_VALUE;
    *count = device_count;
    return SUCCESS;
}

EMU_API int cuDeviceGet(int *device, int ordinal) {
    std::lock_guard lock(api_mutex);
    if (Result r = device_ready(ordinal)) return r;
    if (device == nullptr) return INVALID_VALUE;
    *device = ordinal;
    return SUCCESS;
}

EMU_API int cuDeviceGetName(char *name, int len, int dev) {
    std::lock_guard lock(api_mutex);
    if (Result r = device_ready(dev)) return r;
    if (name == nullptr || len <= 0) return INVALID_VALUE;
    std::strncpy(name, DEVICE_NAME, static_cast<size_t>(len) - 1);
    name[len - 1] = '\0';
    return SUCCESS;
}

EMU_API int cuDeviceGetAttribute(int *value, int attribute, int dev) {
    std::lock_guard lock(api_mutex);
    if (Result r = device_ready(dev)) return r;
    if (value == nullptr) return INVALID_VALUE;
    for (const Attribute &a : attributes) {
        if (a.id == attribute) {
            *value = a.value;
            return SUCCESS;
        }
    }
    return INVALID_VALUE;
}

EMU_API int cuDeviceTotalMem_v2(size_t *bytes, int dev) {
    std::lock_guard lock(api_mutex);
    if (Result r = device_ready(dev)) return r;
    if (bytes == nullptr) return INVALID_VALUE;
    *bytes = mem_total;
    return SUCCESS;
}

EMU_API int cuDevicePrimaryCtxRetain(Context **ctx, int dev) {
    std::lock_guard lock(api_mutex);
    if (Result r = device_ready(dev)) return r;
    if (ctx == nullptr) return INVALID_VALUE;
    Context &primary = primaries[dev];
    primary.alive = true;
    primary.retains++;
    *ctx = &primary;
    return SUCCESS;
}

EMU_API int cuDevicePrimaryCtxRelease_v2(int dev) {
    std::lock_guard lock(api_mutex);
    if (Result r = device_ready(dev)) return r;
    Context &primary = primaries[dev];
    if (primary.retains == 0) return INVALID_CONTEXT;
    if (--primary.retains == 0) destroy_primary(primary);
    return SUCCESS;
}

EMU_API int cuCtxSetCurrent(Context *ctx) {
    std::lock_guard lock(api_mutex);
    if (!initialized) return NOT_INITIALIZED;
    if (ctx != nullptr && (!is_primary(ctx) || !ctx->alive)) return INVALID_CONTEXT;
    bound = ctx;
    return SUCCESS;
}

EMU_API int cuCtxGetCurrent(Context **ctx) {
    std::lock_guard lock(api_mutex);
    if (!initialized) return NOT_INITIALIZED;
    if (ctx == nullptr) return INVALID_VALUE;
    *ctx = bound != nullptr && bound->alive ? bound : nullptr;
    return SUCCESS;
}

EMU_API int cuCtxSynchronize() {
    std::lock_guard lock(api_mutex);
    Context *ctx;
    if (Result r = current(&ctx)) return r;
    return finish_all(ctx);
}

EMU_API int cuGetErrorName(int error, const char **text) {
    if (text == nullptr) return INVALID_VALUE;
    const Status *s = status(error);
    *text = s == nullptr ? nullptr : s->name;
    return s == nullptr ? INVALID_VALUE : SUCCESS;
}

EMU_API int cuGetErrorString(int error, const char **text) {
    if (text == nullptr) return INVALID_VALUE;
    const Status *s = status(error);
    *text = s == nullptr ? nullptr : s->text;
    return s == nullptr ? INVALID_VALUE : SUCCESS;
}
