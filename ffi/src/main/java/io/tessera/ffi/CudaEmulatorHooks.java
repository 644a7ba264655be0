package io.tessera.ffi;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;
import java.util.Optional;

/**
 * The test hooks of the emulated CUDA driver (native-build/cuda-emu), present only when {@link CudaDriver#LIBRARY}
 * is the emulator: the report of the last failed launch, and the access recorder, which counts per kernel how
 * many of each warp's global loads and stores touch no more 32-byte sectors than their bytes need. The numbers
 * model a GPU's memory traffic; they are no measurement.
 */
public final class CudaEmulatorHooks {
    private static final int CUDA_ERROR_NOT_FOUND = 500;

    private CudaEmulatorHooks() {}

    /** Whether the loaded CUDA driver is the emulator (it exports these hooks). */
    public static boolean present() {
        return CudaDriver.LIBRARY.isAvailable() && CudaDriver.LIBRARY.find("tsEmuLastLaunchFailure").isPresent();
    }

    private static final class tsEmuLastLaunchFailure {
        static final MethodHandle HANDLE = CudaDriver.LIBRARY.downcall("tsEmuLastLaunchFailure", FunctionDescriptor.of(ADDRESS));
    }

    /** What the emulator reported about the last launch that failed (kernel, cause, geometry, seed); empty if none did. */
    public static String lastLaunchFailure() {
        try {
            return CStrings.read((MemorySegment) tsEmuLastLaunchFailure.HANDLE.invokeExact());
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    private static final class tsEmuRecordAccesses {
        static final MethodHandle HANDLE = CudaDriver.LIBRARY.downcall("tsEmuRecordAccesses", FunctionDescriptor.ofVoid(JAVA_INT));
    }

    /** Records the global accesses of the launches made from now on (clearing earlier records), or stops. */
    public static void recordAccesses(boolean on) {
        try {
            tsEmuRecordAccesses.HANDLE.invokeExact(on ? 1 : 0);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    private static final class tsEmuAccessStats {
        static final MethodHandle HANDLE = CudaDriver.LIBRARY.downcall("tsEmuAccessStats",
                FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS));
    }

    /** What the recorded launches of a kernel did, once they have run; empty if none was recorded. */
    public static Optional<AccessStats> accessStats(String kernel) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(JAVA_LONG, 12);
            int status = (int) tsEmuAccessStats.HANDLE.invokeExact(arena.allocateFrom(kernel), out);
            if (status == CUDA_ERROR_NOT_FOUND) {
                return Optional.empty();
            }
            CudaDriver.check(status, "tsEmuAccessStats");
            long[] v = out.toArray(JAVA_LONG);
            return Optional.of(new AccessStats(v[0], new Side(v[1], v[2], v[3], v[4], v[5]), new Side(v[6], v[7], v[8], v[9], v[10]),
                    v[11]));
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    /**
     * One direction of a kernel's global accesses. A request is one load or store instruction executed by one
     * warp's lanes; it is coalesced when it touches no more sectors than its distinct bytes need.
     */
    public record Side(long requests, long coalescedRequests, long sectors, long neededSectors, long bytesRequested) {
        /** The share of requests that were coalesced, 1 when there were none. */
        public double coalescedShare() {
            return requests == 0 ? 1 : (double) coalescedRequests / requests;
        }

        /** The bytes the memory system moves: whole 32-byte sectors. */
        public long bytesMoved() {
            return 32 * sectors;
        }
    }

    /** A kernel's recorded launches; dropped counts accesses beyond what the recorder holds for one block. */
    public record AccessStats(long launches, Side loads, Side stores, long dropped) {
        public long bytesMoved() {
            return loads.bytesMoved() + stores.bytesMoved();
        }
    }
}
