package io.tessera.engine.cuda;

import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import io.tessera.engine.Tensor;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/** The Fisher module's kernels (kernels/cuda/fisher.cu): Kahan accumulation, radix histograms, the Fisher merge. */
final class CudaFisher {
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
