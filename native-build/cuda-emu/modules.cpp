// Modules and launches. A module stands for every kernel the emulator was built with (the host builds of
// kernels/cuda/*.cu, plus the test-only kernels/cuda-test/*.cu), so the image bytes are not read: the
// host builds come from the same sources the fatbin does. A launch copies its arguments and queues the
// kernel on its stream (streams.cpp); a fault in it is reported by whatever waits for it, as on a GPU.
#include <cstring>

#include "emu.h"

using namespace ts_emu;

namespace {

// The kernel of f if it is a function of one of ctx's modules (not of another context's), else null.
const Kernel *known(const Context *ctx, const void *f) {
    const auto p = reinterpret_cast<uintptr_t>(f);
    for (const Module *m : ctx->modules) {
        const std::vector<Function> &functions = m->functions;
        const auto first = reinterpret_cast<uintptr_t>(functions.data());
        if (p >= first && p < first + functions.size() * sizeof(Function) && (p - first) % sizeof(Function) == 0)
            return static_cast<const Function *>(f)->kernel;
    }
    return nullptr;
}

}  // namespace

EMU_API int cuModuleLoadData(void **module, const void *image) {
    std::lock_guard lock(api_mutex);
    Context *ctx;
    if (Result r = current(&ctx)) return r;
    if (module == nullptr) return INVALID_VALUE;
    if (image == nullptr) return INVALID_IMAGE;
    Module *m = new Module{};
    for (size_t i = 0; i < kernel_count; i++) m->functions.push_back({&kernels[i]});
    ctx->modules.insert(m);
    *module = m;
    return SUCCESS;
}

EMU_API int cuModuleUnload(void *module) {
    std::lock_guard lock(api_mutex);
    Context *ctx;
    if (Result r = current(&ctx)) return r;
    Module *m = static_cast<Module *>(module);
    if (ctx->modules.erase(m) == 0) return INVALID_HANDLE;
    delete m;
    return SUCCESS;
}

EMU_API int cuModuleGetFunction(const Function **function, void *module, const char *name) {
    std::lock_guard lock(api_mutex);
    Context *ctx;
    if (Result r = current(&ctx)) return r;
    if (ctx->modules.count(static_cast<Module *>(module)) == 0) return INVALID_HANDLE;
    if (function == nullptr || name == nullptr) return INVALID_VALUE;
    for (size_t i = 0; i < kernel_count; i++) {
        if (std::strcmp(kernels[i].name, name) == 0) {
            *function = &static_cast<Module *>(module)->functions[i];
            return SUCCESS;
        }
    }
    return NOT_FOUND;
}

EMU_API int cuLaunchKernel(const void *function, unsigned grid_x, unsigned grid_y, unsigned grid_z, unsigned block_x,
                           unsigned block_y, unsigned block_z, unsigned shared_bytes, void *stream, void **params,
                           void **extra) {
    std::lock_guard lock(api_mutex);
    Context *ctx;
    if (Result r = current(&ctx)) return r;
    const Kernel *kernel = known(ctx, function);
    if (kernel == nullptr) return INVALID_HANDLE;
    Stream *s = find_stream(ctx, stream);
    if (s == nullptr) return INVALID_HANDLE;
    if (extra != nullptr) return NOT_SUPPORTED;  // CU_LAUNCH_PARAM_BUFFER_POINTER packing is not emulated
    // The limits cuDeviceGetAttribute reports.
    const bool grid_ok = grid_x >= 1 && grid_x <= 2147483647u && grid_y >= 1 && grid_y <= 65535 && grid_z >= 1 && grid_z <= 65535;
    const bool block_ok = block_x >= 1 && block_x <= 1024 && block_y >= 1 && block_y <= 1024 && block_z >= 1 && block_z <= 64 &&
                          static_cast<uint64_t>(block_x) * block_y * block_z <= 1024;
    if (!grid_ok || !block_ok || shared_bytes > MAX_DYNAMIC_SHARED) return INVALID_VALUE;
    if (params == nullptr && kernel->arity > 0) return INVALID_VALUE;
    const Launch job{kernel, {grid_x, grid_y, grid_z}, {block_x, block_y, block_z}, shared_bytes, kernel->bind(params), record_requested()};
    if (!prepare_grid(job)) return OUT_OF_MEMORY;  // resources are claimed at the launch, as on a GPU
    enqueue(ctx, s, [ctx, job] { return launch(ctx, job); });
    return SUCCESS;
}
