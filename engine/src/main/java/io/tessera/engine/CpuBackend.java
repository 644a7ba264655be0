package io.tessera.engine;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import io.tessera.ffi.CStrings;
import io.tessera.ffi.Cblas;
import io.tessera.ffi.Lapacke;
import io.tessera.ffi.TesseraCpu;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;
import java.util.Locale;

/** The CPU backend: Tessera's C kernels (libtessera_cpu) and OpenBLAS, through FFM. */
public final class CpuBackend extends Backend {
    public static final CpuBackend INSTANCE = new CpuBackend();

    private CpuBackend() {}

    @Override
    public Device device() {
        return Device.CPU;
    }

    @Override
    protected Storage allocateImpl(long bytes) {
        return HostStorage.allocate(bytes);
    }

    /** The address of a tensor's first element. */
    static MemorySegment address(Tensor t) {
        if (t == null) {
            return MemorySegment.NULL;
        }
        MemorySegment segment = ((HostStorage) t.storage()).segment();
        if (t.numel() == 0) {
            return segment.asSlice(0, 0); // a slice of an empty tensor may start past its storage; nothing is read
        }
        return segment.asSlice(t.offset() * t.dtype().byteSize());
    }

    /** The address of a tensor a kernel writes: refused for read-only memory (e.g. a mapped file) before native code runs. */
    static MemorySegment output(Tensor t) {
        if (t == null) {
            return MemorySegment.NULL;
        }
        MemorySegment address = address(t);
        if (address.isReadOnly()) {
            throw new IllegalArgumentException("tensor " + t.describe() + " is read-only (a zero-copy view of a memory-mapped"
                    + " file); load it with a copy to modify it");
        }
        return address;
    }

    private static void check(int status, String kernel) {
        if (status != TesseraCpu.TS_OK) {
            throw new IllegalStateException(kernel + " returned status " + status);
        }
    }

    @Override
    protected void writeImpl(Tensor dst, MemorySegment src) {
        MemorySegment.copy(src, 0, output(dst), 0, dst.numel() * dst.dtype().byteSize());
    }

    @Override
    protected void readImpl(Tensor src, MemorySegment dst) {
        MemorySegment.copy(address(src), 0, dst, 0, src.numel() * src.dtype().byteSize());
    }

    @Override
    protected void copyImpl(Tensor src, Tensor dst) {
        try (Arena arena = Arena.ofConfined()) {
            check(TesseraCpu.ts_copy_strided(src.dtype().code(), dst.dtype().code(), dst.rank(), longs(arena, dst.shape()),
                    address(src), longs(arena, src.strides()), output(dst), longs(arena, dst.strides())), "ts_copy_strided");
        }
    }

    @Override
    protected void fillImpl(Tensor dst, double value) {
        check(TesseraCpu.ts_fill(dst.dtype().code(), dst.numel(), value, output(dst)), "ts_fill");
    }

    @Override
    protected void unaryImpl(Ops.Unary op, float alpha, Tensor x, Tensor y) {
        try (Arena arena = Arena.ofConfined()) {
            check(TesseraCpu.ts_unary_f32(op.code, alpha, y.rank(), longs(arena, y.shape()), address(x), longs(arena, x.strides()),
                    output(y), longs(arena, y.strides())), "ts_unary_f32");
        }
    }

    @Override
    protected void binaryImpl(Ops.Binary op, Tensor a, Tensor b, Tensor y) {
        try (Arena arena = Arena.ofConfined()) {
            check(TesseraCpu.ts_binary_f32(op.code, y.rank(), longs(arena, y.shape()), address(a), longs(arena, a.strides()),
                    address(b), longs(arena, b.strides()), output(y), longs(arena, y.strides())), "ts_binary_f32");
        }
    }

    @Override
    protected void compareImpl(Ops.Compare op, Tensor a, Tensor b, Tensor y) {
        try (Arena arena = Arena.ofConfined()) {
            check(TesseraCpu.ts_compare_f32(op.code, y.rank(), longs(arena, y.shape()), address(a), longs(arena, a.strides()),
                    address(b), longs(arena, b.strides()), output(y), longs(arena, y.strides())), "ts_compare_f32");
        }
    }

    @Override
    protected void whereImpl(Tensor cond, Tensor a, Tensor b, Tensor y) {
        try (Arena arena = Arena.ofConfined()) {
            check(TesseraCpu.ts_where_f32(y.rank(), longs(arena, y.shape()), address(cond), longs(arena, cond.strides()),
                    address(a), longs(arena, a.strides()), address(b), longs(arena, b.strides()), output(y),
                    longs(arena, y.strides())), "ts_where_f32");
        }
    }

