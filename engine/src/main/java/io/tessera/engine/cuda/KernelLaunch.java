package io.tessera.engine.cuda;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_DOUBLE;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import io.tessera.ffi.CudaDriver;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;

/**
 * One cuLaunchKernel: the kernel's arguments in declaration order (each a value in native memory, as
 * kernelParams wants), then the geometry. The driver copies the arguments at launch, so they are freed
 * as soon as it returns. Arguments: int32, int64, float, double, a device address (0 for NULL), or a
 * struct passed by value (a segment holding its bytes, see {@link StridedArgs}).
 */
final class KernelLaunch {
    private final CudaContext context;
    private final String kernel;
    private final Arena arena = Arena.ofConfined();
    private final List<MemorySegment> values = new ArrayList<>();

    KernelLaunch(CudaContext context, String kernel) {
        this.context = context;
        this.kernel = kernel;
    }

    KernelLaunch i32(int value) {
        values.add(arena.allocateFrom(JAVA_INT, value));
        return this;
    }

    KernelLaunch i64(long value) {
        values.add(arena.allocateFrom(JAVA_LONG, value));
        return this;
    }

    KernelLaunch f32(float value) {
        values.add(arena.allocateFrom(JAVA_FLOAT, value));
        return this;
    }

    KernelLaunch f64(double value) {
        values.add(arena.allocateFrom(JAVA_DOUBLE, value));
        return this;
    }

    /** A device address (CUdeviceptr and T * have the same 64-bit representation). */
    KernelLaunch ptr(long address) {
        return i64(address);
    }

    /** A struct argument: its bytes, written into this launch's arena by {@code writer}. */
    KernelLaunch struct(long bytes, java.util.function.Consumer<MemorySegment> writer) {
        MemorySegment value = arena.allocate(bytes, 8);
        writer.accept(value);
        values.add(value);
        return this;
    }

    /** Launches on the current stream with one thread per item of n (grid-strided); nothing when n is 0. */
    void overItems(long n) {
        if (n <= 0) {
            arena.close();
            return;
        }
        LaunchGeometry geometry = context.geometry();
        run(geometry.blocksFor(n), geometry.threads());
    }

    /** Launches on the current stream with one block per row of {@code cols} elements (block-strided); nothing when rows is 0. */
    void overRows(long rows, long cols) {
        if (rows <= 0) {
            arena.close();
            return;
        }
        LaunchGeometry geometry = context.geometry();
        run(geometry.blocksForRows(rows), geometry.threadsForRow(cols));
    }

    void run(int blocks, int threads) {
        run(blocks, threads, 0);
    }

    /** Launches on the current stream with sharedBytes of dynamic shared memory per block. */
    void run(int blocks, int threads, int sharedBytes) {
        try (arena) {
            MemorySegment params = arena.allocate(ADDRESS, Math.max(1, values.size()));
            for (int i = 0; i < values.size(); i++) {
                params.setAtIndex(ADDRESS, i, values.get(i));
            }
            context.makeCurrent();
            CudaDriver.check(CudaDriver.cuLaunchKernel(context.module().function(kernel), blocks, 1, 1, threads, 1, 1, sharedBytes,
                    context.stream(), params, MemorySegment.NULL), "cuLaunchKernel(" + kernel + ")");
        }
    }
}
