package io.tessera.engine;

import io.tessera.ffi.Libc;
import io.tessera.ffi.NativeLoadHook;
import java.lang.foreign.Arena;

/**
 * How the two thread pools Tessera loads (libgomp's for our kernels, OpenBLAS's for GEMM) wait between
 * jobs, set in the process environment before either library is loaded (each reads its variable once,
 * at load). On 2 cores a pool that spins after its work steals a core from the other pool's next job:
 * OMP_WAIT_POLICY=PASSIVE for OpenMP (spinning cost 2-4x on mixed workloads), and
 * OPENBLAS_THREAD_TIMEOUT=20 for OpenBLAS, whose workers otherwise spin for 2^28 cycles (~70 ms) after
 * every GEMM: a Linear forward right after a backward GEMM ran at 32-39 ms instead of 16. With 2^20
 * cycles (~0.3 ms) back-to-back GEMMs still find the workers awake. Values the user already set win.
 *
 * <p>Registered as a {@link NativeLoadHook} (META-INF/services), not applied by an engine class: the JMH
 * kernel benchmarks and {@code tessera doctor} call the bindings before any engine class is initialised.
 */
public final class ThreadEnvironment implements NativeLoadHook {
    @Override
    public void beforeFirstLoad() {
        set("OMP_WAIT_POLICY", "PASSIVE");
        set("OPENBLAS_THREAD_TIMEOUT", "20");
    }

    private static void set(String name, String value) {
        try (Arena arena = Arena.ofConfined()) {
            int rc = Libc.setenv(arena.allocateFrom(name), arena.allocateFrom(value), 0);
            if (rc != 0) {
                throw new IllegalStateException("setenv(" + name + ") failed with " + rc);
            }
        }
    }
}