    @Override
    protected void reduceImpl(Ops.Reduce op, Tensor x, int[] dims, Tensor y) {
        ReduceSplit split = ReduceSplit.of(x, dims);
        try (Arena arena = Arena.ofConfined()) {
            check(TesseraCpu.ts_reduce_f32(op.code, split.outerShape().length, longs(arena, split.outerShape()),
                    longs(arena, split.outerStrides()), dims.length, longs(arena, split.reducedShape()),
                    longs(arena, split.reducedStrides()), address(x), output(y)), "ts_reduce_f32");
        }
    }

    /**
     * Up to this many rows, x W^T runs in kernels/cpu/gemm_small.c rather than OpenBLAS: it streams W once where
     * OpenBLAS packs it first, but re-reads the rows of x for every four rows of W, which costs more as m grows and
     * costs most with 8-float vectors. Where it stops paying depends on OpenBLAS's own kernels too: AVX-512 ones
     * (SkylakeX, Cooperlake, SapphireRapids) multiply at twice the rate of the AVX2 ones a machine may force with
     * OPENBLAS_CORETYPE. Measured on the Zen 5 EPYC, 2 threads, 4096 x 4096, 5632 x 2048 and 2304 x 768 weights
     * (2026-12-04): against AVX-512 OpenBLAS ahead up to 40 rows, behind at 48 and 64 (8.6 vs 7.1 ms at 64 on
     * 4096 x 4096); against Haswell OpenBLAS ahead at every m up to 64 (8.8 vs 11.7 ms). AVX2 tier (one thread,
     * 2026-12-02): 38.0 vs 30.4 at 64, 27.2 vs 24.0 at 48, 20.0 vs 20.1 at 32, ahead below.
     */
    static long smallRows() {
        if (TesseraCpu.ts_isa_active() != TesseraCpu.ISA_AVX512) {
            return 32;
        }
        return OpenBlasKernels.AVX512 ? 40 : 64;
    }

    /** Whether OpenBLAS runs one of its AVX-512 kernel sets here (SkylakeX, Cooperlake, SapphireRapids). */
    public static boolean openBlasRunsAvx512() {
        return OpenBlasKernels.AVX512;
    }

    private static final class OpenBlasKernels {
        // without OpenBLAS (no library found) the products that need it fail with its own message; this must not
        static final boolean AVX512 = Cblas.LIBRARY.isAvailable() && avx512(CStrings.read(Cblas.openblas_get_corename()));

        /** Whether OpenBLAS's kernel set (openblas_get_corename) is one of its AVX-512 ones. */
        static boolean avx512(String core) {
            String name = core.toLowerCase(Locale.ROOT);
            return name.contains("skylakex") || name.contains("cooperlake") || name.contains("sapphirerapids");
        }
    }

    /**
     * Up to this many rows (decoding, batch 1-16), x W runs in kernels/cpu/gemv.c: W streamed once in its stored
     * layout on the kernels' persistent thread pool (the C side's TS_GEMV_MAX_ROWS). From 9 to 16 rows it beat
     * gemm_small.c (an OpenMP region beside the pool's polling workers): GPT-2's products at 12 rows 20.4-20.6 against
     * 27.4-28.0 ms a step, 16 rows 24.1-24.3 against 27.6-28.0, TinyLlama's at 16 level (bench/gemv-step/run
     * --dtype f32 / f32-small, Zen 5, alternated); at 32 rows they were level, at 40 gemm_small.c was ahead.
     */
    static final long GEMV_MAX_ROWS = 16;

    /** BF16 products of this many rows or more go to AMX tiles on CPUs that have them (never timed against gemv.c). */
    private static final long AMX_BF16_MIN_ROWS = 9;

