package io.tessera.engine;

import java.lang.foreign.MemorySegment;

/**
 * The primitive op set every device implements; everything else (broadcasting, autograd, nn layers) is
 * built on these in {@link Tensor}. Callers (the Tensor layer) validate shapes, dtypes and devices and
 * allocate outputs; a backend only checks what its kernels additionally need and runs them.
 * Conventions: "rows" kernels work on contiguous row-major data over the last dim; outputs are contiguous.
 */
public interface Backend {
    Device device();

    /**
     * Waits until the work this thread queued on the device has run (kernels may run asynchronously to the
     * caller; reads into host memory wait anyway). A no-op where ops run synchronously, as on the CPU.
     */
    default void synchronize() {}

    /** Allocates uninitialised memory on this device, owned by the current {@link TensorScope} if any. */
    Storage allocate(long bytes);

    /** Copies {@code bytes} of host memory into a contiguous tensor, or out of one. */
    void write(Tensor dst, MemorySegment src);

    void read(Tensor src, MemorySegment dst);

    /** dst = src (same shape, any strides), converting dtype if they differ. */
    void copy(Tensor src, Tensor dst);

    /** Sets every element of a contiguous tensor. */
    void fill(Tensor dst, double value);

    void unary(Ops.Unary op, float alpha, Tensor x, Tensor y);

    /** y = a op b; a and b are already broadcast (expanded views) to y's shape. */
    void binary(Ops.Binary op, Tensor a, Tensor b, Tensor y);

    /** y (BOOL) = a op b, broadcast as for {@link #binary}. */
    void compare(Ops.Compare op, Tensor a, Tensor b, Tensor y);

    /** y = cond ? a : b, all broadcast to y's shape; cond is BOOL. */
    void where(Tensor cond, Tensor a, Tensor b, Tensor y);

    /** y (contiguous, shape of x without {@code dims}) = op over {@code dims} of x. */
    void reduce(Ops.Reduce op, Tensor x, int[] dims, Tensor y);

    /**
     * y[b] = a[b] @ b[b] for every batch index; a is [..., m, k], b is [..., k, n], y is [..., m, n] and
     * contiguous; the batch dims of a and b are broadcast (possibly stride 0) to y's. The last two dims of
     * a and b must each be row-major or column-major (a transpose costs no copy).
     */
    void matmul(Tensor a, Tensor b, Tensor y);

    /**
     * The entries of a^T b at listed places only (SDDMM): for contiguous F32 a [r, m] and b [r, n],
     * y[j] = sum over t of a[t, i / n] * b[t, i % n] with i = indices[j] (I32 or I64 [k], sorted, unique, in
     * [0, m n)); y is contiguous F32 [k]. A Linear weight's gradient at the entries of a sparse mask.
     */
    void sampledMatmul(Tensor a, Tensor b, Tensor indices, Tensor y);

    void softmax(Tensor x, Tensor y, boolean log);

    void softmaxBackward(Tensor y, Tensor gy, Tensor gx, boolean log);

    /** w and b may be null. mean and rstd get one value per row. */
    void layerNorm(Tensor x, Tensor w, Tensor b, float eps, Tensor y, Tensor mean, Tensor rstd);

    void layerNormBackward(Tensor x, Tensor w, Tensor mean, Tensor rstd, Tensor gy, Tensor gx, Tensor gw, Tensor gb);

    void rmsNorm(Tensor x, Tensor w, float eps, Tensor y, Tensor rstd);

    void rmsNormBackward(Tensor x, Tensor w, Tensor rstd, Tensor gy, Tensor gx, Tensor gw);

    /** Per-row loss and log-sum-exp of logits [rows, classes] with I32 or I64 labels [rows]. */
    void crossEntropy(Tensor logits, Tensor labels, Tensor loss, Tensor lse);

    void crossEntropyBackward(Tensor logits, Tensor labels, Tensor lse, Tensor gloss, Tensor glogits);

    /** out[i] = weight[idx[i]] for I32 or I64 indices. */
    void embedding(Tensor weight, Tensor idx, Tensor out);

    /** gweight[idx[i]] += gout[i]. */
    void embeddingBackward(Tensor gout, Tensor idx, Tensor gweight);

    /** x[b, i, j] = value where j > i + past, for x [batch, tq, tk] contiguous, in place. */
    void causalMask(Tensor x, long past, float value);

    /** One fused AdamW step over contiguous F32 buffers (PyTorch semantics). */
    void adamw(Tensor p, Tensor g, Tensor m, Tensor v, float lr, float beta1, float beta2, float eps,
               float weightDecay, float biasCorrection1, float biasCorrection2);

    /** One fused SGD step (PyTorch semantics); buf may be null when momentum is 0. */
    void sgd(Tensor p, Tensor g, Tensor buf, float lr, float momentum, float dampening, float weightDecay,
             boolean nesterov, boolean firstStep);

    /**
     * {@link #adamw} on the entries of p listed in {@code indices} (I32 or I64 [k], sorted, unique, in range)
     * only; the state m and v is compact: slot j belongs to entry indices[j]. g is p's size, or compact like
     * the state (k elements: a gradient computed for the listed entries only), as
     * {@link GradIndices#isCompact} tells. Touches nothing else.
     */
    void adamwIndexed(Tensor indices, Tensor p, Tensor g, Tensor m, Tensor v, float lr, float beta1, float beta2,
                      float eps, float weightDecay, float biasCorrection1, float biasCorrection2);

