// Streams and events. Every operation has finished when its call returns, so streams only need to exist,
// an event is complete as soon as it is recorded, and it records the host clock.
#include <time.h>

#include "emu.h"

using namespace ts_emu;

namespace {

constexpr unsigned EVENT_FLAGS = 0x1 | 0x2 | 0x4;  // BLOCKING_SYNC | DISABLE_TIMING | INTERPROCESS
constexpr unsigned DISABLE_TIMING = 0x2;

Result make(std::unordered_set<const void *> &owner, void **out, unsigned flags) {
    if (out == nullptr) return INVALID_VALUE;
    Handle *h = new Handle{};
    h->flags = flags;
    owner.insert(h);
    *out = h;
    return SUCCESS;
}

Result destroy(std::unordered_set<const void *> &owner, void *h) {
    if (owner.erase(h) == 0) return INVALID_HANDLE;
    delete static_cast<Handle *>(h);
    return SUCCESS;
}

// current(), then the event.
Result event(Context **ctx, void *h, Handle **event) {
    if (Result r = current(ctx)) return r;
    if ((*ctx)->events.count(h) == 0) return INVALID_HANDLE;
    *event = static_cast<Handle *>(h);
    return SUCCESS;
}

}  // namespace

EMU_API int cuStreamCreate(void **stream, unsigned flags) {
    std::lock_guard lock(api_mutex);
    Context *ctx;
    if (Result r = current(&ctx)) return r;
    if (flags > 1) return INVALID_VALUE;  // DEFAULT or NON_BLOCKING
    return make(ctx->streams, stream, flags);
}

EMU_API int cuStreamDestroy_v2(void *stream) {
    std::lock_guard lock(api_mutex);
    Context *ctx;
    if (Result r = current(&ctx)) return r;
    return destroy(ctx->streams, stream);
}

EMU_API int cuStreamSynchronize(void *stream) {
    std::lock_guard lock(api_mutex);
    Context *ctx;
    if (Result r = current(&ctx)) return r;
    return valid_stream(ctx, stream) ? SUCCESS : INVALID_HANDLE;
}

EMU_API int cuStreamWaitEvent(void *stream, void *h, unsigned flags) {
    std::lock_guard lock(api_mutex);
    Context *ctx;
    Handle *e;
    if (Result r = event(&ctx, h, &e)) return r;
    if (!valid_stream(ctx, stream)) return INVALID_HANDLE;
    return flags == 0 ? SUCCESS : INVALID_VALUE;
}

EMU_API int cuEventCreate(void **event, unsigned flags) {
    std::lock_guard lock(api_mutex);
    Context *ctx;
    if (Result r = current(&ctx)) return r;
    if ((flags & ~EVENT_FLAGS) != 0) return INVALID_VALUE;
    return make(ctx->events, event, flags);
}

EMU_API int cuEventDestroy_v2(void *event) {
    std::lock_guard lock(api_mutex);
    Context *ctx;
    if (Result r = current(&ctx)) return r;
    return destroy(ctx->events, event);
}

EMU_API int cuEventRecord(void *h, void *stream) {
    std::lock_guard lock(api_mutex);
    Context *ctx;
    Handle *e;
    if (Result r = event(&ctx, h, &e)) return r;
    if (!valid_stream(ctx, stream)) return INVALID_HANDLE;
    timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    e->recorded = true;
    e->ms = static_cast<double>(now.tv_sec) * 1e3 + static_cast<double>(now.tv_nsec) * 1e-6;
    return SUCCESS;
}

EMU_API int cuEventSynchronize(void *h) {
    std::lock_guard lock(api_mutex);
    Context *ctx;
    Handle *e;
    return event(&ctx, h, &e);
}

EMU_API int cuEventQuery(void *h) {
    std::lock_guard lock(api_mutex);
    Context *ctx;
    Handle *e;
    return event(&ctx, h, &e);
}

EMU_API int cuEventElapsedTime(float *ms, void *start, void *end) {
    std::lock_guard lock(api_mutex);
    Context *ctx;
    Handle *from, *to;
    if (Result r = event(&ctx, start, &from)) return r;
    if (Result r = event(&ctx, end, &to)) return r;
    if (ms == nullptr) return INVALID_VALUE;
    if (!from->recorded || !to->recorded || ((from->flags | to->flags) & DISABLE_TIMING)) return INVALID_HANDLE;
    *ms = static_cast<float>(to->ms - from->ms);
    return SUCCESS;
}
