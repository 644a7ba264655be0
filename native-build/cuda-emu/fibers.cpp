// Runs a grid on one OS thread: blocks in a seeded random order, and a block's threads as cooperative
// fibers that switch only at __syncthreads and warp primitives. The scheduler resumes every fiber that can
// run until each has finished or waits at a barrier or a warp primitive; then it completes the warp
// primitives whose lanes have all arrived (all get their results at once, as a warp does in lockstep), or
// else releases a barrier that every thread of the block has reached. When neither is possible, a GPU
// would hang or silently pair mismatched barriers: the launch fails, naming what each side waits at.
// That is stricter than the hardware in one case: since Volta, threads that have exited count as arrived
// at __syncthreads, but the programming guide asks for barriers that the whole block reaches, so an
// exited thread is reported.
#include <sys/mman.h>
#include <unistd.h>

#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <vector>

#include "emu.h"

// Switches stacks saving only the callee-saved registers (x86-64 System V). ucontext's swapcontext
// would also make a sigprocmask system call on every switch, and switches dominate a launch's time.
extern "C" void ts_emu_switch(void **save_sp, void *load_sp);
asm(R"(
    .text
    .globl ts_emu_switch
    .hidden ts_emu_switch
    .type ts_emu_switch, @function
ts_emu_switch:
    pushq %rbp
    pushq %rbx
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    movq %rsp, (%rdi)
    movq %rsi, %rsp
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbx
    popq %rbp
    ret
    .size ts_emu_switch, .-ts_emu_switch
)");