    @Override
    protected void matmulImpl(Tensor a, Tensor b, Tensor y) {
        int rank = y.rank();
        long m = y.shape()[rank - 2];
        long n = y.shape()[rank - 1];
        long k = a.shape()[rank - 1];
        if (m == 0 || n == 0) {
            return;
        }
        if (k == 0) {
            fill(y, 0);
            return;
        }
        MatrixLayout left = MatrixLayout.of(a, "matmul left operand");
        MatrixLayout right = MatrixLayout.of(b, "matmul right operand");
        long batches = y.numel() / (m * n);
        MemorySegment aBase = address(a);
        MemorySegment bBase = address(b);
        MemorySegment yBase = output(y);
        for (long batch = 0; batch < batches; batch++) {
            MemorySegment aAt = aBase.asSlice(MatrixLayout.batchOffset(a, batch) * Float.BYTES);
            MemorySegment bAt = bBase.asSlice(MatrixLayout.batchOffset(b, batch) * Float.BYTES);
            MemorySegment yAt = yBase.asSlice(batch * m * n * Float.BYTES);
            long aStep = a.strides()[rank - 1];
            long bStep = b.strides()[rank - 2];
            if (m <= GEMV_MAX_ROWS && !left.transposed()) {
                // a few rows times a weight, whichever way it is stored
                check(TesseraCpu.ts_gemv_f32(m, n, k, aAt, left.leadingDimension(), bAt, right.leadingDimension(),
                        right.transposed() ? 0 : 1, yAt, n), "ts_gemv_f32");
            } else if (m == 1 && aStep > 0 && aStep <= Integer.MAX_VALUE) {
                // a row times a matrix: GEMV streams the weights once; OpenBLAS's GEMM would pack them first
                gemv(right, (int) k, (int) n, bAt, aAt, (int) aStep, yAt, true);
            } else if (n == 1 && bStep > 0 && bStep <= Integer.MAX_VALUE) {
                gemv(left, (int) m, (int) k, aAt, bAt, (int) bStep, yAt, false);
            } else if (!left.transposed()) {
                timesWeight(m, n, k, aAt, left.leadingDimension(), bAt, right.leadingDimension(), !right.transposed(), yAt, n);
            } else {
                Cblas.cblas_sgemm(Cblas.CblasRowMajor, cblasTranspose(left), cblasTranspose(right), (int) m, (int) n, (int) k, 1f,
                        aAt, left.leadingDimension(), bAt, right.leadingDimension(), 0f, yAt, (int) n);
            }
        }
    }

    /** Which products of more than 8 rows run on AMX tiles here (the CPU has the extension and Linux granted it). */
    public record Amx(boolean int8, boolean bf16) {}

    /** What this machine's AMX runs (ts_amx_enabled): asked the first time a product or a caller needs it, not at start-up. */
    public static Amx amx() {
        return AmxHolder.AMX;
    }

    private static final class AmxHolder {
        static final Amx AMX = ask();

        private static Amx ask() {
            try (Arena arena = Arena.ofConfined()) {
                MemorySegment flags = arena.allocate(ValueLayout.JAVA_INT, 2);
                check(TesseraCpu.ts_amx_enabled(flags, flags.asSlice(ValueLayout.JAVA_INT.byteSize())), "ts_amx_enabled");
                return new Amx(flags.getAtIndex(ValueLayout.JAVA_INT, 0) != 0, flags.getAtIndex(ValueLayout.JAVA_INT, 1) != 0);
            }
        }
    }

    /** The k the AMX-BF16 product takes must be a multiple of this (a tile row of BF16 inputs). */
    private static final long AMX_BF16_K = 32;

    @Override
    protected void matmulHalfWeightImpl(Tensor x, Tensor w, boolean inputMajor, Tensor y) {
        long m = x.dim(0);
        long k = x.dim(1);
        long n = w.dim(inputMajor ? 1 : 0);
        boolean bf16 = w.dtype() == DType.BF16;
        if (bf16 && m >= AMX_BF16_MIN_ROWS && !inputMajor && k % AMX_BF16_K == 0 && amx().bf16()) {
            check(TesseraCpu.ts_gemm_bf16_f32(m, n, k, address(x), address(w), output(y)), "ts_gemm_bf16_f32");
            return;
        }
        MemorySegment xs = address(x);
        MemorySegment ws = address(w);
        MemorySegment ys = output(y);
        long ldw = inputMajor ? n : k;
        int layout = inputMajor ? 1 : 0;
        if (m <= GEMV_MAX_ROWS) {
            check(bf16 ? TesseraCpu.ts_gemv_bf16(m, n, k, xs, k, ws, ldw, layout, ys, n)
                    : TesseraCpu.ts_gemv_f16(m, n, k, xs, k, ws, ldw, layout, ys, n), bf16 ? "ts_gemv_bf16" : "ts_gemv_f16");
        } else if (panelsRun()) {
            check(bf16 ? TesseraCpu.ts_gemm_panels_bf16_f32(m, n, k, xs, k, ws, ldw, layout, ys, n)
                    : TesseraCpu.ts_gemm_panels_f16_f32(m, n, k, xs, k, ws, ldw, layout, ys, n),
                    bf16 ? "ts_gemm_panels_bf16_f32" : "ts_gemm_panels_f16_f32");
        } else {
            halfProductInBlocks(x, w, inputMajor, y);
        }
    }

