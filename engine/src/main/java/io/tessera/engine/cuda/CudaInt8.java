package io.tessera.engine.cuda;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;

import io.tessera.engine.Tensor;
import io.tessera.ffi.Cublas;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * The int8 kernels of kernels/cuda/quantize.cu: blockwise and per-row quantization, outlier columns, int8 GEMM (through
 * cuBLASLt where it is there).
 */
final class CudaInt8 {
    /** Columns a thread of the quantize kernels takes at once (kernels/cuda/vec4.cuh), so rows get a quarter as many threads. */
    private static final int VECTOR = 4;

    private final CudaBackend backend;
    private final CudaContext context;

    CudaInt8(CudaBackend backend, CudaContext context) {
        this.backend = backend;
        this.context = context;
    }

    void quantizeBlockwise(Tensor x, int block, Tensor codes, Tensor scales) {
        String op = "quantizeBlockwise";
        long n = x.numel();
        long in = backend.address(op, x);
        long q = backend.address(op, codes);
        long s = backend.address(op, scales);
        try (Scratch bad = new Scratch(backend, Integer.BYTES)) {
            CudaBackend.zero(context, bad.address(), Integer.BYTES);
            context.launch("ts_quantize_blockwise_q8").i64(n).i64(block).ptr(in).ptr(q).ptr(s).ptr(bad.address())
                    .overRows(Math.ceilDiv(n, block), Math.ceilDiv(Math.min(block, n), VECTOR));
            rejectNonFinite(bad, x);
        }
    }

    void dequantizeBlockwise(Tensor codes, Tensor scales, int block, Tensor y) {
        String op = "dequantizeBlockwise";
        context.launch("ts_dequantize_blockwise_q8").i64(codes.numel()).i64(block).ptr(backend.address(op, codes))
                .ptr(backend.address(op, scales)).ptr(backend.address(op, y)).overItems(codes.numel());
    }

    long outlierColumns(Tensor x, float threshold, Tensor flags) {
        String op = "outlierColumns";
        long cols = lastDim(x);
        long rows = cols == 0 ? 0 : x.numel() / cols;
        long out = backend.address(op, flags);
        context.launch("ts_q8_outlier_columns").i64(rows).i64(cols).ptr(backend.address(op, x)).f32(threshold).ptr(out)
                .overItems(cols);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment host = arena.allocate(Math.max(1, cols));
            context.staging().download(out, host, cols);
            long count = 0;
            for (long c = 0; c < cols; c++) {
                count += host.get(JAVA_BYTE, c);
            }
            return count;
        }
    }

    void quantizeRows(Tensor x, Tensor exclude, Tensor codes, Tensor scales) {
        String op = "quantizeRows";
        long cols = lastDim(x);
        long rows = cols == 0 ? 0 : x.numel() / cols;
        long in = backend.address(op, x);
        long skip = backend.address(op, exclude);
        long q = backend.address(op, codes);
        long s = backend.address(op, scales);
        try (Scratch bad = new Scratch(backend, Integer.BYTES)) {
            CudaBackend.zero(context, bad.address(), Integer.BYTES);
            context.launch("ts_quantize_rows_q8").i64(rows).i64(cols).ptr(in).ptr(skip).ptr(q).ptr(s).ptr(bad.address())
                    .overRows(rows, Math.ceilDiv(cols, VECTOR));
            rejectNonFinite(bad, x);
        }
    }

    /**
     * Through cuBLASLt's int8 GEMM (int32 results in a scratch buffer) and then {@code ts_q8_epilogue_f32} for the
     * scales and bias, where cuBLASLt is there and the shapes and addresses meet IMMA's conditions; otherwise
     * {@code ts_gemm_q8_f32}, which does both in one kernel. The two give identical outputs (exact int32 sums).
     */
    void matmulQ8(Tensor xCodes, Tensor xScales, Tensor wCodes, Tensor wScales, Tensor bias, Tensor y) {
        String op = "matmulQ8";
        long m = xCodes.dim(0);
        long n = wCodes.dim(0);
        long k = wCodes.dim(1);
        long x = backend.address(op, xCodes);
        long w = backend.address(op, wCodes);
        long xs = backend.address(op, xScales);
        long ws = backend.address(op, wScales);
        long b = backend.address(op, bias);
        long out = backend.address(op, y);
        if (!fitsLt(m, n, k, x, w)) {
            context.launch("ts_gemm_q8_f32").i64(m).i64(n).i64(k).ptr(x).ptr(xs).ptr(w).ptr(ws).ptr(b).ptr(out).overItems(m * n);
            return;
        }
        try (Scratch acc = new Scratch(backend, m * n * Integer.BYTES)) {
            // row-major y [m, n] = x [m, k] . w [n, k]^T is column-major y^T [n, m] = (w^T)^T x^T, with w^T and x^T the
            // column-major [k, n] and [k, m] matrices the row-major codes already are: the TN form IMMA needs
            context.lt().int8(new CudaLt.Operand(w, Cublas.CUDA_R_8I, k, n, k), new CudaLt.Operand(x, Cublas.CUDA_R_8I, k, m, k),
                    new CudaLt.Operand(acc.address(), Cublas.CUDA_R_32I, n, m, n));
            context.launch("ts_q8_epilogue_f32").i64(m).i64(n).ptr(acc.address()).ptr(xs).ptr(ws).ptr(b).ptr(out).overItems(m * n);
        }
    }

    private static boolean fitsLt(long m, long n, long k, long x, long w) {
        return CudaLt.available() && m > 0 && n > 0 && k > 0 && n % CudaLt.INT8_MULTIPLE == 0 && k % CudaLt.INT8_MULTIPLE == 0
                && x % CudaLt.INT8_ALIGNMENT == 0 && w % CudaLt.INT8_ALIGNMENT == 0;
    }

    void matmulQ8Outliers(Tensor x, Tensor columns, Tensor wCodes, Tensor wScales, Tensor y) {
        String op = "matmulQ8Outliers";
        long m = x.dim(0);
        long n = wCodes.dim(0);
        long k = wCodes.dim(1);
        context.launch("ts_gemm_q8_outliers_f32").i64(m).i64(n).i64(k).ptr(backend.address(op, x))
                .ptr(backend.address(op, columns)).i64(columns.numel()).ptr(backend.address(op, wCodes))
                .ptr(backend.address(op, wScales)).ptr(backend.address(op, y)).overItems(columns.numel() == 0 ? 0 : m * n);
    }

    /** Throws, as the CPU backend does, if the kernel flagged a non-finite input. */
    private void rejectNonFinite(Scratch flag, Tensor x) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment host = arena.allocate(JAVA_INT);
            context.staging().download(flag.address(), host, Integer.BYTES);
            if (host.get(JAVA_INT, 0) != 0) {
                throw new IllegalArgumentException("cannot quantize " + x.describe() + ": it holds NaN or infinite values");
            }
        }
    }

    private static long lastDim(Tensor t) {
        return t.rank() == 0 ? 1 : t.shape()[t.rank() - 1];
    }
}