namespace ts_emu {

const uint3 *current_thread_idx;
uint3 block_idx, block_dim, grid_dim;
unsigned char *dynamic_shared;

namespace {

constexpr size_t STACK_BYTES = 64 * 1024;  // kernels keep little on the stack; a guard page catches more
constexpr unsigned WARP = 32;

enum class State { RUNNABLE, AT_BARRIER, AT_WARP_OP, DONE };

struct Fiber {
    char *stack_top;
    void *sp;
    uint3 idx;
    State state;
    const char *site;  // the barrier or warp primitive it waits at
    // The warp primitive it waits at, with its operands; result is what the primitive returns.
    WarpOp op;
    unsigned mask;
    int arg, width;
    uint64_t value, result;
};

std::vector<Fiber> fibers;
unsigned threads;             // of the running block: fibers[0, threads)
unsigned char *shared_guard;  // dynamic shared memory ends here, so an access past sharedMemBytes faults
void *scheduler_sp;
Fiber *running;
const Launch *active;

void fiber_main() {
    active->call();
    running->state = State::DONE;
    ts_emu_switch(&running->sp, scheduler_sp);
    __builtin_unreachable();
}

// A fresh stack whose first switch "returns" into fiber_main with the ABI's entry alignment.
void *initial_sp(char *top) {
    void **sp = reinterpret_cast<void **>(top);
    *--sp = nullptr;  // fiber_main's own return address: it never returns
    *--sp = reinterpret_cast<void *>(&fiber_main);
    for (int reg = 0; reg < 6; reg++) *--sp = nullptr;  // rbp rbx r12-r15, as ts_emu_switch pops them
    return sp;
}

const char *op_name(WarpOp op) {
    switch (op) {
        case WarpOp::SHFL: return "__shfl_sync";
        case WarpOp::SHFL_UP: return "__shfl_up_sync";
        case WarpOp::SHFL_DOWN: return "__shfl_down_sync";
        case WarpOp::SHFL_XOR: return "__shfl_xor_sync";
        case WarpOp::BALLOT: return "__ballot_sync";
        case WarpOp::ALL: return "__all_sync";
        case WarpOp::ANY: return "__any_sync";
    }
    return "?";
}

// Where thread t is, for a divergence report.
void describe(const Fiber &f, char *text, size_t size) {
    switch (f.state) {
        case State::DONE: std::snprintf(text, size, "has exited"); break;
        case State::AT_BARRIER: std::snprintf(text, size, "waits at __syncthreads at %s", f.site); break;
        case State::AT_WARP_OP:
            std::snprintf(text, size, "waits at %s(0x%08x) at %s", op_name(f.op), f.mask, f.site);
            break;
        case State::RUNNABLE: std::snprintf(text, size, "runs"); break;
    }
}

[[noreturn]] void diverged(const Fiber &waiting, unsigned other, const char *what) {
    char here[192], there[192];
    describe(waiting, here, sizeof here);
    describe(fibers[other], there, sizeof there);
    const unsigned t = static_cast<unsigned>(&waiting - fibers.data());
    fail_in_grid("%s in block (%u,%u,%u): thread %u %s, but thread %u %s", what, block_idx.x, block_idx.y, block_idx.z, t,
                 here, other, there);
}

// The lane whose value lane `lane` gets from a shuffle, as the CUDA programming guide defines them: within
// the lane's segment of `width` lanes; a shift past the segment's start or end returns the lane's own value.
unsigned source_lane(const Fiber &f, unsigned lane) {
    const unsigned segment = lane & ~static_cast<unsigned>(f.width - 1);
    const unsigned shift = static_cast<unsigned>(f.arg);
    switch (f.op) {
        case WarpOp::SHFL: return segment + (shift & static_cast<unsigned>(f.width - 1));
        case WarpOp::SHFL_UP: return lane - segment >= shift ? lane - shift : lane;
        case WarpOp::SHFL_DOWN: return lane - segment + shift < static_cast<unsigned>(f.width) ? lane + shift : lane;
        case WarpOp::SHFL_XOR: {
            const unsigned source = lane ^ (shift & (WARP - 1));
            return source < segment + f.width ? source : lane;
        }
        default: return lane;
    }
}

// Completes the primitive lane `first` of the warp starting at fibers[base] waits at, if every lane of
// its mask waits at the same primitive with the same mask. Refuses masks naming lanes the block lacks,
// masks without the calling lane, bad widths and shuffles from lanes outside the mask.
bool complete(unsigned base, unsigned first) {
    const Fiber &f = fibers[base + first];
    if (f.width < 1 || f.width > static_cast<int>(WARP) || (f.width & (f.width - 1)) != 0)
        fail_in_grid("%s at %s: width %d is not a power of two in [1, 32]", op_name(f.op), f.site, f.width);
    if ((f.mask >> first & 1) == 0)
        fail_in_grid("%s(0x%08x) at %s: thread %u calls it but its lane %u is not in the mask", op_name(f.op), f.mask, f.site,
                     base + first, first);
    for (unsigned lane = 0; lane < WARP; lane++) {
        if ((f.mask >> lane & 1) == 0) continue;
        if (base + lane >= threads)
            fail_in_grid("%s(0x%08x) at %s: the mask names lane %u, which block (%u,%u,%u) of %u threads does not have",
                         op_name(f.op), f.mask, f.site, lane, block_idx.x, block_idx.y, block_idx.z, threads);
        const Fiber &g = fibers[base + lane];
        if (g.state != State::AT_WARP_OP || g.op != f.op || g.mask != f.mask) return false;
    }
    uint64_t votes = 0;
    for (unsigned lane = 0; lane < WARP; lane++) votes |= static_cast<uint64_t>(f.mask >> lane & 1 && fibers[base + lane].value) << lane;
    for (unsigned lane = 0; lane < WARP; lane++) {
        if ((f.mask >> lane & 1) == 0) continue;
        Fiber &g = fibers[base + lane];
        switch (f.op) {
            case WarpOp::BALLOT: g.result = votes; break;
            case WarpOp::ALL: g.result = votes == f.mask; break;
            case WarpOp::ANY: g.result = votes != 0; break;
            default: {
                const unsigned source = source_lane(g, lane);
                if ((f.mask >> source & 1) == 0)
                    fail_in_grid("%s(0x%08x) at %s: lane %u reads lane %u, which is not in the mask (its value is undefined)",
                                 op_name(f.op), f.mask, f.site, lane, source);
                g.result = fibers[base + source].value;
            }
        }
    }
    for (unsigned lane = 0; lane < WARP; lane++)
        if (f.mask >> lane & 1) fibers[base + lane].state = State::RUNNABLE;
    return true;
}

// Completes every warp primitive whose lanes have all arrived; whether any was.
bool complete_warp_ops() {
    bool progress = false;
    for (unsigned base = 0; base < threads; base += WARP)
        for (unsigned lane = 0; lane < WARP && base + lane < threads; lane++)
            if (fibers[base + lane].state == State::AT_WARP_OP && complete(base, lane)) progress = true;
    return progress;
}

// Called when nothing can run and no warp primitive can complete: releases the barrier if every thread
// waits at it; reports the first thread that stops a warp primitive or the barrier from completing.
void release_barrier_or_fail() {
    for (unsigned t = 0; t < threads; t++) {
        const Fiber &f = fibers[t];
        if (f.state != State::AT_WARP_OP) continue;
        const unsigned base = t / WARP * WARP;
        for (unsigned lane = 0; lane < WARP; lane++) {
            const Fiber &g = fibers[base + lane];
            if (f.mask >> lane & 1 && (g.state != State::AT_WARP_OP || g.op != f.op || g.mask != f.mask))
                diverged(f, base + lane, "a warp primitive not reached by every lane of its mask");
        }
    }
    for (unsigned t = 0; t < threads; t++) {
        if (fibers[t].state != State::AT_BARRIER) continue;
        for (unsigned other = 0; other < threads; other++)
            if (fibers[other].state == State::DONE) diverged(fibers[t], other, "__syncthreads not reached by every thread");
        for (unsigned other = 0; other < threads; other++) fibers[other].state = State::RUNNABLE;
        return;
    }
}

void run_block() {
    for (unsigned t = 0; t < threads; t++) {
        Fiber &f = fibers[t];
        f.idx = {t % block_dim.x, t / block_dim.x % block_dim.y, t / (block_dim.x * block_dim.y)};
        f.sp = initial_sp(f.stack_top);
        f.state = State::RUNNABLE;
    }
    for (;;) {
        bool ran = false;
        for (unsigned t = 0; t < threads; t++) {
            Fiber &f = fibers[t];
            if (f.state != State::RUNNABLE) continue;
            running = &f;
            current_thread_idx = &f.idx;
            ts_emu_switch(&scheduler_sp, f.sp);
            ran = true;
        }
        if (complete_warp_ops()) continue;
        if (!ran) {
            bool all_done = true;
            for (unsigned t = 0; t < threads && all_done; t++) all_done = fibers[t].state == State::DONE;
            if (all_done) return;
        }
        release_barrier_or_fail();
    }
}

// Seeds the block order: TESSERA_CUDA_EMU_SEED, or a fresh seed (printed) when it is unset or empty.
uint64_t read_seed() {
    const char *text = std::getenv("TESSERA_CUDA_EMU_SEED");
    if (text != nullptr && *text != '\0') return std::strtoull(text, nullptr, 10);
    timespec now{};
    clock_gettime(CLOCK_REALTIME, &now);
    const uint64_t seed = static_cast<uint64_t>(now.tv_nsec) % 1000000007u;
    std::fprintf(stderr, "tessera cuda-emu: blocks run in the order of seed %" PRIu64 " (TESSERA_CUDA_EMU_SEED repeats it)\n", seed);
    return seed;
}

uint64_t mix(uint64_t x) {  // splitmix64's finaliser
    x += 0x9e3779b97f4a7c15u;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9u;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebu;
    return x ^ (x >> 31);
}

uint64_t gcd(uint64_t a, uint64_t b) { return b == 0 ? a : gcd(b, a % b); }

}  // namespace

uint64_t block_order_seed() {
    static const uint64_t seed = read_seed();
    return seed;
}

void sync_threads(const char *site) {
    running->state = State::AT_BARRIER;
    running->site = site;
    ts_emu_switch(&running->sp, scheduler_sp);
}

uint64_t warp_exchange(WarpOp op, const char *site, unsigned mask, uint64_t value, int arg, int width) {
    Fiber &f = *running;
    f.state = State::AT_WARP_OP;
    f.site = site;
    f.op = op;
    f.mask = mask;
    f.value = value;
    f.arg = arg;
    f.width = width;
    ts_emu_switch(&f.sp, scheduler_sp);
    return f.result;
}

bool prepare_grid(const Launch &launch) {
    const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
    if (shared_guard == nullptr) {
        const size_t bytes = (MAX_DYNAMIC_SHARED + page - 1) / page * page;
        void *base = mmap(nullptr, bytes + page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (base == MAP_FAILED) return false;
        shared_guard = static_cast<unsigned char *>(base) + bytes;
        mprotect(shared_guard, page, PROT_NONE);
    }
    dynamic_shared = shared_guard - (launch.shared_bytes + 15) / 16 * 16;  // 16-byte aligned, as __align__(16) asks
    const unsigned wanted = launch.block.x * launch.block.y * launch.block.z;
    while (fibers.size() < wanted) {
        void *base = mmap(nullptr, page + STACK_BYTES, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (base == MAP_FAILED) return false;
        mprotect(base, page, PROT_NONE);  // stacks grow down: an overflow faults instead of corrupting
        fibers.push_back({static_cast<char *>(base) + page + STACK_BYTES, nullptr, {}, State::DONE, nullptr, WarpOp::SHFL, 0, 0,
                          0, 0, 0});
    }
    return true;
}

// Blocks run in the order k -> (a k + b) mod n over the linear block index, a and b drawn from the seed,
// the kernel's name and the grid (so one test's launches repeat under its seed whatever ran before), a
// coprime with n. A kernel that assumes blocks run in index order, or one at a time in any fixed order,
// gives different results under different seeds.
void run_grid(const Launch &launch) {
    active = &launch;
    grid_dim = launch.grid;
    block_dim = launch.block;
    threads = launch.block.x * launch.block.y * launch.block.z;
    const uint64_t n = uint64_t{launch.grid.x} * launch.grid.y * launch.grid.z;
    uint64_t h = mix(block_order_seed() ^ (uint64_t{launch.grid.x} << 32 | launch.grid.y) ^ mix(launch.grid.z));
    for (const char *c = launch.kernel->name; *c; c++) h = mix(h ^ static_cast<unsigned char>(*c));
    uint64_t a = h % n;
    while (gcd(a, n) != 1) a = (a + 1) % n;  // ends: a reaches 1 mod n at the latest
    const uint64_t b = mix(h) % n;
    for (uint64_t k = 0; k < n; k++) {
        const uint64_t i = static_cast<uint64_t>((static_cast<unsigned __int128>(a) * k + b) % n);
        block_idx = {static_cast<unsigned>(i % launch.grid.x), static_cast<unsigned>(i / launch.grid.x % launch.grid.y),
                     static_cast<unsigned>(i / (uint64_t{launch.grid.x} * launch.grid.y))};
        run_block();
        record_block_done();
    }
}

}  // namespace ts_emu