    /** More than GEMV_MAX_ROWS rows on the AVX-512 tier: gemm_panels.c's BF16 pairs, on vdpbf16ps where the CPU has it. */
    @Override
    protected void matmulBf16RoundedImpl(Tensor x, Tensor w, boolean inputMajor, Tensor y) {
        long m = x.dim(0);
        long k = x.dim(1);
        long n = w.dim(inputMajor ? 1 : 0);
        if (m > GEMV_MAX_ROWS && panelsRun()) {
            check(TesseraCpu.ts_gemm_panels_bf16_rounded_f32(m, n, k, address(x), k, address(w), inputMajor ? n : k, inputMajor ? 1 : 0,
                    output(y), n), "ts_gemm_panels_bf16_rounded_f32");
        } else {
            super.matmulBf16RoundedImpl(x, w, inputMajor, y);
        }
    }

    /**
     * F32 elements per block of the weight in {@link #halfProductInBlocks}: 4 MiB, which stays in L3 while the
     * product reads it. Converting the whole weight first wrote twice its stored bytes to memory and read them back.
     */
    private static final long HALF_BLOCK_ELEMENTS = 1 << 20;

    /**
     * y = x W for a BF16 or F16 W off AMX and off the AVX-512 tier: W converted to F32 a block of stored rows at a time into one
     * reused buffer, each block multiplied while it is in cache. Output-major W [n, k]: a block is a range of outputs,
     * written into its columns of y; input-major W [k, n]: a block is a range of k, its product added into y.
     */
    private void halfProductInBlocks(Tensor x, Tensor w, boolean inputMajor, Tensor y) {
        long m = x.dim(0);
        long k = x.dim(1);
        long n = w.dim(inputMajor ? 1 : 0);
        long rows = w.dim(0);
        long cols = w.dim(1);
        if (k == 0 || n == 0) {
            fill(y, 0);
            return;
        }
        long blockRows = Math.max(1, HALF_BLOCK_ELEMENTS / cols);
        MemorySegment xs = address(x);
        MemorySegment ys = output(y);
        try (TensorScope _ = TensorScope.open()) {
            Tensor buffer = Tensor.empty(device(), DType.F32, Math.min(blockRows, rows), cols);
            for (long r0 = 0; r0 < rows; r0 += blockRows) {
                long r = Math.min(blockRows, rows - r0);
                Tensor block = buffer.slice(0, 0, r);
                copy(w.slice(0, r0, r0 + r), block);
                MemorySegment bs = address(block);
                if (inputMajor) {
                    Cblas.cblas_sgemm(Cblas.CblasRowMajor, Cblas.CblasNoTrans, Cblas.CblasNoTrans, (int) m, (int) n, (int) r, 1f,
                            xs.asSlice(r0 * Float.BYTES), (int) k, bs, (int) n, r0 == 0 ? 0f : 1f, ys, (int) n);
                } else {
                    timesWeight(m, r, k, xs, k, bs, k, false, ys.asSlice(r0 * Float.BYTES), n);
                }
            }
        }
    }

    /**
     * y [m, n] (row stride ldy) = x [m, k] W for W stored [n, k] (output-major) or, when inputMajor, [k, n]: an
     * output-major W up to {@link #smallRows()} rows in gemm_small.c, which streams W once instead of packing it first
     * as OpenBLAS does; more rows (and an input-major W), on the AVX-512 tier, in gemm_panels.c, which packs W but not
     * x (C harness, 2 Zen 4 cores: 1.1-2.2x OpenBLAS's sgemm at 128 rows for TinyLlama's layers, 0.96x at 1024);
     * elsewhere in OpenBLAS (the AVX2 panels ran 0.8-1.1x it).
     */
    private static void timesWeight(long m, long n, long k, MemorySegment x, long ldx, MemorySegment w, long ldw,
                                    boolean inputMajor, MemorySegment y, long ldy) {
        if (!inputMajor && m <= smallRows()) {
            check(TesseraCpu.ts_gemm_small_m_nt_f32(m, n, k, x, ldx, w, ldw, y, ldy), "ts_gemm_small_m_nt_f32");
        } else if (panelsRun()) {
            check(TesseraCpu.ts_gemm_panels_f32(m, n, k, x, ldx, w, ldw, inputMajor ? 1 : 0, y, ldy), "ts_gemm_panels_f32");
        } else {
            Cblas.cblas_sgemm(Cblas.CblasRowMajor, Cblas.CblasNoTrans, inputMajor ? Cblas.CblasNoTrans : Cblas.CblasTrans, (int) m,
                    (int) n, (int) k, 1f, x, (int) ldx, w, (int) ldw, 0f, y, (int) ldy);
        }
    }

