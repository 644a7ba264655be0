package io.tessera.engine.cuda;

import io.tessera.engine.Ops;
import io.tessera.engine.ReduceSplit;
import io.tessera.engine.Tensor;

/**
 * Reductions over any set of dims (kernels/cuda/reduce.cu). When neighbouring outputs read neighbouring elements
 * (a sum over dim 0), a block's lanes run over 32 outputs. Otherwise one block per output when there are enough
 * outputs to fill the device; otherwise each output's reduced elements are split over several blocks,
 * whose float64 partials a second kernel merges in a fixed order, so results never depend on scheduling.
 */
final class CudaReduce {
    private static final long PARTIAL_BYTES = KernelStructs.REDUCE_ACCUMULATOR.byteSize();
    /** Elements each thread of a split should get at least, so splitting pays for the second pass. */
    private static final long ELEMENTS_PER_THREAD = 16;
    private static final long MAX_SPLITS = 1024;

    private static final int WARP = 32;

    private CudaReduce() {}

    /**
     * Whether neighbouring outputs read neighbouring elements (the outer view's innermost stride is 1) while the
     * reduced ones are apart: then ts_reduce_adjacent_f32's lanes run over outputs, so a warp's loads coalesce.
     */
    private static boolean outputsAdjacent(ReduceSplit split) {
        long[] outer = split.outerStrides();
        long[] reduced = split.reducedStrides();
        return outer.length > 0 && outer[outer.length - 1] == 1 && reduced.length > 0 && reduced[reduced.length - 1] != 1;
    }

    static void reduce(CudaBackend backend, CudaContext context, Ops.Reduce op, Tensor x, int[] dims, Tensor y) {
        String name = "reduce " + op;
        long in = backend.address(name, x);
        long out = backend.address(name, y);
        ReduceSplit split = ReduceSplit.of(x, dims);
        long outputs = y.numel();
        if (outputs == 0) {
            return;
        }
        long reducedCount = x.numel() / outputs;
        LaunchGeometry geometry = context.geometry();
        if (outputsAdjacent(split) && outputs >= WARP) {
            context.launch("ts_reduce_adjacent_f32").i32(op.code)
                    .struct(StridedArgs.BYTES, s -> StridedArgs.write(s, split.outerShape(), split.outerStrides()))
                    .struct(StridedArgs.BYTES, s -> StridedArgs.write(s, split.reducedShape(), split.reducedStrides()))
                    .ptr(in).ptr(out).run((int) Math.min((outputs + WARP - 1) / WARP, geometry.maxBlocks()), geometry.rowThreads());
            return;
        }
        int threads = geometry.threadsForRow(reducedCount);
        long splits = outputs >= geometry.maxBlocks() ? 1
                : Math.clamp(reducedCount / (threads * ELEMENTS_PER_THREAD), 1, Math.min(MAX_SPLITS, geometry.maxBlocks() / outputs + 1));
        try (Scratch partials = splits > 1 ? new Scratch(backend, outputs * splits * PARTIAL_BYTES) : null) {
            context.launch("ts_reduce_f32").i32(op.code)
                    .struct(StridedArgs.BYTES, s -> StridedArgs.write(s, split.outerShape(), split.outerStrides()))
                    .struct(StridedArgs.BYTES, s -> StridedArgs.write(s, split.reducedShape(), split.reducedStrides()))
                    .i64(splits).ptr(in).ptr(partials == null ? 0 : partials.address()).ptr(out)
                    .run((int) Math.min(outputs * splits, geometry.maxBlocks()), threads);
            if (partials != null) {
                context.launch("ts_reduce_final_f32").i32(op.code).i64(outputs).i64(splits).ptr(partials.address()).ptr(out)
                        .overRows(outputs, splits);
            }
        }
    }
}
