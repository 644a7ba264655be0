package io.tessera.ffi;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;

/**
 * Sets OMP_WAIT_POLICY=PASSIVE in the process environment before libgomp is loaded (it reads the
 * variable once, at load). Spinning OpenMP threads fight OpenBLAS's threads for the cores between
 * parallel regions (measured 2-4x slowdowns on 2 cores), so the library sets this itself rather than
 * asking every user to. A value the user already set wins.
 */
final class OpenMpEnvironment {
    private OpenMpEnvironment() {}

    static void configure() {
        Linker linker = Linker.nativeLinker();
        MethodHandle setenv = linker.downcallHandle(linker.defaultLookup().find("setenv").orElseThrow(),
                FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, JAVA_INT));
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment name = arena.allocateFrom("OMP_WAIT_POLICY");
            MemorySegment value = arena.allocateFrom("PASSIVE");
            int overwrite = 0;
            int rc = (int) setenv.invokeExact(name, value, overwrite);
            if (rc != 0) {
                throw new IllegalStateException("setenv(OMP_WAIT_POLICY) failed with " + rc);
            }
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }
}