    /**
     * Whether gemm_panels.c takes the products of more than a few rows here (F32, F16 and, off AMX, BF16 weights): on
     * the AVX-512 tier, where it beat OpenBLAS (see {@link #timesWeight}); half-precision weights are widened as they are
     * packed, where elsewhere they are converted to F32 a block at a time first.
     */
    private static boolean panelsRun() {
        return TesseraCpu.ts_isa_active() == TesseraCpu.ISA_AVX512;
    }

    private static int cblasTranspose(MatrixLayout layout) {
        return layout.transposed() ? Cblas.CblasTrans : Cblas.CblasNoTrans;
    }

    /**
     * y = x op(M) (when {@code vectorOnLeft}, M is [rows, cols] = [k, n]) or y = op(M) x (M is [m, k]), with
     * M's layout given by its MatrixLayout; x has element stride incx, y is contiguous.
     */
    private static void gemv(MatrixLayout matrix, int rows, int cols, MemorySegment m, MemorySegment x, int incx,
                             MemorySegment y, boolean vectorOnLeft) {
        // stored row-major as [rows, cols] when NoTrans, as [cols, rows] when Trans
        boolean stored = !matrix.transposed();
        int storedRows = stored ? rows : cols;
        int storedCols = stored ? cols : rows;
        // x^T M = (M^T x)^T: on the left the stored matrix is applied transposed exactly when it is stored as is
        int trans = vectorOnLeft == stored ? Cblas.CblasTrans : Cblas.CblasNoTrans;
        Cblas.cblas_sgemv(Cblas.CblasRowMajor, trans, storedRows, storedCols, 1f, m, matrix.leadingDimension(), x, incx, 0f, y, 1);
    }

    @Override
    protected void sampledMatmulImpl(Tensor a, Tensor b, Tensor indices, Tensor y) {
        check(TesseraCpu.ts_sampled_matmul_f32(a.dim(0), a.dim(1), b.dim(1), address(a), address(b), indices.numel(),
                address(indices), indices.dtype().byteSize(), output(y)), "ts_sampled_matmul_f32");
    }

    @Override
    protected void softmaxImpl(Tensor x, Tensor y, boolean log) {
        long cols = lastDim(x);
        check(TesseraCpu.ts_softmax_f32(rows(x, cols), cols, log ? 1 : 0, address(x), output(y)), "ts_softmax_f32");
    }

    @Override
    protected void softmaxBackwardImpl(Tensor y, Tensor gy, Tensor gx, boolean log) {
        long cols = lastDim(y);
        check(TesseraCpu.ts_softmax_backward_f32(rows(y, cols), cols, log ? 1 : 0, address(y), address(gy), output(gx)),
                "ts_softmax_backward_f32");
    }

    @Override
    protected void layerNormImpl(Tensor x, Tensor w, Tensor b, float eps, Tensor y, Tensor mean, Tensor rstd) {
        long cols = lastDim(x);
        check(TesseraCpu.ts_layernorm_f32(rows(x, cols), cols, eps, address(x), address(w), address(b), output(y),
                output(mean), output(rstd)), "ts_layernorm_f32");
    }

    @Override
    protected void layerNormBackwardImpl(Tensor x, Tensor w, Tensor mean, Tensor rstd, Tensor gy, Tensor gx, Tensor gw, Tensor gb) {
        long cols = lastDim(x);
        check(TesseraCpu.ts_layernorm_backward_f32(rows(x, cols), cols, address(x), address(w), address(mean), address(rstd),
                address(gy), output(gx), output(gw), output(gb)), "ts_layernorm_backward_f32");
    }

    @Override
    protected void rmsNormImpl(Tensor x, Tensor w, float eps, Tensor y, Tensor rstd) {
        long cols = lastDim(x);
        check(TesseraCpu.ts_rmsnorm_f32(rows(x, cols), cols, eps, address(x), address(w), output(y), output(rstd)),
                "ts_rmsnorm_f32");
    }

    @Override
    protected void ropeImpl(Tensor x, Tensor cos, Tensor sin, Tensor pos, boolean inverse, Tensor y) {
        check(TesseraCpu.ts_rope_f32(x.dim(0), x.dim(1), x.dim(2), address(x), address(cos), address(sin), address(pos),
                inverse ? 1 : 0, output(y)), "ts_rope_f32");
    }

