// cuMem* entry points. Every range a copy or memset touches must lie inside one live allocation
// (CUDA_ERROR_INVALID_VALUE otherwise, before any byte moves); streams run each call to completion.
#include <cstdlib>
#include <cstring>

#include "emu.h"

using namespace ts_emu;

namespace {

void *device(uint64_t p) { return reinterpret_cast<void *>(p); }

// current(), then the stream.
Result ready(Context **ctx, const void *stream) {
    if (Result r = current(ctx)) return r;
    return valid_stream(*ctx, stream) ? SUCCESS : INVALID_HANDLE;
}

Result copy_to_device(uint64_t dst, const void *src, size_t bytes, const void *stream) {
    std::lock_guard lock(api_mutex);
    Context *ctx;
    if (Result r = ready(&ctx, stream)) return r;
    if (bytes == 0) return SUCCESS;
    if (src == nullptr || !mem_valid(dst, bytes)) return INVALID_VALUE;
    std::memcpy(device(dst), src, bytes);
    return SUCCESS;
}

Result copy_to_host(void *dst, uint64_t src, size_t bytes, const void *stream) {
    std::lock_guard lock(api_mutex);
    Context *ctx;
    if (Result r = ready(&ctx, stream)) return r;
    if (bytes == 0) return SUCCESS;
    if (dst == nullptr || !mem_valid(src, bytes)) return INVALID_VALUE;
    std::memcpy(dst, device(src), bytes);
    return SUCCESS;
}

}  // namespace

EMU_API int cuMemAlloc_v2(uint64_t *dptr, size_t bytes) {
    std::lock_guard lock(api_mutex);
    Context *ctx;
    if (Result r = current(&ctx)) return r;
    return mem_alloc(dptr, bytes);
}

EMU_API int cuMemFree_v2(uint64_t dptr) {
    std::lock_guard lock(api_mutex);
    Context *ctx;
    if (Result r = current(&ctx)) return r;
    return mem_free(dptr);
}

EMU_API int cuMemAllocHost_v2(void **pp, size_t bytes) {
    std::lock_guard lock(api_mutex);
    Context *ctx;
    if (Result r = current(&ctx)) return r;
    if (pp == nullptr || bytes == 0) return INVALID_VALUE;
    void *p;
    if (posix_memalign(&p, 4096, bytes) != 0) return OUT_OF_MEMORY;
    ctx->host_blocks.insert(p);
    *pp = p;
    return SUCCESS;
}

EMU_API int cuMemFreeHost(void *p) {
    std::lock_guard lock(api_mutex);
    Context *ctx;
    if (Result r = current(&ctx)) return r;
    if (ctx->host_blocks.erase(p) == 0) return INVALID_VALUE;
    std::free(p);
    return SUCCESS;
}

EMU_API int cuMemGetInfo_v2(size_t *free, size_t *total) {
    std::lock_guard lock(api_mutex);
    Context *ctx;
    if (Result r = current(&ctx)) return r;
    if (free == nullptr || total == nullptr) return INVALID_VALUE;
    *free = mem_total - mem_used();
    *total = mem_total;
    return SUCCESS;
}

EMU_API int cuMemcpyHtoD_v2(uint64_t dst, const void *src, size_t bytes) { return copy_to_device(dst, src, bytes, nullptr); }

EMU_API int cuMemcpyDtoH_v2(void *dst, uint64_t src, size_t bytes) { return copy_to_host(dst, src, bytes, nullptr); }

EMU_API int cuMemcpyHtoDAsync_v2(uint64_t dst, const void *src, size_t bytes, void *stream) {
    return copy_to_device(dst, src, bytes, stream);
}

EMU_API int cuMemcpyDtoHAsync_v2(void *dst, uint64_t src, size_t bytes, void *stream) {
    return copy_to_host(dst, src, bytes, stream);
}

EMU_API int cuMemcpyDtoDAsync_v2(uint64_t dst, uint64_t src, size_t bytes, void *stream) {
    std::lock_guard lock(api_mutex);
    Context *ctx;
    if (Result r = ready(&ctx, stream)) return r;
    if (bytes == 0) return SUCCESS;
    if (!mem_valid(dst, bytes) || !mem_valid(src, bytes)) return INVALID_VALUE;
    std::memmove(device(dst), device(src), bytes);
    return SUCCESS;
}

EMU_API int cuMemsetD8Async(uint64_t dst, unsigned char value, size_t count, void *stream) {
    std::lock_guard lock(api_mutex);
    Context *ctx;
    if (Result r = ready(&ctx, stream)) return r;
    if (count == 0) return SUCCESS;
    if (!mem_valid(dst, count)) return INVALID_VALUE;
    std::memset(device(dst), value, count);
    return SUCCESS;
}

EMU_API int cuMemsetD32Async(uint64_t dst, unsigned value, size_t count, void *stream) {
    std::lock_guard lock(api_mutex);
    Context *ctx;
    if (Result r = ready(&ctx, stream)) return r;
    if (count == 0) return SUCCESS;
    if (dst % 4 != 0 || count > SIZE_MAX / 4 || !mem_valid(dst, count * 4)) return INVALID_VALUE;
    unsigned *words = static_cast<unsigned *>(device(dst));
    for (size_t i = 0; i < count; i++) words[i] = value;
    return SUCCESS;
}
