// Streams and events, with deferred work (see emu.h): a stream's work runs when something waits for it, so
// the order in which streams run is the order of the waits, not of the calls. An event is a place in one
// stream's work, reached when the stream has run that far, and it records the host clock when it is.
#include <time.h>

#include <cmath>

#include "emu.h"

namespace ts_emu {
namespace {

constexpr unsigned STREAM_NON_BLOCKING = 0x1;
constexpr unsigned EVENT_FLAGS = 0x1 | 0x2 | 0x4;  // BLOCKING_SYNC | DISABLE_TIMING | INTERPROCESS
constexpr unsigned DISABLE_TIMING = 0x2;

double now_ms() {
    timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return static_cast<double>(now.tv_sec) * 1e3 + static_cast<double>(now.tv_nsec) * 1e-6;
}

// The stream with this id, or nullptr once it was destroyed (it finished its work first).
Stream *by_id(Context *ctx, uint64_t id) {
    if (id == 0) return &ctx->default_stream;
    for (Stream *s : ctx->streams)
        if (s->id == id) return s;
    return nullptr;
}

Point tail(const Stream &s) { return {s.id, s.enqueued}; }

bool reached(Context *ctx, Point p) {
    const Stream *s = by_id(ctx, p.stream);
    return s == nullptr || s->completed >= p.seq;
}

// After a failed piece of work the context is unusable (sticky) and nothing queued may run any more.
Result abandon(Context *ctx, Result error) {
    make_sticky(ctx, error);
    for (Stream *s : ctx->streams) {
        s->queue.clear();
        s->completed = s->enqueued;
    }
    ctx->default_stream.queue.clear();
    ctx->default_stream.completed = ctx->default_stream.enqueued;
    return error;
}

// Work only ever waits for places queued before it, so this recursion always ends.
Result reach(Context *ctx, Point p) {
    Stream *s = by_id(ctx, p.stream);
    while (s != nullptr && s->completed < p.seq) {
        Work work = std::move(s->queue.front());
        s->queue.pop_front();
        for (const Point &before : work.after)
            if (Result r = reach(ctx, before)) return r;
        if (work.body)
            if (Result r = work.body()) return abandon(ctx, r);
        s->completed++;
    }
    return SUCCESS;
}

// current(), then the event.
Result event(Context **ctx, void *h, Event **event) {
    if (Result r = current(ctx)) return r;
    *event = static_cast<Event *>(h);
    return (*ctx)->events.count(*event) == 0 ? INVALID_HANDLE : SUCCESS;
}

}  // namespace

Stream *find_stream(Context *ctx, const void *h) {
    if (h == nullptr) return &ctx->default_stream;
    Stream *s = static_cast<Stream *>(const_cast<void *>(h));
    return ctx->streams.count(s) != 0 ? s : nullptr;
}

void enqueue(Context *ctx, Stream *stream, std::function<Result()> body, std::vector<Point> after) {
    Work work{std::move(after), std::move(body)};
    // The legacy default stream and blocking streams wait for each other's earlier work.
    if (stream == &ctx->default_stream) {
        for (const Stream *s : ctx->streams)
            if ((s->flags & STREAM_NON_BLOCKING) == 0) work.after.push_back(tail(*s));
    } else if ((stream->flags & STREAM_NON_BLOCKING) == 0) {
        work.after.push_back(tail(ctx->default_stream));
    }
    stream->queue.push_back(std::move(work));
    stream->enqueued++;
}

Result finish(Context *ctx, Stream *stream) { return reach(ctx, tail(*stream)); }

Result finish_all(Context *ctx) {
    if (Result r = finish(ctx, &ctx->default_stream)) return r;
    for (Stream *s : ctx->streams)
        if (Result r = finish(ctx, s)) return r;
    return SUCCESS;
}

bool page_locked(const Context *ctx, const void *p, size_t bytes) {
    const char *start = static_cast<const char *>(p);
    auto it = ctx->host_blocks.upper_bound(start);
    if (it == ctx->host_blocks.begin()) return false;
    --it;
    const size_t offset = static_cast<size_t>(start - it->first);
    return offset <= it->second && bytes <= it->second - offset;
}

}  // namespace ts_emu

using namespace ts_emu;