    @Override
    protected void rmsNormBackwardImpl(Tensor x, Tensor w, Tensor rstd, Tensor gy, Tensor gx, Tensor gw) {
        long cols = lastDim(x);
        check(TesseraCpu.ts_rmsnorm_backward_f32(rows(x, cols), cols, address(x), address(w), address(rstd), address(gy),
                output(gx), output(gw)), "ts_rmsnorm_backward_f32");
    }

    @Override
    protected void crossEntropyImpl(Tensor logits, Tensor labels, Tensor loss, Tensor lse) {
        long cols = lastDim(logits);
        check(TesseraCpu.ts_cross_entropy_f32(rows(logits, cols), cols, address(logits), address(labels),
                labels.dtype().byteSize(), output(loss), output(lse)), "ts_cross_entropy_f32");
    }

    @Override
    protected void crossEntropyBackwardImpl(Tensor logits, Tensor labels, Tensor lse, Tensor gloss, Tensor glogits) {
        long cols = lastDim(logits);
        check(TesseraCpu.ts_cross_entropy_backward_f32(rows(logits, cols), cols, address(logits), address(labels),
                labels.dtype().byteSize(), address(lse), address(gloss), output(glogits)), "ts_cross_entropy_backward_f32");
    }

    @Override
    protected void embeddingImpl(Tensor weight, Tensor idx, Tensor out) {
        check(TesseraCpu.ts_embedding_f32(idx.numel(), weight.shape()[1], address(weight), address(idx), idx.dtype().byteSize(),
                output(out)), "ts_embedding_f32");
    }

    @Override
    protected void embeddingBackwardImpl(Tensor gout, Tensor idx, Tensor gweight) {
        check(TesseraCpu.ts_embedding_backward_f32(idx.numel(), gweight.shape()[1], address(gout), address(idx),
                idx.dtype().byteSize(), output(gweight)), "ts_embedding_backward_f32");
    }

    @Override
    protected void causalAttentionImpl(Tensor q, Tensor k, Tensor v, float scale, Tensor y) {
        try (Arena arena = Arena.ofConfined()) {
            long group = q.dim(1) / k.dim(1); // query heads per key and value head (Backend.causalAttention checked it)
            if (k.dtype() == DType.F16) {
                check(TesseraCpu.ts_causal_attention_f16kv(q.dim(0), q.dim(1), group, q.dim(2), k.dim(2), q.dim(3), scale, address(q),
                        longs(arena, leading(q)), address(k), longs(arena, leading(k)), address(v), longs(arena, leading(v)),
                        output(y)), "ts_causal_attention_f16kv");
            } else {
                check(TesseraCpu.ts_causal_attention_f32(q.dim(0), q.dim(1), group, q.dim(2), k.dim(2), q.dim(3), scale, address(q),
                        longs(arena, leading(q)), address(k), longs(arena, leading(k)), address(v), longs(arena, leading(v)),
                        output(y)), "ts_causal_attention_f32");
            }
        }
    }

    /** Element strides of dims 0-2 (batch, head, position) of an attention operand. */
    private static long[] leading(Tensor t) {
        return Arrays.copyOf(t.strides(), 3);
    }

    @Override
    protected void causalMaskImpl(Tensor x, long past, float value) {
        int r = x.rank();
        check(TesseraCpu.ts_causal_mask_f32(x.shape()[0], x.shape()[r - 2], x.shape()[r - 1], past, value, output(x)),
                "ts_causal_mask_f32");
    }

    @Override
    protected void adamwImpl(Tensor p, Tensor g, Tensor m, Tensor v, float lr, float beta1, float beta2, float eps,
                      float weightDecay, float biasCorrection1, float biasCorrection2) {
        check(TesseraCpu.ts_adamw_f32(p.numel(), output(p), address(g), output(m), output(v), lr, beta1, beta2, eps,
                weightDecay, biasCorrection1, biasCorrection2), "ts_adamw_f32");
    }

    @Override
    protected void sgdImpl(Tensor p, Tensor g, Tensor buf, float lr, float momentum, float dampening, float weightDecay,
                    boolean nesterov, boolean firstStep) {
        check(TesseraCpu.ts_sgd_f32(p.numel(), output(p), address(g), output(buf), lr, momentum, dampening, weightDecay,
                nesterov ? 1 : 0, firstStep ? 1 : 0), "ts_sgd_f32");
    }

    @Override
    protected void adamwIndexedImpl(Tensor indices, Tensor p, Tensor g, Tensor m, Tensor v, float lr, float beta1, float beta2,
                             float eps, float weightDecay, float biasCorrection1, float biasCorrection2) {
        check(TesseraCpu.ts_adamw_indexed_f32(indices.numel(), address(indices), indices.dtype().byteSize(), output(p),
                address(g), GradIndices.isCompact(indices, g) ? 1 : 0, output(m), output(v), lr, beta1, beta2, eps,
                weightDecay, biasCorrection1, biasCorrection2), "ts_adamw_indexed_f32");
    }

