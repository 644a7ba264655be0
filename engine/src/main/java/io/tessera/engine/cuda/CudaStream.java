package io.tessera.engine.cuda;

import static java.lang.foreign.ValueLayout.ADDRESS;

import io.tessera.ffi.CudaDriver;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * A user stream of one device ({@link CudaBackend#newStream()}): work selected onto it with
 * {@link CudaBackend#use(CudaStream)} runs in order on it, concurrently with other streams. Memory a
 * stream's work still uses must not be freed from another stream's point of view: order the streams with
 * {@link CudaEvent}s. Closing destroys the stream after its queued work (the driver finishes it).
 */
public final class CudaStream implements AutoCloseable {
    private final CudaContext context;
    private final MemorySegment handle;
    private boolean closed;

    CudaStream(CudaContext context) {
        this.context = context;
        context.makeCurrent();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(ADDRESS);
            CudaDriver.check(CudaDriver.cuStreamCreate(out, CudaDriver.CU_STREAM_NON_BLOCKING), "cuStreamCreate");
            handle = out.get(ADDRESS, 0);
        }
    }

    MemorySegment handle() {
        if (closed) {
            throw new IllegalStateException("CUDA stream on " + context.device() + " is closed");
        }
        return handle;
    }

    CudaContext context() {
        return context;
    }

    /** Waits until all work queued on this stream has run. */
    public void synchronize() {
        context.makeCurrent();
        CudaDriver.check(CudaDriver.cuStreamSynchronize(handle()), "cuStreamSynchronize");
    }

    /** Makes later work on this stream wait until {@code event}'s recorded point has been reached. */
    public void waitFor(CudaEvent event) {
        context.makeCurrent();
        CudaDriver.check(CudaDriver.cuStreamWaitEvent(handle(), event.handle(), 0), "cuStreamWaitEvent");
    }

    @Override
    public void close() {
        if (!closed) {
            synchronize();
            context.cublas().forget(handle);
            CudaDriver.check(CudaDriver.cuStreamDestroy_v2(handle), "cuStreamDestroy_v2");
            closed = true;
        }
    }
}
