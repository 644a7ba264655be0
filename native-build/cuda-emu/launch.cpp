// Runs a launch in a child process that shares the JVM's memory (clone with CLONE_VM | CLONE_VFORK, the
// way posix_spawn starts a child), so a kernel that faults (an out-of-range access hitting a guard page,
// a null pointer, a fiber stack overflow) kills only the child, and the launch reports
// CUDA_ERROR_ILLEGAL_ADDRESS. Why not a SIGSEGV handler in the JVM's own process: HotSpot itself relies
// on SIGSEGV (implicit null checks, safepoint polls) on every thread, so replacing its handler even for
// the length of a launch would have to forward those faults perfectly; the child has its own copy of the
// signal table and touches the JVM's handlers never. The child also catches its faults itself and exits,
// so no core dump is written (a core dump of a process sharing the JVM's memory would dump, and on older
// kernels kill, the JVM too). Cost: one clone per launch, tens of microseconds.
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdarg>
#include <cinttypes>
#include <cstdio>
#include <cstring>

#include "emu.h"

namespace ts_emu {
namespace {

constexpr int FAULT_EXIT = 71;
constexpr int KERNEL_ERROR_EXIT = 72;  // fail_in_grid's, with the message in kernel_error
constexpr size_t CHILD_STACK_BYTES = 256 * 1024;

// Written by the child, read by the parent after the child has exited.
const Launch *job;
volatile int fault_signal;
volatile uint64_t fault_address;
char kernel_error[512];

alignas(16) char alt_stack[64 * 1024];  // the fault handler's stack: the fault may be a full fiber stack
char *child_stack;

void on_fault(int signal, siginfo_t *info, void *) {
    fault_signal = signal;
    fault_address = reinterpret_cast<uint64_t>(info->si_addr);
    syscall(SYS_exit_group, FAULT_EXIT);
}

int child_main(void *) {
    stack_t alt{};
    alt.ss_sp = alt_stack;
    alt.ss_size = sizeof alt_stack;
    sigaltstack(&alt, nullptr);
    struct sigaction action {};
    action.sa_sigaction = on_fault;
    action.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigfillset(&action.sa_mask);
    sigset_t mask;
    sigfillset(&mask);  // the parent blocked everything across clone; keep all but the faults blocked
    for (int signal : {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGABRT}) {
        sigaction(signal, &action, nullptr);
        sigdelset(&mask, signal);
    }
    sigprocmask(SIG_SETMASK, &mask, nullptr);
    run_grid(*job);
    syscall(SYS_exit_group, 0);
    return 0;
}

char last_failure[768];  // tsEmuLastLaunchFailure's

Result fail(Context *ctx, Result error, const Launch &launch, const char *what) {
    std::snprintf(last_failure, sizeof last_failure, "kernel %s: %s (grid %ux%ux%u, block %ux%ux%u, TESSERA_CUDA_EMU_SEED=%" PRIu64 ")",
                  launch.kernel->name, what, launch.grid.x, launch.grid.y, launch.grid.z, launch.block.x, launch.block.y,
                  launch.block.z, block_order_seed());
    std::fprintf(stderr, "tessera cuda-emu: %s\n", last_failure);
    make_sticky(ctx, error);
    return error;
}

}  // namespace

void fail_in_grid(const char *format, ...) {
    va_list args;
    va_start(args, format);
    std::vsnprintf(kernel_error, sizeof kernel_error, format, args);
    va_end(args);
    syscall(SYS_exit_group, KERNEL_ERROR_EXIT);
    __builtin_unreachable();
}

Result launch(Context *ctx, const Launch &launch) {
    if (child_stack == nullptr) {
        void *stack = mmap(nullptr, CHILD_STACK_BYTES, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (stack == MAP_FAILED) return OUT_OF_MEMORY;
        child_stack = static_cast<char *>(stack);
    }
    if (!prepare_grid(launch)) return OUT_OF_MEMORY;
    block_order_seed();  // read (and, if drawn, printed) here: the child must not allocate
    record_start(launch.record);
    job = &launch;
    fault_signal = 0;
    // No signal may reach the child before it has replaced the inherited (HotSpot's) handlers.
    sigset_t all, saved;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &saved);
    const pid_t child = clone(child_main, child_stack + CHILD_STACK_BYTES, CLONE_VM | CLONE_VFORK, nullptr);
    const int clone_errno = errno;
    int status = 0;
    pid_t waited = -1;
    if (child > 0) {
        do waited = waitpid(child, &status, __WALL);
        while (waited < 0 && errno == EINTR);
    }
    pthread_sigmask(SIG_SETMASK, &saved, nullptr);
    if (child < 0 || waited < 0) {
        char text[96];
        std::snprintf(text, sizeof text, "cannot start the launch's child process: %s", std::strerror(child < 0 ? clone_errno : errno));
        return fail(ctx, LAUNCH_FAILED, launch, text);
    }
    char text[256];
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
        const std::string overrun = mem_check_canaries();
        if (overrun.empty()) {
            record_finish(launch.kernel->name);
            return SUCCESS;
        }
        std::snprintf(text, sizeof text, "%s (past its end)", overrun.c_str());
        return fail(ctx, ILLEGAL_ADDRESS, launch, text);
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == FAULT_EXIT) {
        const bool memory = fault_signal == SIGSEGV || fault_signal == SIGBUS;
        const uint64_t shared_end = reinterpret_cast<uint64_t>(dynamic_shared) + (launch.shared_bytes + 15) / 16 * 16;
        const std::string where = fault_address - shared_end < 4096 ? "past the launch's dynamic shared memory"
                                                                    : mem_describe(fault_address);
        std::snprintf(text, sizeof text, "SIG%s at 0x%" PRIx64 ", %s", sigabbrev_np(fault_signal), fault_address, where.c_str());
        return fail(ctx, memory ? ILLEGAL_ADDRESS : LAUNCH_FAILED, launch, text);
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == KERNEL_ERROR_EXIT) return fail(ctx, LAUNCH_FAILED, launch, kernel_error);
    std::snprintf(text, sizeof text, "the launch's child process ended with status 0x%x", status);
    return fail(ctx, LAUNCH_FAILED, launch, text);
}

}  // namespace ts_emu

// Emulator-only: the message of the last failed launch (empty if none failed), so tests can check what the
// emulator reported, which a driver's error code alone does not say.
EMU_API const char *tsEmuLastLaunchFailure() {
    std::lock_guard lock(ts_emu::api_mutex);
    return ts_emu::last_failure;
}
