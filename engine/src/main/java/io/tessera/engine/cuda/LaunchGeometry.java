package io.tessera.engine.cuda;

/**
 * Grid and block sizes from the device's properties. Every kernel strides over its work (kernels/cuda/
 * grid.cuh), so grids are capped at a few waves of blocks per multiprocessor rather than sized to the data.
 * sharedBytes is the most dynamic shared memory a launch may ask for (without opting in to more).
 */
record LaunchGeometry(int threads, int rowThreads, long maxBlocks, int sharedBytes) {
    /** Threads per block of the elementwise kernels. */
    private static final int ELEMENTWISE_THREADS = 256;
    /** Most threads per block of the one-block-per-row kernels (a power of two: their block reductions need it). */
    private static final int ROW_THREADS = 256;
    private static final int BLOCKS_PER_MULTIPROCESSOR = 32;

    static LaunchGeometry of(DeviceProperties device) {
        int threads = Math.min(ELEMENTWISE_THREADS, device.maxThreadsPerBlock());
        int rowThreads = Integer.highestOneBit(Math.min(ROW_THREADS, device.maxThreadsPerBlock()));
        return new LaunchGeometry(threads, rowThreads, (long) device.multiprocessors() * BLOCKS_PER_MULTIPROCESSOR,
                device.maxSharedMemoryPerBlock());
    }

    /** Blocks for n independent items, one per thread. */
    int blocksFor(long n) {
        return (int) Math.clamp((n + threads - 1) / threads, 1, maxBlocks);
    }

    /** Blocks for rows processed one per block. */
    int blocksForRows(long rows) {
        return (int) Math.clamp(rows, 1, maxBlocks);
    }

    /** Threads per block for rows of {@code cols} elements: a power of two, no more than the row needs. */
    int threadsForRow(long cols) {
        long wanted = Math.max(32, Long.highestOneBit(Math.max(1, cols - 1)) << 1);
        return (int) Math.min(wanted, rowThreads);
    }
}