    @Override
    protected void adamwMaskedImpl(Tensor mask, Tensor p, Tensor g, Tensor m, Tensor v, float lr, float beta1, float beta2,
                            float eps, float weightDecay, float biasCorrection1, float biasCorrection2) {
        check(TesseraCpu.ts_adamw_masked_f32(p.numel(), address(mask), output(p), address(g), output(m), output(v), lr,
                beta1, beta2, eps, weightDecay, biasCorrection1, biasCorrection2), "ts_adamw_masked_f32");
    }

    @Override
    protected void sgdIndexedImpl(Tensor indices, Tensor p, Tensor g, Tensor buf, float lr, float momentum, float dampening,
                           float weightDecay, boolean nesterov, boolean firstStep) {
        check(TesseraCpu.ts_sgd_indexed_f32(indices.numel(), address(indices), indices.dtype().byteSize(), output(p),
                address(g), GradIndices.isCompact(indices, g) ? 1 : 0, output(buf), lr, momentum, dampening, weightDecay,
                nesterov ? 1 : 0, firstStep ? 1 : 0), "ts_sgd_indexed_f32");
    }

    @Override
    protected void sgdMaskedImpl(Tensor mask, Tensor p, Tensor g, Tensor buf, float lr, float momentum, float dampening,
                          float weightDecay, boolean nesterov, boolean firstStep) {
        check(TesseraCpu.ts_sgd_masked_f32(p.numel(), address(mask), output(p), address(g), output(buf), lr, momentum,
                dampening, weightDecay, nesterov ? 1 : 0, firstStep ? 1 : 0), "ts_sgd_masked_f32");
    }

    @Override
    protected void randomImpl(Tensor y, long seed, long offset, boolean normal) {
        check(TesseraCpu.ts_philox_f32(y.numel(), seed, offset, normal ? 1 : 0, output(y)), "ts_philox_f32");
    }

    @Override
    protected void kahanAccumulateImpl(Tensor x, boolean square, Tensor sum, Tensor comp) {
        check(TesseraCpu.ts_kahan_accumulate_f32(x.numel(), address(x), square ? 1 : 0, output(sum), output(comp)),
                "ts_kahan_accumulate_f32");
    }

