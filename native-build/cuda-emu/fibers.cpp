// Runs a grid on one OS thread: blocks one after another, and a block's threads as cooperative fibers
// that switch only at __syncthreads. The scheduler resumes each unfinished fiber once per round and a
// fiber yields only at a barrier (or by finishing), so no fiber passes a barrier before all have reached
// it; a finished thread counts as arrived, as on the hardware.
#include <sys/mman.h>
#include <unistd.h>

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

struct Fiber {
    char *stack_top;
    void *sp;
    uint3 idx;
    bool done;
};

std::vector<Fiber> fibers;
unsigned char *shared_guard;  // dynamic shared memory ends here, so an access past sharedMemBytes faults
void *scheduler_sp;
Fiber *running;
const Launch *active;

void fiber_main() {
    active->call();
    running->done = true;
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

void run_block(unsigned threads) {
    for (unsigned t = 0; t < threads; t++) {
        Fiber &f = fibers[t];
        f.idx = {t % block_dim.x, t / block_dim.x % block_dim.y, t / (block_dim.x * block_dim.y)};
        f.sp = initial_sp(f.stack_top);
        f.done = false;
    }
    for (unsigned live = threads; live > 0;) {
        for (unsigned t = 0; t < threads; t++) {
            Fiber &f = fibers[t];
            if (f.done) continue;
            running = &f;
            current_thread_idx = &f.idx;
            ts_emu_switch(&scheduler_sp, f.sp);
            if (f.done) live--;
        }
    }
}

}  // namespace

void sync_threads() { ts_emu_switch(&running->sp, scheduler_sp); }

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
    const unsigned threads = launch.block.x * launch.block.y * launch.block.z;
    while (fibers.size() < threads) {
        void *base = mmap(nullptr, page + STACK_BYTES, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (base == MAP_FAILED) return false;
        mprotect(base, page, PROT_NONE);  // stacks grow down: an overflow faults instead of corrupting
        fibers.push_back({static_cast<char *>(base) + page + STACK_BYTES, nullptr, {}, false});
    }
    return true;
}

void run_grid(const Launch &launch) {
    active = &launch;
    grid_dim = launch.grid;
    block_dim = launch.block;
    const unsigned threads = launch.block.x * launch.block.y * launch.block.z;
    for (unsigned z = 0; z < launch.grid.z; z++)
        for (unsigned y = 0; y < launch.grid.y; y++)
            for (unsigned x = 0; x < launch.grid.x; x++) {
                block_idx = {x, y, z};
                run_block(threads);
            }
}

}  // namespace ts_emu