EMU_API int cuStreamCreate(void **stream, unsigned flags) {
    std::lock_guard lock(api_mutex);
    Context *ctx;
    if (Result r = current(&ctx)) return r;
    if (stream == nullptr || flags > STREAM_NON_BLOCKING) return INVALID_VALUE;
    Stream *s = new Stream{};
    s->id = ctx->next_stream_id++;
    s->flags = flags;
    ctx->streams.insert(s);
    *stream = s;
    return SUCCESS;
}

// Unlike a GPU, finishes the stream's work before returning: events recorded on it are then reached.
EMU_API int cuStreamDestroy_v2(void *stream) {
    std::lock_guard lock(api_mutex);
    Context *ctx;
    if (Result r = current(&ctx)) return r;
    Stream *s = find_stream(ctx, stream);
    if (s == nullptr || stream == nullptr) return INVALID_HANDLE;
    if (Result r = finish(ctx, s)) return r;
    ctx->streams.erase(s);
    delete s;
    return SUCCESS;
}

EMU_API int cuStreamSynchronize(void *stream) {
    std::lock_guard lock(api_mutex);
    Context *ctx;
    if (Result r = current(&ctx)) return r;
    Stream *s = find_stream(ctx, stream);
    return s == nullptr ? INVALID_HANDLE : finish(ctx, s);
}

EMU_API int cuStreamWaitEvent(void *stream, void *h, unsigned flags) {
    std::lock_guard lock(api_mutex);
    Context *ctx;
    Event *e;
    if (Result r = event(&ctx, h, &e)) return r;
    Stream *s = find_stream(ctx, stream);
    if (s == nullptr) return INVALID_HANDLE;
    if (flags != 0) return INVALID_VALUE;
    if (e->recorded) enqueue(ctx, s, nullptr, {e->at});  // an event never recorded is no wait, as on a GPU
    return SUCCESS;
}

EMU_API int cuEventCreate(void **event, unsigned flags) {
    std::lock_guard lock(api_mutex);
    Context *ctx;
    if (Result r = current(&ctx)) return r;
    if (event == nullptr || (flags & ~EVENT_FLAGS) != 0) return INVALID_VALUE;
    Event *e = new Event{};
    e->flags = flags;
    ctx->events.insert(e);
    *event = e;
    return SUCCESS;
}

EMU_API int cuEventDestroy_v2(void *h) {
    std::lock_guard lock(api_mutex);
    Context *ctx;
    Event *e;
    if (Result r = event(&ctx, h, &e)) return r;
    ctx->events.erase(e);
    delete e;  // a pending record keeps its own clock (shared_ptr)
    return SUCCESS;
}

EMU_API int cuEventRecord(void *h, void *stream) {
    std::lock_guard lock(api_mutex);
    Context *ctx;
    Event *e;
    if (Result r = event(&ctx, h, &e)) return r;
    Stream *s = find_stream(ctx, stream);
    if (s == nullptr) return INVALID_HANDLE;
    auto ms = std::make_shared<double>(NAN);
    enqueue(ctx, s, [ms] {
        *ms = now_ms();
        return SUCCESS;
    });
    e->recorded = true;
    e->at = tail(*s);
    e->ms = ms;
    return SUCCESS;
}

EMU_API int cuEventSynchronize(void *h) {
    std::lock_guard lock(api_mutex);
    Context *ctx;
    Event *e;
    if (Result r = event(&ctx, h, &e)) return r;
    return e->recorded ? reach(ctx, e->at) : SUCCESS;
}

// A pending event is NOT_READY, and the device then catches up with it, so a polling loop ends.
EMU_API int cuEventQuery(void *h) {
    std::lock_guard lock(api_mutex);
    Context *ctx;
    Event *e;
    if (Result r = event(&ctx, h, &e)) return r;
    if (!e->recorded || reached(ctx, e->at)) return SUCCESS;
    if (Result r = reach(ctx, e->at)) return r;
    return NOT_READY;
}

EMU_API int cuEventElapsedTime(float *ms, void *start, void *end) {
    std::lock_guard lock(api_mutex);
    Context *ctx;
    Event *from, *to;
    if (Result r = event(&ctx, start, &from)) return r;
    if (Result r = event(&ctx, end, &to)) return r;
    if (ms == nullptr) return INVALID_VALUE;
    if (!from->recorded || !to->recorded || ((from->flags | to->flags) & DISABLE_TIMING)) return INVALID_HANDLE;
    if (!reached(ctx, from->at) || !reached(ctx, to->at)) return NOT_READY;
    *ms = static_cast<float>(*to->ms - *from->ms);
    return SUCCESS;
}
