package io.tessera.ffi;

import java.lang.foreign.Arena;

/**
 * Sets OMP_WAIT_POLICY=PASSIVE in the process environment before libgomp is loaded (it reads the
 * variable once, at load). Spinning OpenMP threads fight OpenBLAS's threads for the cores between
 * parallel regions (measured 2-4x slowdowns on 2 cores), so the library sets this itself rather than
 * asking every user to. A value the user already set wins.
 */
final class OpenMpEnvironment {
    private OpenMpEnvironment() {}

    static void configure() {
        try (Arena arena = Arena.ofConfined()) {
            int rc = Libc.setenv(arena.allocateFrom("OMP_WAIT_POLICY"), arena.allocateFrom("PASSIVE"), 0);
            if (rc != 0) {
                throw new IllegalStateException("setenv(OMP_WAIT_POLICY) failed with " + rc);
            }
        }
    }
}
