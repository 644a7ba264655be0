package io.tessera.engine.cuda;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;

import io.tessera.ffi.CudaDriver;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * A point in a stream's work ({@link CudaBackend#newEvent()}): record it on the current stream, then wait
 * for it on the host or from another stream ({@link CudaStream#waitFor}). Timing two events measures the
 * device time between them (no GPU speed is claimed anywhere by the engine itself).
 */
public final class CudaEvent implements AutoCloseable {
    private final CudaContext context;
    private final MemorySegment handle;
    private boolean closed;

    CudaEvent(CudaContext context) {
        this.context = context;
        context.makeCurrent();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(ADDRESS);
            CudaDriver.check(CudaDriver.cuEventCreate(out, 0), "cuEventCreate");
            handle = out.get(ADDRESS, 0);
        }
    }

    MemorySegment handle() {
        if (closed) {
            throw new IllegalStateException("CUDA event on " + context.device() + " is closed");
        }
        return handle;
    }

    /** Records the event after the work queued so far on the calling thread's current stream. */
    public void record() {
        context.makeCurrent();
        CudaDriver.check(CudaDriver.cuEventRecord(handle(), context.stream()), "cuEventRecord");
    }

    /** Waits on the host until the recorded point is reached. */
    public void synchronize() {
        context.makeCurrent();
        CudaDriver.check(CudaDriver.cuEventSynchronize(handle()), "cuEventSynchronize");
    }

    /** Whether the recorded point has been reached. */
    public boolean isDone() {
        context.makeCurrent();
        int status = CudaDriver.cuEventQuery(handle());
        if (status == CudaDriver.CUDA_ERROR_NOT_READY) {
            return false;
        }
        CudaDriver.check(status, "cuEventQuery");
        return true;
    }

    /** Device milliseconds from {@code start}'s recorded point to this one's; both must have been reached. */
    public float millisSince(CudaEvent start) {
        context.makeCurrent();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment ms = arena.allocate(JAVA_FLOAT);
            CudaDriver.check(CudaDriver.cuEventElapsedTime(ms, start.handle(), handle()), "cuEventElapsedTime");
            return ms.get(JAVA_FLOAT, 0);
        }
    }

    @Override
    public void close() {
        if (!closed) {
            context.makeCurrent();
            CudaDriver.check(CudaDriver.cuEventDestroy_v2(handle), "cuEventDestroy_v2");
            closed = true;
        }
    }
}