    /** {@link #adamw} where the U8 mask (p's size) is 1; elsewhere p, m and v keep their bits. */
    void adamwMasked(Tensor mask, Tensor p, Tensor g, Tensor m, Tensor v, float lr, float beta1, float beta2, float eps,
                     float weightDecay, float biasCorrection1, float biasCorrection2);

    /** {@link #sgd} on the listed entries only, compact buf (null when momentum is 0), as {@link #adamwIndexed}. */
    void sgdIndexed(Tensor indices, Tensor p, Tensor g, Tensor buf, float lr, float momentum, float dampening,
                    float weightDecay, boolean nesterov, boolean firstStep);

    /** {@link #sgd} where the U8 mask is 1, full-size buf (null when momentum is 0), as {@link #adamwMasked}. */
    void sgdMasked(Tensor mask, Tensor p, Tensor g, Tensor buf, float lr, float momentum, float dampening,
                   float weightDecay, boolean nesterov, boolean firstStep);

    /** Philox4x32-10 draws: element i of y depends only on (seed, offset, i). */
    void random(Tensor y, long seed, long offset, boolean normal);

    /** sum += (square ? x*x : x) elementwise with Kahan compensation in comp; all contiguous F32 of one size. */
    void kahanAccumulate(Tensor x, boolean square, Tensor sum, Tensor comp);

    /**
     * One pass of a radix select over the order-preserving keys of a contiguous F32 tensor: adds to
     * {@code histogram} the count of each {@code digitBits}-wide digit at {@code digitShift} among keys
     * whose top {@code prefixBits} equal {@code prefix}. Returns how many elements are NaN, infinite or
     * negative (-0 counts as 0); they are left out of the histogram.
     */
    long radixHistogram(Tensor x, long prefix, int prefixBits, int digitShift, int digitBits, long[] histogram);

    /**
     * Writes to {@code indices} (I64) and {@code keys} (I32), contiguous and of one length, in increasing
     * index order, the elements of a contiguous F32 tensor whose order-preserving key is above
     * {@code thresholdKey}, and the first {@code equalQuota} whose key equals it, as many as fit. The same
     * pass validates, as {@link #radixHistogram} does.
     */
    Selected selectAbove(Tensor x, int thresholdKey, long equalQuota, Tensor indices, Tensor keys);

    /** What {@link #selectAbove} found: entries written, entries that qualify (may exceed room), invalid elements. */
    record Selected(long written, long qualifying, long invalid) {}

    /**
     * out = sum_m w_m d_m theta_m / sum_m w_m d_m with d_m = max(scale_m F_m, floor), one fused pass; all
     * tensors contiguous F32 of out's size.
     */
    void fisherMerge(Tensor[] thetas, Tensor[] fishers, float[] weights, float[] scales, float floor, Tensor out);

    /**
     * Solves a x = b in place for symmetric positive definite a [n, n] and b [n, k] (contiguous F32): b
     * becomes x and a its Cholesky factor. Throws if a is not positive definite.
     */
    void solvePositiveDefinite(Tensor a, Tensor b);

    /**
     * Blockwise absmax int8: scales[b] = max |x| / 127 over block b of the flat contiguous F32 x, codes =
     * round(x / scale) as I8. Throws if x holds a non-finite value.
     */
    void quantizeBlockwise(Tensor x, int block, Tensor codes, Tensor scales);

    /** y = codes * scales[block], the inverse of {@link #quantizeBlockwise} up to rounding. */
    void dequantizeBlockwise(Tensor codes, Tensor scales, int block, Tensor y);

    /**
     * Flags (U8 [cols], 1 or 0) the columns of a contiguous F32 [rows, cols] x where some |x| exceeds
     * threshold, and returns how many: the activation outliers of LLM.int8.
     */
    long outlierColumns(Tensor x, float threshold, Tensor flags);

    /**
     * Per-row int8 quantization of a contiguous F32 [rows, cols] x: scales[r] = max |x[r, c]| / 127 over the
     * columns not flagged in exclude (U8 [cols], or null), codes = round(x / scale) as I8 (0 in flagged
     * columns). Throws if x holds a non-finite value.
     */
    void quantizeRows(Tensor x, Tensor exclude, Tensor codes, Tensor scales);

    /**
     * y [m, n] = (xCodes [m, k] . wCodes [n, k]^T) * xScales[m] * wScales[n] + bias[n] (bias may be null),
     * with exact int32 dot products (k <= 65536). All contiguous.
     */
    void matmulQ8(Tensor xCodes, Tensor xScales, Tensor wCodes, Tensor wScales, Tensor bias, Tensor y);

    /** y [m, n] += x[:, columns] . (wCodes[:, columns] * wScales)^T in F32 (columns I64): LLM.int8's outlier part. */
    void matmulQ8Outliers(Tensor x, Tensor columns, Tensor wCodes, Tensor wScales, Tensor y);
}
