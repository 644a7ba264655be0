// cuMem* entry points. Every range a copy or memset touches must lie inside one live allocation of the
// current context (CUDA_ERROR_INVALID_VALUE otherwise, before anything is queued). Copies and memsets are
// stream work (streams.cpp), and host memory is used as CUDA uses it: page-locked memory when the copy
// runs, pageable memory at the call (a copy from it is staged, a copy to it waits for the stream and
// returns when done). The synchronous copies are work on the default stream, which they finish.
#include <cstdlib>
#include <cstring>
#include <vector>

#include "emu.h"

using namespace ts_emu;

namespace {

void *device(uint64_t p) { return reinterpret_cast<void *>(p); }

// current(), then the stream.
Result ready(Context **ctx, const void *h, Stream **stream) {
    if (Result r = current(ctx)) return r;
    *stream = find_stream(*ctx, h);
    return *stream == nullptr ? INVALID_HANDLE : SUCCESS;
}

Result copy_to_device(uint64_t dst, const void *src, size_t bytes, const void *h, bool blocking) {
    std::lock_guard lock(api_mutex);
    Context *ctx;
    Stream *stream;
    if (Result r = ready(&ctx, h, &stream)) return r;
    if (bytes == 0) return SUCCESS;
    if (src == nullptr || !mem_valid(ctx, dst, bytes)) return INVALID_VALUE;
    if (blocking || page_locked(ctx, src, bytes)) {
        enqueue(ctx, stream, [dst, src, bytes] {
            std::memcpy(device(dst), src, bytes);
            return SUCCESS;
        });
    } else {
        auto staged = std::make_shared<std::vector<char>>(static_cast<const char *>(src), static_cast<const char *>(src) + bytes);
        enqueue(ctx, stream, [dst, staged] {
            std::memcpy(device(dst), staged->data(), staged->size());
            return SUCCESS;
        });
    }
    return blocking ? finish(ctx, stream) : SUCCESS;
}

Result copy_to_host(void *dst, uint64_t src, size_t bytes, const void *h, bool blocking) {
    std::lock_guard lock(api_mutex);
    Context *ctx;
    Stream *stream;
    if (Result r = ready(&ctx, h, &stream)) return r;
    if (bytes == 0) return SUCCESS;
    if (dst == nullptr || !mem_valid(ctx, src, bytes)) return INVALID_VALUE;
    enqueue(ctx, stream, [dst, src, bytes] {
        std::memcpy(dst, device(src), bytes);
        return SUCCESS;
    });
    return blocking || !page_locked(ctx, dst, bytes) ? finish(ctx, stream) : SUCCESS;
}

// A queued memset of count elements of T.
template <typename T>
Result memset_async(uint64_t dst, T value, size_t count, const void *h) {
    std::lock_guard lock(api_mutex);
    Context *ctx;
    Stream *stream;
    if (Result r = ready(&ctx, h, &stream)) return r;
    if (count == 0) return SUCCESS;
    if (dst % sizeof(T) != 0 || count > SIZE_MAX / sizeof(T) || !mem_valid(ctx, dst, count * sizeof(T))) return INVALID_VALUE;
    enqueue(ctx, stream, [dst, value, count] {
        T *elements = static_cast<T *>(device(dst));
        for (size_t i = 0; i < count; i++) elements[i] = value;
        return SUCCESS;
    });
    return SUCCESS;
}

}  // namespace

EMU_API int cuMemAlloc_v2(uint64_t *dptr, size_t bytes) {
    std::lock_guard lock(api_mutex);
    Context *ctx;
    if (Result r = current(&ctx)) return r;
    return mem_alloc(ctx, dptr, bytes);
}

// Waits for all queued work first (as cudaFree does), so none of it touches freed memory.
EMU_API int cuMemFree_v2(uint64_t dptr) {
    std::lock_guard lock(api_mutex);
    Context *ctx;
    if (Result r = current(&ctx)) return r;
    if (Result r = finish_all(ctx)) return r;
    return mem_free(ctx, dptr);
}

EMU_API int cuMemAllocHost_v2(void **pp, size_t bytes) {
    std::lock_guard lock(api_mutex);
    Context *ctx;
    if (Result r = current(&ctx)) return r;
    if (pp == nullptr || bytes == 0) return INVALID_VALUE;
    void *p;
    if (posix_memalign(&p, 4096, bytes) != 0) return OUT_OF_MEMORY;
    ctx->host_blocks[static_cast<const char *>(p)] = bytes;
    *pp = p;
    return SUCCESS;
}

EMU_API int cuMemFreeHost(void *p) {
    std::lock_guard lock(api_mutex);
    Context *ctx;
    if (Result r = current(&ctx)) return r;
    if (ctx->host_blocks.count(static_cast<const char *>(p)) == 0) return INVALID_VALUE;
    if (Result r = finish_all(ctx)) return r;
    ctx->host_blocks.erase(static_cast<const char *>(p));
    std::free(p);
    return SUCCESS;
}

EMU_API int cuMemGetInfo_v2(size_t *free, size_t *total) {
    std::lock_guard lock(api_mutex);
    Context *ctx;
    if (Result r = current(&ctx)) return r;
    if (free == nullptr || total == nullptr) return INVALID_VALUE;
    *free = mem_total - ctx->used;
    *total = mem_total;
    return SUCCESS;
}

EMU_API int cuMemcpyHtoD_v2(uint64_t dst, const void *src, size_t bytes) { return copy_to_device(dst, src, bytes, nullptr, true); }

EMU_API int cuMemcpyDtoH_v2(void *dst, uint64_t src, size_t bytes) { return copy_to_host(dst, src, bytes, nullptr, true); }

EMU_API int cuMemcpyHtoDAsync_v2(uint64_t dst, const void *src, size_t bytes, void *stream) {
    return copy_to_device(dst, src, bytes, stream, false);
}

EMU_API int cuMemcpyDtoHAsync_v2(void *dst, uint64_t src, size_t bytes, void *stream) {
    return copy_to_host(dst, src, bytes, stream, false);
}

EMU_API int cuMemcpyDtoDAsync_v2(uint64_t dst, uint64_t src, size_t bytes, void *h) {
    std::lock_guard lock(api_mutex);
    Context *ctx;
    Stream *stream;
    if (Result r = ready(&ctx, h, &stream)) return r;
    if (bytes == 0) return SUCCESS;
    if (!mem_valid(ctx, dst, bytes) || !mem_valid(ctx, src, bytes)) return INVALID_VALUE;
    enqueue(ctx, stream, [dst, src, bytes] {
        std::memmove(device(dst), device(src), bytes);
        return SUCCESS;
    });
    return SUCCESS;
}

EMU_API int cuMemsetD8Async(uint64_t dst, unsigned char value, size_t count, void *stream) {
    return memset_async(dst, value, count, stream);
}

EMU_API int cuMemsetD32Async(uint64_t dst, unsigned value, size_t count, void *stream) {
    return memset_async(dst, value, count, stream);
}