    @Override
    protected long radixHistogramImpl(Tensor x, long prefix, int prefixBits, int digitShift, int digitBits, long[] histogram) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment counts = arena.allocateFrom(JAVA_LONG, histogram);
            MemorySegment invalid = arena.allocate(JAVA_LONG);
            check(TesseraCpu.ts_radix_histogram_f32(x.numel(), address(x), prefix, prefixBits, digitShift, digitBits, counts,
                    invalid), "ts_radix_histogram_f32");
            MemorySegment.copy(counts, JAVA_LONG, 0, histogram, 0, histogram.length);
            return invalid.get(JAVA_LONG, 0);
        }
    }

    @Override
    protected Selected selectAboveImpl(Tensor x, int thresholdKey, long equalQuota, Tensor indices, Tensor keys) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment counts = arena.allocate(JAVA_LONG, 3);
            check(TesseraCpu.ts_select_above_f32(x.numel(), address(x), Integer.toUnsignedLong(thresholdKey), equalQuota,
                    indices.numel(), output(indices), output(keys), counts), "ts_select_above_f32");
            return new Selected(counts.getAtIndex(JAVA_LONG, 0), counts.getAtIndex(JAVA_LONG, 1), counts.getAtIndex(JAVA_LONG, 2));
        }
    }

    @Override
    protected void fisherMergeImpl(Tensor[] thetas, Tensor[] fishers, float[] weights, float[] scales, float floor, Tensor out) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment thetaPointers = arena.allocate(ADDRESS, thetas.length);
            MemorySegment fisherPointers = arena.allocate(ADDRESS, fishers.length);
            for (int m = 0; m < thetas.length; m++) {
                thetaPointers.setAtIndex(ADDRESS, m, address(thetas[m]));
                fisherPointers.setAtIndex(ADDRESS, m, address(fishers[m]));
            }
            check(TesseraCpu.ts_fisher_merge_f32(out.numel(), thetas.length, thetaPointers, fisherPointers,
                    arena.allocateFrom(JAVA_FLOAT, weights),
                    arena.allocateFrom(JAVA_FLOAT, scales), floor, output(out)), "ts_fisher_merge_f32");
        }
    }

    @Override
    protected void solvePositiveDefiniteImpl(Tensor a, Tensor b) {
        int n = Math.toIntExact(a.dim(0));
        int k = Math.toIntExact(b.dim(1));
        int info = Lapacke.LAPACKE_sposv(Lapacke.LAPACK_ROW_MAJOR, Lapacke.UPPER, n, k, output(a), Math.max(n, 1), output(b),
                Math.max(k, 1));
        if (info > 0) {
            throw new IllegalArgumentException("solvePositiveDefinite: matrix " + a.describe() + " is not positive definite (leading minor "
                    + info + ")");
        }
        if (info < 0) {
            throw new IllegalStateException("LAPACKE_sposv rejected argument " + (-info));
        }
    }

    @Override
    protected void quantizeBlockwiseImpl(Tensor x, int block, Tensor codes, Tensor scales) {
        int status = TesseraCpu.ts_quantize_blockwise_q8(x.numel(), block, address(x), output(codes), output(scales));
        if (status == -3) {
            throw new IllegalArgumentException("cannot quantize " + x.describe() + ": it holds NaN or infinite values");
        }
        check(status, "ts_quantize_blockwise_q8");
    }

    @Override
    protected void dequantizeBlockwiseImpl(Tensor codes, Tensor scales, int block, Tensor y) {
        check(TesseraCpu.ts_dequantize_blockwise_q8(codes.numel(), block, address(codes), address(scales), output(y)),
                "ts_dequantize_blockwise_q8");
    }

    @Override
    protected long outlierColumnsImpl(Tensor x, float threshold, Tensor flags) {
        long cols = lastDim(x);
        int count = TesseraCpu.ts_q8_outlier_columns(rows(x, cols), cols, address(x), cols, threshold, output(flags));
        if (count < 0) {
            check(count, "ts_q8_outlier_columns");
        }
        return count;
    }

    @Override
    protected void quantizeRowsImpl(Tensor x, Tensor exclude, Tensor codes, Tensor scales) {
        long cols = lastDim(x);
        quantized(TesseraCpu.ts_quantize_rows_q8(rows(x, cols), cols, address(x), cols, address(exclude), output(codes),
                output(scales)), x, "ts_quantize_rows_q8");
    }

    @Override
    protected void quantizeRowsHalfImpl(Tensor x, Tensor exclude, Tensor codes, Tensor scales) {
        long cols = lastDim(x);
        if (x.dtype() == DType.BF16) {
            quantized(TesseraCpu.ts_quantize_rows_bf16_q8(rows(x, cols), cols, address(x), cols, address(exclude), output(codes),
                    output(scales)), x, "ts_quantize_rows_bf16_q8");
        } else {
            quantized(TesseraCpu.ts_quantize_rows_f16_q8(rows(x, cols), cols, address(x), cols, address(exclude), output(codes),
                    output(scales)), x, "ts_quantize_rows_f16_q8");
        }
    }

    private static void quantized(int status, Tensor x, String kernel) {
        if (status == -3) {
            throw new IllegalArgumentException("cannot quantize " + x.describe() + ": it holds NaN or infinite values");
        }
        check(status, kernel);
    }

    @Override
    protected void matmulQ8Impl(Tensor xCodes, Tensor xScales, Tensor wCodes, Tensor wScales, Tensor bias, Tensor y) {
        long n = wCodes.dim(0);
        long k = wCodes.dim(1);
        check(TesseraCpu.ts_gemm_q8_f32(xCodes.dim(0), n, k, address(xCodes), address(xScales), address(wCodes),
                address(wScales), address(bias), output(y), n), "ts_gemm_q8_f32");
    }

    @Override
    protected void matmulQ8OutliersImpl(Tensor x, Tensor columns, Tensor wCodes, Tensor wScales, Tensor y) {
        long n = wCodes.dim(0);
        long k = wCodes.dim(1);
        check(TesseraCpu.ts_gemm_q8_outliers_f32(x.dim(0), n, k, address(x), k, address(columns), columns.numel(),
                address(wCodes), address(wScales), output(y), n), "ts_gemm_q8_outliers_f32");
    }

    private static long lastDim(Tensor t) {
        return t.rank() == 0 ? 1 : t.shape()[t.rank() - 1];
    }

    private static long rows(Tensor t, long cols) {
        return cols == 0 ? 0 : t.numel() / cols;
    }

    private static MemorySegment longs(Arena arena, long[] values) {
        return values.length == 0 ? arena.allocate(JAVA_LONG) : arena.allocateFrom(JAVA_LONG, values);
    }
}
