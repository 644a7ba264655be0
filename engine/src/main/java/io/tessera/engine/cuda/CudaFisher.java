package io.tessera.engine.cuda;

import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import io.tessera.engine.Backend;
import io.tessera.engine.Tensor;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * The Fisher module's kernels (kernels/cuda/fisher.cu): Kahan accumulation, radix histograms and
 * selection, the Fisher merge.
 */
final class CudaFisher {
    /** Elements each thread of selectAbove should get at least, so each block's scan of earlier blocks' counts pays off. */
    private static final long SELECT_ELEMENTS_PER_THREAD = 16;

    private final CudaBackend backend;
    private final CudaContext context;

    CudaFisher(CudaBackend backend, CudaContext context) {
        this.backend = backend;
        this.context = context;
    }

    void kahanAccumulate(Tensor x, boolean square, Tensor sum, Tensor comp) {
        String op = "kahanAccumulate";
        context.launch("ts_kahan_accumulate_f32").i64(x.numel()).ptr(backend.address(op, x)).i32(square ? 1 : 0)
                .ptr(backend.address(op, sum)).ptr(backend.address(op, comp)).overItems(x.numel());
    }

    long radixHistogram(Tensor x, long prefix, int prefixBits, int digitShift, int digitBits, long[] histogram) {
        long in = backend.address("radixHistogram", x);
        int bins = histogram.length;
        long bytes = (bins + 1L) * Long.BYTES; // the bins, then the count of invalid elements
        try (Scratch counts = new Scratch(backend, bytes); Arena arena = Arena.ofConfined()) {
            CudaBackend.zero(context, counts.address(), bytes);
            context.launch("ts_radix_histogram_f32").i64(x.numel()).ptr(in).i64(prefix).i32(prefixBits).i32(digitShift)
                    .i32(digitBits).ptr(counts.address()).ptr(counts.address() + (long) bins * Long.BYTES).overItems(x.numel());
            MemorySegment host = arena.allocate(JAVA_LONG, bins + 1L);
            context.staging().download(counts.address(), host, bytes);
            for (int b = 0; b < bins; b++) {
                histogram[b] += host.getAtIndex(JAVA_LONG, b);
            }
            return host.getAtIndex(JAVA_LONG, bins);
        }
    }

    /**
     * Two passes over the same grid of contiguous chunks: per-block counts (above, equal, invalid), then
     * each block ranks its hits after those of the blocks before it and writes them, so the output is in
     * index order and the same on every run. The counts, read back once, give the totals.
     */
    Backend.Selected selectAbove(Tensor x, int thresholdKey, long equalQuota, Tensor indices, Tensor keys) {
        String op = "selectAbove";
        long n = x.numel();
        long in = backend.address(op, x);
        long outIndices = backend.address(op, indices);
        long outKeys = backend.address(op, keys);
        if (n == 0) {
            return new Backend.Selected(0, 0, 0);
        }
        LaunchGeometry geometry = context.geometry();
        int blocks = (int) Math.clamp(Math.ceilDiv(n, (long) geometry.threads() * SELECT_ELEMENTS_PER_THREAD), 1, geometry.maxBlocks());
        long bytes = 3L * blocks * Long.BYTES;
        try (Scratch counts = new Scratch(backend, bytes); Arena arena = Arena.ofConfined()) {
            context.launch("ts_select_count_f32").i64(n).ptr(in).i32(thresholdKey).ptr(counts.address())
                    .run(blocks, geometry.threads());
            context.launch("ts_select_write_f32").i64(n).ptr(in).i32(thresholdKey).i64(equalQuota).i64(indices.numel())
                    .ptr(counts.address()).ptr(outIndices).ptr(outKeys).run(blocks, geometry.threads());
            MemorySegment host = arena.allocate(JAVA_LONG, 3L * blocks);
            context.staging().download(counts.address(), host, bytes);
            long above = 0;
            long equal = 0;
            long invalid = 0;
            for (int b = 0; b < blocks; b++) {
                above += host.getAtIndex(JAVA_LONG, 3L * b);
                equal += host.getAtIndex(JAVA_LONG, 3L * b + 1);
                invalid += host.getAtIndex(JAVA_LONG, 3L * b + 2);
            }
            long qualifying = above + Math.min(equal, equalQuota);
            return new Backend.Selected(Math.min(qualifying, indices.numel()), qualifying, invalid);
        }
    }

    /** The kernel reads the models' pointers, weights and scales from one table in device memory. */
    void fisherMerge(Tensor[] thetas, Tensor[] fishers, float[] weights, float[] scales, float floor, Tensor out) {
        String op = "fisherMerge";
        int models = thetas.length;
        long bytes = 2L * models * Long.BYTES + 2L * models * Float.BYTES;
        try (Scratch table = new Scratch(backend, bytes); Arena arena = Arena.ofConfined()) {
            MemorySegment host = arena.allocate(bytes, 8);
            for (int m = 0; m < models; m++) {
                host.setAtIndex(JAVA_LONG, m, backend.address(op, thetas[m]));
                host.setAtIndex(JAVA_LONG, models + m, backend.address(op, fishers[m]));
                host.setAtIndex(JAVA_FLOAT, 4L * models + m, weights[m]);
                host.setAtIndex(JAVA_FLOAT, 5L * models + m, scales[m]);
            }
            context.staging().upload(host, table.address(), bytes);
            context.launch("ts_fisher_merge_f32").i64(out.numel()).i32(models).ptr(table.address()).f32(floor)
                    .ptr(backend.address(op, out)).overItems(out.numel());
        }
    }
}
