package io.tessera.engine;

import java.lang.foreign.MemorySegment;
import java.util.Arrays;
import java.util.Set;

/**
 * The op set every device implements; everything else (broadcasting, autograd, nn layers) is built on these
 * in {@link Tensor}. Each public op is final: it checks every argument (open, on this device, inside its
 * storage, dtype, shape, contiguity, index ranges) and only then calls the backend's {@code ...Impl}
 * method, so no backend can hand a kernel an argument it would misread: native kernels trust what they
 * get, and a wrong dtype reaching one corrupts memory (it happened: half-precision tensors in an f32
 * merge). Outputs are allocated by the caller. Conventions: "rows" ops work on contiguous row-major data
 * over the last dim; outputs are contiguous.
 *
 * <p>The ops come in families: memory and transfers, the core tensor ops, nn primitives, optimizer steps,
 * and the fused kernels of upper modules (masked optimizers for sparse/, Fisher and selection for fisher/,
 * int8 for pipeline/), listed last so a new backend can start with the core.
 */
public abstract class Backend {
    public abstract Device device();

    /**
     * Waits until the work this thread queued on the device has run (kernels may run asynchronously to the
     * caller; reads into host memory wait anyway). A no-op where ops run synchronously, as on the CPU.
     */
    public void synchronize() {}

    private ArgumentChecks checks(String op) {
        return new ArgumentChecks(op, device());
    }

    // ---- memory and transfers --------------------------------------------------------------------

    /** Allocates uninitialised memory on this device, owned by the current {@link TensorScope} if any. */
    public final Storage allocate(long bytes) {
        checks("allocate").require(bytes >= 0, () -> "cannot allocate " + bytes + " bytes");
        return allocateImpl(bytes);
    }

    /** Copies host memory (at least the tensor's bytes) into a contiguous tensor. */
    public final void write(Tensor dst, MemorySegment src) {
        ArgumentChecks c = checks("write");
        c.tensor("dst", dst);
        c.contiguous("dst", dst).require(src.byteSize() >= bytes(dst), () -> "source of " + src.byteSize() + " bytes is smaller than "
                + dst.describe() + " (" + bytes(dst) + " bytes)");
        writeImpl(dst, src);
    }

    /** Copies a contiguous tensor out into host memory (at least the tensor's bytes, writable). */
    public final void read(Tensor src, MemorySegment dst) {
        ArgumentChecks c = checks("read");
        c.tensor("src", src);
        c.contiguous("src", src).require(dst.byteSize() >= bytes(src), () -> "destination of " + dst.byteSize()
                + " bytes is smaller than " + src.describe() + " (" + bytes(src) + " bytes)").require(!dst.isReadOnly(),
                "the destination memory is read-only");
        readImpl(src, dst);
    }

    private static long bytes(Tensor t) {
        return t.numel() * t.dtype().byteSize();
    }

    // ---- core tensor ops -------------------------------------------------------------------------

    /** dst = src (same shape, any strides), converting dtype if they differ. */
    public final void copy(Tensor src, Tensor dst) {
        ArgumentChecks c = checks("copy");
        c.tensor("src", src);
        c.tensor("dst", dst);
        c.shape("src", src, dst.shape());
        copyImpl(src, dst);
    }

    /** Sets every element of a contiguous tensor. */
    public final void fill(Tensor dst, double value) {
        ArgumentChecks c = checks("fill");
        c.tensor("dst", dst);
        c.contiguous("dst", dst);
        fillImpl(dst, value);
    }

    /** y = op(x) elementwise, F32, x of y's shape (any strides; an expanded view broadcasts). */
    public final void unary(Ops.Unary op, float alpha, Tensor x, Tensor y) {
        ArgumentChecks c = elementwise("unary " + op, y, DType.F32);
        c.tensor("x", x);
        c.dtype("x", x, DType.F32).shape("x", x, y.shape());
        unaryImpl(op, alpha, x, y);
    }

    /** y = a op b; a and b are already broadcast (expanded views) to y's shape; all F32. */
    public final void binary(Ops.Binary op, Tensor a, Tensor b, Tensor y) {
        ArgumentChecks c = elementwise("binary " + op, y, DType.F32);
        operands(c, y, a, b);
        binaryImpl(op, a, b, y);
    }

    /** y (BOOL) = a op b, broadcast as for {@link #binary}. */
    public final void compare(Ops.Compare op, Tensor a, Tensor b, Tensor y) {
        ArgumentChecks c = elementwise("compare " + op, y, DType.BOOL);
        operands(c, y, a, b);
        compareImpl(op, a, b, y);
    }

    /** y = cond ? a : b, all broadcast to y's shape; cond is BOOL. */
    public final void where(Tensor cond, Tensor a, Tensor b, Tensor y) {
        ArgumentChecks c = elementwise("where", y, DType.F32);
        c.tensor("cond", cond);
        c.dtype("cond", cond, DType.BOOL).shape("cond", cond, y.shape());
        operands(c, y, a, b);
        whereImpl(cond, a, b, y);
    }

    private ArgumentChecks elementwise(String op, Tensor y, DType outputType) {
        ArgumentChecks c = checks(op);
        c.tensor("y", y);
        return c.dtype("y", y, outputType);
    }

    private static void operands(ArgumentChecks c, Tensor y, Tensor a, Tensor b) {
        c.tensor("a", a);
        c.tensor("b", b);
        c.dtype("a", a, DType.F32).dtype("b", b, DType.F32).shape("a", a, y.shape()).shape("b", b, y.shape());
    }

    /**
     * y (contiguous, shape of x without {@code dims}; F32, or I64 for ARGMAX) = op over {@code dims} of x
     * (F32, any strides); dims distinct, in [0, rank).
     */
    public final void reduce(Ops.Reduce op, Tensor x, int[] dims, Tensor y) {
        ArgumentChecks c = checks("reduce " + op);
        c.tensor("x", x);
        c.tensor("y", y);
        c.dtype("x", x, DType.F32).dtype("y", y, op == Ops.Reduce.ARGMAX ? DType.I64 : DType.F32).contiguous("y", y);
        boolean[] reduced = new boolean[x.rank()];
        long kept = 1;
        for (int d : dims) {
            c.require(d >= 0 && d < x.rank() && !reduced[d], () -> "dims " + Arrays.toString(dims) + " must be distinct dims of "
                    + x.describe());
            reduced[d] = true;
        }
        for (int d = 0; d < x.rank(); d++) {
            kept *= reduced[d] ? 1 : x.dim(d);
        }
        c.numel("y", y, kept);
        reduceImpl(op, x, dims, y);
    }

    /**
     * y[b] = a[b] @ b[b] for every batch index; a is [..., m, k], b is [..., k, n], y is [..., m, n] and
     * contiguous, all of one rank >= 2 and one dtype: F32, or BF16 / F16 (summed in F32, rounded once to the
     * dtype); the batch dims of a and b are broadcast (possibly stride 0) to y's. The last two dims of a and b
     * must each be row-major or column-major (a transpose costs no copy).
     */
    public final void matmul(Tensor a, Tensor b, Tensor y) {
        ArgumentChecks c = checks("matmul");
        c.tensor("a", a);
        c.tensor("b", b);
        c.tensor("y", y);
        c.dtypeIn("a", a, Set.of(DType.F32, DType.BF16, DType.F16));
        DType type = a.dtype();
        c.dtype("b", b, type).dtype("y", y, type).contiguous("y", y);
        int rank = y.rank();
        c.require(rank >= 2 && a.rank() == rank && b.rank() == rank, () -> "needs a, b and y of one rank >= 2, got " + a.describe() + ", "
                + b.describe() + " and " + y.describe());
        long[] aShape = y.shape();
        aShape[rank - 1] = a.dim(rank - 1);
        long[] bShape = y.shape();
        bShape[rank - 2] = a.dim(rank - 1);
        c.shape("a", a, aShape).shape("b", b, bShape);
        c.require(Math.max(a.dim(rank - 1), Math.max(y.dim(rank - 2), y.dim(rank - 1))) <= Integer.MAX_VALUE,
                () -> "dims above 2^31-1 are not supported (" + a.describe() + " @ " + b.describe() + ")");
        if (type == DType.F32) {
            matmulImpl(a, b, y);
        } else {
            matmulHalfImpl(a, b, y);
        }
    }

    /**
     * {@link #matmul} of BF16 / F16 operands: widened to F32, multiplied by {@link #matmulImpl}, the product rounded
     * once to y's dtype. A backend with a half-precision GEMM that accumulates in F32 overrides it.
     */
    protected void matmulHalfImpl(Tensor a, Tensor b, Tensor y) {
        try (TensorScope _ = TensorScope.open()) {
            Tensor wideA = Tensor.empty(device(), DType.F32, a.shape());
            Tensor wideB = Tensor.empty(device(), DType.F32, b.shape());
            Tensor wideY = Tensor.empty(device(), DType.F32, y.shape());
            copyImpl(a, wideA);
            copyImpl(b, wideB);
            matmulImpl(wideA, wideB, wideY);
            copyImpl(wideY, y);
        }
    }

    /**
     * The entries of a^T b at listed places only (SDDMM): for contiguous F32 a [r, m] and b [r, n],
     * y[j] = sum over t of a[t, i / n] * b[t, i % n] with i = indices[j] (I32 or I64 [k], sorted, unique, in
     * [0, m n)); y is contiguous F32 [k]. A Linear weight's gradient at the entries of a sparse mask.
     */
    public final void sampledMatmul(Tensor a, Tensor b, Tensor indices, Tensor y) {
        ArgumentChecks c = checks("sampledMatmul");
        c.tensor("a", a);
        c.tensor("b", b);
        c.tensor("indices", indices);
        c.tensor("y", y);
        c.rank("a", a, 2).rank("b", b, 2).rank("indices", indices, 1).f32("a", a, a.numel()).f32("b", b, b.numel());
        c.require(a.dim(0) == b.dim(0), () -> "a " + a.describe() + " and b " + b.describe() + " must have the same rows");
        c.f32("y", y, indices.numel()).indices("indices", indices, a.dim(1) * b.dim(1), true);
        sampledMatmulImpl(a, b, indices, y);
    }

    // ---- nn primitives ---------------------------------------------------------------------------

    /** Softmax (or log-softmax) over the last dim; x and y contiguous F32 of one shape. */
    public final void softmax(Tensor x, Tensor y, boolean log) {
        ArgumentChecks c = checks("softmax");
        sameRows(c, x, "x", "y", y);
        softmaxImpl(x, y, log);
    }

    public final void softmaxBackward(Tensor y, Tensor gy, Tensor gx, boolean log) {
        ArgumentChecks c = checks("softmaxBackward");
        sameRows(c, y, "y", "gy", gy, "gx", gx);
        softmaxBackwardImpl(y, gy, gx, log);
    }

    /** w and b may be null (else F32 [cols]); mean and rstd get one value per row. All contiguous F32. */
    public final void layerNorm(Tensor x, Tensor w, Tensor b, float eps, Tensor y, Tensor mean, Tensor rstd) {
        ArgumentChecks c = checks("layerNorm");
        sameRows(c, x, "x", "y", y);
        perColumn(c, x, "w", w, "b", b);
        perRow(c, x, "mean", mean, "rstd", rstd);
        layerNormImpl(x, w, b, eps, y, mean, rstd);
    }

    /** gw and gb may be null; written, not accumulated. */
    public final void layerNormBackward(Tensor x, Tensor w, Tensor mean, Tensor rstd, Tensor gy, Tensor gx, Tensor gw, Tensor gb) {
        ArgumentChecks c = checks("layerNormBackward");
        sameRows(c, x, "x", "gy", gy, "gx", gx);
        perColumn(c, x, "w", w, "gw", gw, "gb", gb);
        perRow(c, x, "mean", mean, "rstd", rstd);
        layerNormBackwardImpl(x, w, mean, rstd, gy, gx, gw, gb);
    }

    public final void rmsNorm(Tensor x, Tensor w, float eps, Tensor y, Tensor rstd) {
        ArgumentChecks c = checks("rmsNorm");
        sameRows(c, x, "x", "y", y);
        perColumn(c, x, "w", w);
        perRow(c, x, "rstd", rstd);
        rmsNormImpl(x, w, eps, y, rstd);
    }

    public final void rmsNormBackward(Tensor x, Tensor w, Tensor rstd, Tensor gy, Tensor gx, Tensor gw) {
        ArgumentChecks c = checks("rmsNormBackward");
        sameRows(c, x, "x", "gy", gy, "gx", gx);
        perColumn(c, x, "w", w, "gw", gw);
        perRow(c, x, "rstd", rstd);
        rmsNormBackwardImpl(x, w, rstd, gy, gx, gw);
    }

    /**
     * Rotary position embedding, rotate-half convention: y = x cos[pos] + rotate_half(x) sin[pos] for contiguous F32 x
     * and y [rows, heads, d] (d even), tables cos and sin [positions, d] and I64 pos [rows] in [0, positions); with
     * {@code inverse}, y = x cos - rotate_half(x) sin (the backward rotation, and the forward one's gradient).
     */
    public final void rope(Tensor x, Tensor cos, Tensor sin, Tensor pos, boolean inverse, Tensor y) {
        ArgumentChecks c = checks("rope");
        c.tensor("x", x);
        c.tensor("cos", cos);
        c.tensor("sin", sin);
        c.tensor("pos", pos);
        c.tensor("y", y);
        c.rank("x", x, 3).dtype("x", x, DType.F32).contiguous("x", x);
        long d = x.dim(2);
        c.require(d % 2 == 0, () -> "needs an even head dim, got x " + x.describe());
        c.rank("cos", cos, 2).f32("cos", cos, cos.dim(0) * d).shape("sin", sin, cos.shape()).f32("sin", sin, cos.numel());
        c.dtype("pos", pos, DType.I64).shape("pos", pos, new long[] {x.dim(0)}).indices("pos", pos, cos.dim(0), false);
        c.shape("y", y, x.shape()).f32("y", y, x.numel());
        if (x.numel() > 0) {
            ropeImpl(x, cos, sin, pos, inverse, y);
        }
    }

    /** Per-row loss and log-sum-exp of logits [rows, classes] with I32 or I64 labels [rows] in [0, classes). */
    public final void crossEntropy(Tensor logits, Tensor labels, Tensor loss, Tensor lse) {
        ArgumentChecks c = checks("crossEntropy");
        sameRows(c, logits, "logits");
        perRow(c, logits, "loss", loss, "lse", lse);
        labels(c, logits, labels);
        crossEntropyImpl(logits, labels, loss, lse);
    }

    public final void crossEntropyBackward(Tensor logits, Tensor labels, Tensor lse, Tensor gloss, Tensor glogits) {
        ArgumentChecks c = checks("crossEntropyBackward");
        sameRows(c, logits, "logits", "glogits", glogits);
        perRow(c, logits, "lse", lse, "gloss", gloss);
        labels(c, logits, labels);
        crossEntropyBackwardImpl(logits, labels, lse, gloss, glogits);
    }

    private static void labels(ArgumentChecks c, Tensor logits, Tensor labels) {
        c.tensor("labels", labels);
        c.numel("labels", labels, ArgumentChecks.rows(logits)).indices("labels", labels, ArgumentChecks.cols(logits), false);
    }

    /** out[i] = weight[idx[i]] for a contiguous F32 table [rows, dim] and I32 or I64 indices in [0, rows). */
    public final void embedding(Tensor weight, Tensor idx, Tensor out) {
        ArgumentChecks c = checks("embedding");
        embeddingArgs(c, weight, "weight", idx, out, "out");
        embeddingImpl(weight, idx, out);
    }

    /** gweight[idx[i]] += gout[i]. */
    public final void embeddingBackward(Tensor gout, Tensor idx, Tensor gweight) {
        ArgumentChecks c = checks("embeddingBackward");
        embeddingArgs(c, gweight, "gweight", idx, gout, "gout");
        embeddingBackwardImpl(gout, idx, gweight);
    }

    private static void embeddingArgs(ArgumentChecks c, Tensor table, String tableName, Tensor idx, Tensor rows, String rowsName) {
        c.tensor(tableName, table);
        c.tensor("idx", idx);
        c.tensor(rowsName, rows);
        c.rank(tableName, table, 2).f32(tableName, table, table.numel()).f32(rowsName, rows, idx.numel() * table.dim(1));
        c.indices("idx", idx, table.dim(0), false);
    }

    /** x[b, i, j] = value where j > i + past, for x [batch, tq, tk] contiguous F32, in place. */
    public final void causalMask(Tensor x, long past, float value) {
        ArgumentChecks c = checks("causalMask");
        c.tensor("x", x);
        c.rank("x", x, 3).f32("x", x, x.numel());
        causalMaskImpl(x, past, value);
    }

    /** The dtypes of keys and values {@link #causalAttention} takes: F32, or F16 (a half-precision KV cache). */
    public static final Set<DType> KV_DTYPES = Set.of(DType.F32, DType.F16);

    /**
     * Causal self-attention: y = softmax(scale q k^T) v with key j hidden from query i when j > i + tk - tq, for F32
     * q [b, h, tq, d] and k, v [b, kvh, tk, d] (tk >= tq: the keys of tk - tq earlier positions come first; kvh divides
     * h, and query head i reads key and value head i / (h / kvh): grouped-query attention), each with non-negative
     * strides and unit stride in d; y is contiguous F32 [b, tq, h, d] (the heads already side by side). k and v are
     * both F32 or both F16 (a half-precision KV cache, widened as read).
     */
    public final void causalAttention(Tensor q, Tensor k, Tensor v, float scale, Tensor y) {
        ArgumentChecks c = checks("causalAttention");
        c.tensor("q", q);
        c.tensor("k", k);
        c.tensor("v", v);
        c.tensor("y", y);
        c.rank("q", q, 4).rank("k", k, 4).rank("v", v, 4).dtype("q", q, DType.F32).dtypeIn("k", k, KV_DTYPES).dtype("v", v, k.dtype());
        long batch = q.dim(0);
        long heads = q.dim(1);
        long tq = q.dim(2);
        long d = q.dim(3);
        long tk = k.dim(2);
        long kvHeads = k.dim(1);
        c.require(heads == 0 ? kvHeads == 0 : kvHeads > 0 && heads % kvHeads == 0,
                () -> "needs key and value heads that divide the query heads, got q " + q.describe() + " and k " + k.describe());
        c.shape("k", k, new long[] {batch, kvHeads, tk, d}).shape("v", v, new long[] {batch, kvHeads, tk, d});
        c.require(tk >= tq, () -> "needs at least as many keys as queries, got q " + q.describe() + " and k " + k.describe());
        for (Tensor t : new Tensor[] {q, k, v}) {
            c.require(Arrays.stream(t.strides()).allMatch(s -> s >= 0) && (d <= 1 || t.strides()[3] == 1),
                    () -> "needs non-negative strides and unit stride in the head dim, got " + t.describe());
        }
        c.shape("y", y, new long[] {batch, tq, heads, d}).dtype("y", y, DType.F32).contiguous("y", y);
        if (y.numel() > 0) {
            causalAttentionImpl(q, k, v, scale, y);
        }
    }

    /** Philox4x32-10 draws into a contiguous F32 y: element i depends only on (seed, offset, i). */
    public final void random(Tensor y, long seed, long offset, boolean normal) {
        ArgumentChecks c = checks("random");
        c.tensor("y", y);
        c.f32("y", y, y.numel());
        randomImpl(y, seed, offset, normal);
    }

    /** Contiguous F32 tensors of x's row structure: each of the named tensors has x's shape. */
    private static void sameRows(ArgumentChecks c, Tensor x, String xName, Object... namedTensors) {
        c.tensor(xName, x);
        c.f32(xName, x, x.numel());
        for (int i = 0; i < namedTensors.length; i += 2) {
            String name = (String) namedTensors[i];
            Tensor t = (Tensor) namedTensors[i + 1];
            c.tensor(name, t);
            c.f32(name, t, x.numel()).shape(name, t, x.shape());
        }
    }

    /** Optional (null) or contiguous F32 tensors of one value per column (x's last dim). */
    private static void perColumn(ArgumentChecks c, Tensor x, Object... namedTensors) {
        for (int i = 0; i < namedTensors.length; i += 2) {
            String name = (String) namedTensors[i];
            Tensor t = c.optional(name, (Tensor) namedTensors[i + 1]);
            c.f32(name, t, ArgumentChecks.cols(x));
        }
    }

    /** Contiguous F32 tensors of one value per row of x. */
    private static void perRow(ArgumentChecks c, Tensor x, Object... namedTensors) {
        for (int i = 0; i < namedTensors.length; i += 2) {
            String name = (String) namedTensors[i];
            Tensor t = c.tensor(name, (Tensor) namedTensors[i + 1]);
            c.f32(name, t, ArgumentChecks.rows(x));
        }
    }

    // ---- optimizer steps -------------------------------------------------------------------------

    /** One fused AdamW step over contiguous F32 buffers of one size (PyTorch semantics). */
    public final void adamw(Tensor p, Tensor g, Tensor m, Tensor v, float lr, float beta1, float beta2, float eps,
                            float weightDecay, float biasCorrection1, float biasCorrection2) {
        ArgumentChecks c = checks("adamw");
        sameSize(c, p, "g", g, "m", m, "v", v);
        adamwImpl(p, g, m, v, lr, beta1, beta2, eps, weightDecay, biasCorrection1, biasCorrection2);
    }

    /** One fused SGD step (PyTorch semantics); buf may be null when momentum is 0. */
    public final void sgd(Tensor p, Tensor g, Tensor buf, float lr, float momentum, float dampening, float weightDecay,
                          boolean nesterov, boolean firstStep) {
        ArgumentChecks c = checks("sgd");
        sameSize(c, p, "g", g);
        momentumBuffer(c, buf, momentum, p.numel());
        sgdImpl(p, g, buf, lr, momentum, dampening, weightDecay, nesterov, firstStep);
    }

    private static void sameSize(ArgumentChecks c, Tensor p, Object... namedTensors) {
        c.tensor("p", p);
        c.f32("p", p, p.numel());
        for (int i = 0; i < namedTensors.length; i += 2) {
            String name = (String) namedTensors[i];
            Tensor t = c.tensor(name, (Tensor) namedTensors[i + 1]);
            c.f32(name, t, p.numel());
        }
    }

    private static void momentumBuffer(ArgumentChecks c, Tensor buf, float momentum, long numel) {
        c.require(buf != null || momentum == 0, () -> "a momentum of " + momentum + " needs a buffer");
        c.optional("buf", buf);
        c.f32("buf", buf, numel);
    }

    // ---- fused kernels of sparse/: masked optimizer steps ------------------------------------------

    /**
     * {@link #adamw} on the entries of p listed in {@code indices} (I32 or I64 [k], sorted, unique, in range)
     * only; the state m and v is compact: slot j belongs to entry indices[j]. g is p's size, or compact like
     * the state (k elements: a gradient computed for the listed entries only), as
     * {@link GradIndices#isCompact} tells. Touches nothing else.
     */
    public final void adamwIndexed(Tensor indices, Tensor p, Tensor g, Tensor m, Tensor v, float lr, float beta1, float beta2,
                                   float eps, float weightDecay, float biasCorrection1, float biasCorrection2) {
        ArgumentChecks c = checks("adamwIndexed");
        indexedArgs(c, indices, p, g, "m", m, "v", v);
        adamwIndexedImpl(indices, p, g, m, v, lr, beta1, beta2, eps, weightDecay, biasCorrection1, biasCorrection2);
    }

    /** {@link #adamw} where the U8 mask (p's size) is 1; elsewhere p, m and v keep their bits. */
    public final void adamwMasked(Tensor mask, Tensor p, Tensor g, Tensor m, Tensor v, float lr, float beta1, float beta2,
                                  float eps, float weightDecay, float biasCorrection1, float biasCorrection2) {
        ArgumentChecks c = checks("adamwMasked");
        sameSize(c, p, "g", g, "m", m, "v", v);
        mask(c, mask, p);
        adamwMaskedImpl(mask, p, g, m, v, lr, beta1, beta2, eps, weightDecay, biasCorrection1, biasCorrection2);
    }

    /** {@link #sgd} on the listed entries only, compact buf (null when momentum is 0), as {@link #adamwIndexed}. */
    public final void sgdIndexed(Tensor indices, Tensor p, Tensor g, Tensor buf, float lr, float momentum, float dampening,
                                 float weightDecay, boolean nesterov, boolean firstStep) {
        ArgumentChecks c = checks("sgdIndexed");
        indexedArgs(c, indices, p, g);
        momentumBuffer(c, buf, momentum, indices.numel());
        sgdIndexedImpl(indices, p, g, buf, lr, momentum, dampening, weightDecay, nesterov, firstStep);
    }

    /** {@link #sgd} where the U8 mask is 1, full-size buf (null when momentum is 0), as {@link #adamwMasked}. */
    public final void sgdMasked(Tensor mask, Tensor p, Tensor g, Tensor buf, float lr, float momentum, float dampening,
                                float weightDecay, boolean nesterov, boolean firstStep) {
        ArgumentChecks c = checks("sgdMasked");
        sameSize(c, p, "g", g);
        momentumBuffer(c, buf, momentum, p.numel());
        mask(c, mask, p);
        sgdMaskedImpl(mask, p, g, buf, lr, momentum, dampening, weightDecay, nesterov, firstStep);
    }

    /** p, the index list over p's elements, g (p's size or compact) and compact state tensors. */
    private static void indexedArgs(ArgumentChecks c, Tensor indices, Tensor p, Tensor g, Object... compactState) {
        c.tensor("p", p);
        c.tensor("g", g);
        c.tensor("indices", indices);
        c.f32("p", p, p.numel()).rank("indices", indices, 1).dtype("g", g, DType.F32).contiguous("g", g);
        c.require(g.numel() == p.numel() || GradIndices.isCompact(indices, g), () -> "g " + g.describe() + " must have p's "
                + p.numel() + " elements or one per index (" + indices.numel() + ")");
        for (int i = 0; i < compactState.length; i += 2) {
            String name = (String) compactState[i];
            Tensor t = c.tensor(name, (Tensor) compactState[i + 1]);
            c.f32(name, t, indices.numel());
        }
        c.indices("indices", indices, p.numel(), true);
    }

    private static void mask(ArgumentChecks c, Tensor mask, Tensor p) {
        c.tensor("mask", mask);
        c.dtype("mask", mask, DType.U8).contiguous("mask", mask).numel("mask", mask, p.numel());
    }

    // ---- fused kernels of fisher/: accumulation, selection, merging, solving ------------------------

    /** sum += (square ? x*x : x) elementwise with Kahan compensation in comp; all contiguous F32 of one size. */
    public final void kahanAccumulate(Tensor x, boolean square, Tensor sum, Tensor comp) {
        ArgumentChecks c = checks("kahanAccumulate");
        c.tensor("x", x);
        c.tensor("sum", sum);
        c.tensor("comp", comp);
        c.f32("x", x, x.numel()).f32("sum", sum, x.numel()).f32("comp", comp, x.numel());
        kahanAccumulateImpl(x, square, sum, comp);
    }

    /**
     * One pass of a radix select over the order-preserving keys of a contiguous F32 tensor: adds to
     * {@code histogram} (2^digitBits bins; 0 bits: one bin, a validation pass) the count of each {@code digitBits}-wide digit at
     * {@code digitShift} among keys whose top {@code prefixBits} equal {@code prefix}. Returns how many
     * elements are NaN, infinite or negative (-0 counts as 0); they are left out of the histogram.
     */
    public final long radixHistogram(Tensor x, long prefix, int prefixBits, int digitShift, int digitBits, long[] histogram) {
        ArgumentChecks c = checks("radixHistogram");
        c.tensor("x", x);
        c.f32("x", x, x.numel());
        c.require(digitBits >= 0 && digitBits <= 24 && digitShift >= 0 && digitShift + digitBits <= 32, () -> "digits of "
                + digitBits + " bits at bit " + digitShift + " do not fit a 32-bit key");
        c.require(prefixBits >= 0 && prefixBits <= 32, () -> "prefixBits must be in [0, 32], got " + prefixBits);
        c.require(histogram.length == 1 << digitBits, () -> "histogram has " + histogram.length + " bins, needs " + (1 << digitBits));
        return radixHistogramImpl(x, prefix, prefixBits, digitShift, digitBits, histogram);
    }

    /**
     * Writes to {@code indices} (I64) and {@code keys} (I32), contiguous and of one length, in increasing
     * index order, the elements of a contiguous F32 tensor whose order-preserving key is above
     * {@code thresholdKey}, and the first {@code equalQuota} whose key equals it, as many as fit. The same
     * pass validates, as {@link #radixHistogram} does.
     */
    public final Selected selectAbove(Tensor x, int thresholdKey, long equalQuota, Tensor indices, Tensor keys) {
        ArgumentChecks c = checks("selectAbove");
        c.tensor("x", x);
        c.tensor("indices", indices);
        c.tensor("keys", keys);
        c.f32("x", x, x.numel()).dtype("indices", indices, DType.I64).contiguous("indices", indices);
        c.dtype("keys", keys, DType.I32).contiguous("keys", keys).numel("keys", keys, indices.numel());
        c.require(equalQuota >= 0, () -> "equalQuota must be >= 0, got " + equalQuota);
        return selectAboveImpl(x, thresholdKey, equalQuota, indices, keys);
    }

    /** What {@link #selectAbove} found: entries written, entries that qualify (may exceed room), invalid elements. */
    public record Selected(long written, long qualifying, long invalid) {}

    /**
     * out = sum_m w_m d_m theta_m / sum_m w_m d_m with d_m = max(scale_m F_m, floor), one fused pass; all
     * tensors contiguous F32 of out's size, one weight and one scale per model.
     */
    public final void fisherMerge(Tensor[] thetas, Tensor[] fishers, float[] weights, float[] scales, float floor, Tensor out) {
        ArgumentChecks c = checks("fisherMerge");
        c.tensor("out", out);
        c.f32("out", out, out.numel());
        int models = thetas.length;
        c.require(models > 0 && fishers.length == models && weights.length == models && scales.length == models, () -> "needs as many"
                + " thetas, Fishers, weights and scales (at least one), got " + models + ", " + fishers.length + ", "
                + weights.length + ", " + scales.length);
        for (int m = 0; m < models; m++) {
            c.tensor("thetas[" + m + "]", thetas[m]);
            c.tensor("fishers[" + m + "]", fishers[m]);
            c.f32("thetas[" + m + "]", thetas[m], out.numel()).f32("fishers[" + m + "]", fishers[m], out.numel());
        }
        fisherMergeImpl(thetas, fishers, weights, scales, floor, out);
    }

    /**
     * Solves a x = b in place for symmetric positive definite a [n, n] and b [n, k] (contiguous F32): b
     * becomes x and a its Cholesky factor. Throws if a is not positive definite.
     */
    public final void solvePositiveDefinite(Tensor a, Tensor b) {
        ArgumentChecks c = checks("solvePositiveDefinite");
        c.tensor("a", a);
        c.tensor("b", b);
        c.rank("a", a, 2).rank("b", b, 2).f32("a", a, a.numel()).f32("b", b, b.numel());
        c.require(a.dim(0) == a.dim(1) && b.dim(0) == a.dim(0), () -> "needs a [n, n] and b [n, k], got " + a.describe() + " and "
                + b.describe());
        solvePositiveDefiniteImpl(a, b);
    }

    // ---- fused kernels of pipeline/: int8 ---------------------------------------------------------

    /**
     * Blockwise absmax int8: scales[b] = max |x| / 127 over block b of the flat contiguous F32 x, codes =
     * round(x / scale) as I8 (x's size), scales F32 [ceil(n / block)]. Throws if x holds a non-finite value.
     */
    public final void quantizeBlockwise(Tensor x, int block, Tensor codes, Tensor scales) {
        ArgumentChecks c = checks("quantizeBlockwise");
        blockwiseArgs(c, codes, scales, block, "x", x);
        quantizeBlockwiseImpl(x, block, codes, scales);
    }

    /** y = codes * scales[block], the inverse of {@link #quantizeBlockwise} up to rounding. */
    public final void dequantizeBlockwise(Tensor codes, Tensor scales, int block, Tensor y) {
        ArgumentChecks c = checks("dequantizeBlockwise");
        blockwiseArgs(c, codes, scales, block, "y", y);
        dequantizeBlockwiseImpl(codes, scales, block, y);
    }

    private static void blockwiseArgs(ArgumentChecks c, Tensor codes, Tensor scales, int block, String valuesName, Tensor values) {
        c.tensor(valuesName, values);
        c.tensor("codes", codes);
        c.tensor("scales", scales);
        c.require(block > 0, () -> "block must be positive, got " + block);
        c.f32(valuesName, values, values.numel()).dtype("codes", codes, DType.I8).contiguous("codes", codes)
                .numel("codes", codes, values.numel()).f32("scales", scales, Math.ceilDiv(values.numel(), block));
    }

    /**
     * Flags (U8 [cols], 1 or 0) the columns of a contiguous F32 [rows, cols] x where some |x| exceeds
     * threshold, and returns how many: the activation outliers of LLM.int8.
     */
    public final long outlierColumns(Tensor x, float threshold, Tensor flags) {
        ArgumentChecks c = checks("outlierColumns");
        c.tensor("x", x);
        c.tensor("flags", flags);
        c.f32("x", x, x.numel()).dtype("flags", flags, DType.U8).contiguous("flags", flags)
                .numel("flags", flags, ArgumentChecks.cols(x));
        return outlierColumnsImpl(x, threshold, flags);
    }

    /** The dtypes of x {@link #quantizeRows} takes as they are stored. */
    public static final Set<DType> QUANTIZE_ROWS_TYPES = Set.of(DType.F32, DType.BF16, DType.F16);

    /**
     * Per-row int8 quantization of a contiguous F32, BF16 or F16 [rows, cols] x: scales[r] = max |x[r, c]| / 127 over
     * the columns not flagged in exclude (U8 [cols], or null), codes = round(x / scale) as I8 (0 in flagged
     * columns). A BF16 or F16 x gets the codes and scales of its F32 copy. Throws if x holds a non-finite value.
     */
    public final void quantizeRows(Tensor x, Tensor exclude, Tensor codes, Tensor scales) {
        ArgumentChecks c = checks("quantizeRows");
        c.tensor("x", x);
        c.optional("exclude", exclude);
        c.tensor("codes", codes);
        c.tensor("scales", scales);
        c.dtypeIn("x", x, QUANTIZE_ROWS_TYPES).contiguous("x", x).dtype("exclude", exclude, DType.U8)
                .contiguous("exclude", exclude).numel("exclude", exclude, ArgumentChecks.cols(x));
        c.dtype("codes", codes, DType.I8).contiguous("codes", codes).numel("codes", codes, x.numel())
                .f32("scales", scales, ArgumentChecks.rows(x));
        if (x.dtype() != DType.F32) {
            quantizeRowsHalfImpl(x, exclude, codes, scales);
        } else {
            quantizeRowsImpl(x, exclude, codes, scales);
        }
    }

    /** The weight dtypes {@link #matmulHalfWeight} takes. */
    public static final Set<DType> HALF_WEIGHT_TYPES = Set.of(DType.BF16, DType.F16);

    /**
     * y [m, n] = x [m, k] W with W's BF16 or F16 values used as they are stored (no F32 copy of the weight kept): W is
     * [n, k] (output-major, torch.nn.Linear) or, with {@code inputMajor}, [k, n] (GPT-2's Conv1D). x, W and y
     * contiguous; x and y F32; each product exact, the sums F32. A half-precision weight read at half the bytes of F32:
     * decoding is bound by reading the weights.
     */
    public final void matmulHalfWeight(Tensor x, Tensor w, boolean inputMajor, Tensor y) {
        checkHalfProduct("matmulHalfWeight", x, w, HALF_WEIGHT_TYPES, inputMajor, y);
        matmulHalfWeightImpl(x, w, inputMajor, y);
    }

    /**
     * {@link #matmulHalfWeight} of a BF16 W with x rounded to BF16 first (to nearest even, as {@code
     * tensor.to(torch.bfloat16)}): y = bf16(x) W, each product exact and the sums F32, the arithmetic of PyTorch's BF16
     * models. Opt-in, because each activation loses up to 2^-9 of its value; in exchange, on CPUs with AVX-512 BF16,
     * products of more than 16 rows run on {@code vdpbf16ps}, two multiply-adds per F32 lane per instruction.
     */
    public final void matmulBf16Rounded(Tensor x, Tensor w, boolean inputMajor, Tensor y) {
        checkHalfProduct("matmulBf16Rounded", x, w, Set.of(DType.BF16), inputMajor, y);
        matmulBf16RoundedImpl(x, w, inputMajor, y);
    }

    private void checkHalfProduct(String op, Tensor x, Tensor w, Set<DType> weightTypes, boolean inputMajor, Tensor y) {
        ArgumentChecks c = checks(op);
        c.tensor("x", x);
        c.tensor("w", w);
        c.tensor("y", y);
        c.rank("x", x, 2).f32("x", x, x.numel());
        c.rank("w", w, 2).dtypeIn("w", w, weightTypes).contiguous("w", w);
        long k = x.dim(1);
        long n = w.dim(inputMajor ? 1 : 0);
        c.require(w.dim(inputMajor ? 0 : 1) == k, () -> "w " + w.describe() + " must be "
                + (inputMajor ? "[" + k + ", n]" : "[n, " + k + "]") + " for x " + x.describe());
        c.require(Math.max(k, Math.max(n, x.dim(0))) <= Integer.MAX_VALUE, () -> "dims above 2^31-1 are not supported (" + x.describe()
                + " @ " + w.describe() + ")");
        c.f32("y", y, x.dim(0) * n);
    }

    /** The most columns {@link #matmulQ8} takes: int32 sums of k products of 127 * 127 must not overflow. */
    public static final long MAX_Q8_COLUMNS = 65536;

    /**
     * y [m, n] = (xCodes [m, k] . wCodes [n, k]^T) * xScales[m] * wScales[n] + bias[n] (bias may be null),
     * with exact int32 dot products (k <= {@link #MAX_Q8_COLUMNS}). All contiguous; codes I8, the rest F32.
     */
    public final void matmulQ8(Tensor xCodes, Tensor xScales, Tensor wCodes, Tensor wScales, Tensor bias, Tensor y) {
        ArgumentChecks c = checks("matmulQ8");
        c.tensor("xCodes", xCodes);
        c.tensor("xScales", xScales);
        c.optional("bias", bias);
        c.rank("xCodes", xCodes, 2).dtype("xCodes", xCodes, DType.I8).contiguous("xCodes", xCodes);
        long m = xCodes.dim(0);
        long k = xCodes.dim(1);
        long n = int8Weight(c, wCodes, wScales, k);
        c.f32("xScales", xScales, m).f32("bias", bias, n);
        int8Output(c, y, m, n);
        matmulQ8Impl(xCodes, xScales, wCodes, wScales, bias, y);
    }

    /** y [m, n] += x[:, columns] . (wCodes[:, columns] * wScales)^T in F32 (columns I64 in [0, k)): LLM.int8's outlier part. */
    public final void matmulQ8Outliers(Tensor x, Tensor columns, Tensor wCodes, Tensor wScales, Tensor y) {
        ArgumentChecks c = checks("matmulQ8Outliers");
        c.tensor("x", x);
        c.tensor("columns", columns);
        c.rank("x", x, 2).f32("x", x, x.numel());
        long n = int8Weight(c, wCodes, wScales, x.dim(1));
        c.dtype("columns", columns, DType.I64).rank("columns", columns, 1).indices("columns", columns, x.dim(1), false);
        int8Output(c, y, x.dim(0), n);
        matmulQ8OutliersImpl(x, columns, wCodes, wScales, y);
    }

    /** Checks an int8 weight [n, k] and its F32 scales [n]; returns n. */
    private static long int8Weight(ArgumentChecks c, Tensor wCodes, Tensor wScales, long k) {
        c.tensor("wCodes", wCodes);
        c.tensor("wScales", wScales);
        c.rank("wCodes", wCodes, 2).dtype("wCodes", wCodes, DType.I8).contiguous("wCodes", wCodes);
        c.require(wCodes.dim(1) == k, () -> "wCodes " + wCodes.describe() + " must have " + k + " columns");
        c.require(k <= MAX_Q8_COLUMNS, () -> k + " columns exceed the int8 GEMM's limit of " + MAX_Q8_COLUMNS);
        c.f32("wScales", wScales, wCodes.dim(0));
        return wCodes.dim(0);
    }

    private static void int8Output(ArgumentChecks c, Tensor y, long m, long n) {
        c.tensor("y", y);
        c.f32("y", y, m * n);
    }

    // ---- fused ops as composites of the core ops: defaults a backend may override with one kernel -----

    /*
     * The fused optimizer and Fisher ops written with unary/binary/copy/fill, so a new backend can start
     * with the core op set; the CPU and CUDA backends override each with one fused pass (several times
     * less memory traffic). Same formulas as kernels/include/tessera/, rounded per op instead of fused.
     */

    /** A contiguous tensor seen as 1-D (the composites below treat their arguments as flat arrays). */
    private static Tensor flat(Tensor t) {
        return t.view(new long[] {t.numel()}, new long[] {1}, t.offset());
    }

    private Tensor scratch(long n) {
        return Tensor.empty(device(), DType.F32, n);
    }

    /** y = a * x + y, flat F32 of one size. */
    private void axpy(float a, Tensor x, Tensor y, Tensor scratch) {
        unary(Ops.Unary.MUL_SCALAR, a, x, scratch);
        binary(Ops.Binary.ADD, y, scratch, y);
    }

    /** {@link #quantizeRows} of a BF16 or F16 x as its F32 copy's; a backend overrides it to read x in place. */
    protected void quantizeRowsHalfImpl(Tensor x, Tensor exclude, Tensor codes, Tensor scales) {
        try (TensorScope _ = TensorScope.open()) {
            Tensor wide = Tensor.empty(device(), DType.F32, x.shape());
            copy(x, wide);
            quantizeRowsImpl(wide, exclude, codes, scales);
        }
    }

    /** {@link #matmulHalfWeight} as an F32 copy of the weight and a matmul; a backend overrides it to read W in place. */
    protected void matmulHalfWeightImpl(Tensor x, Tensor w, boolean inputMajor, Tensor y) {
        try (TensorScope _ = TensorScope.open()) {
            Tensor wf = Tensor.empty(device(), DType.F32, w.shape());
            copy(w, wf);
            matmul(x, inputMajor ? wf : wf.t(), y.reshape(x.dim(0), w.dim(inputMajor ? 1 : 0)));
        }
    }

    /** {@link #matmulBf16Rounded} as x rounded through a BF16 copy, then {@link #matmulHalfWeightImpl}. */
    protected void matmulBf16RoundedImpl(Tensor x, Tensor w, boolean inputMajor, Tensor y) {
        try (TensorScope _ = TensorScope.open()) {
            Tensor rounded = Tensor.empty(device(), DType.BF16, x.shape());
            copy(x, rounded);
            Tensor widened = Tensor.empty(device(), DType.F32, x.shape());
            copy(rounded, widened);
            matmulHalfWeightImpl(widened, w, inputMajor, y);
        }
    }

    protected void adamwImpl(Tensor p, Tensor g, Tensor m, Tensor v, float lr, float beta1, float beta2, float eps,
                             float weightDecay, float biasCorrection1, float biasCorrection2) {
        Tensor pf = flat(p);
        Tensor gf = flat(g);
        Tensor mf = flat(m);
        Tensor vf = flat(v);
        try (TensorScope _ = TensorScope.open()) {
            Tensor t = scratch(p.numel());
            Tensor denom = scratch(p.numel());
            axpy(-lr * weightDecay, pf, pf, t); // decoupled weight decay on the old parameter
            unary(Ops.Unary.MUL_SCALAR, beta1, mf, mf);
            axpy(1 - beta1, gf, mf, t);
            binary(Ops.Binary.MUL, gf, gf, denom);
            unary(Ops.Unary.MUL_SCALAR, beta2, vf, vf);
            axpy(1 - beta2, denom, vf, t);
            unary(Ops.Unary.SQRT, 0, vf, denom);
            unary(Ops.Unary.MUL_SCALAR, (float) (1 / Math.sqrt(biasCorrection2)), denom, denom);
            unary(Ops.Unary.ADD_SCALAR, eps, denom, denom);
            binary(Ops.Binary.DIV, mf, denom, t);
            axpy(-lr / biasCorrection1, t, pf, denom);
        }
    }

    protected void sgdImpl(Tensor p, Tensor g, Tensor buf, float lr, float momentum, float dampening, float weightDecay,
                           boolean nesterov, boolean firstStep) {
        Tensor pf = flat(p);
        try (TensorScope _ = TensorScope.open()) {
            Tensor d = scratch(p.numel());
            Tensor t = scratch(p.numel());
            copy(flat(g), d);
            if (weightDecay != 0) {
                axpy(weightDecay, pf, d, t);
            }
            if (buf != null) {
                Tensor b = flat(buf);
                if (firstStep) {
                    copy(d, b);
                } else {
                    unary(Ops.Unary.MUL_SCALAR, momentum, b, b);
                    axpy(1 - dampening, d, b, t);
                }
                if (nesterov) {
                    axpy(momentum, b, d, t);
                } else {
                    copy(b, d);
                }
            }
            axpy(-lr, d, pf, t);
        }
    }

    protected void kahanAccumulateImpl(Tensor x, boolean square, Tensor sum, Tensor comp) {
        Tensor s = flat(sum);
        Tensor c = flat(comp);
        try (TensorScope _ = TensorScope.open()) {
            Tensor y = scratch(x.numel());
            Tensor t = scratch(x.numel());
            if (square) {
                binary(Ops.Binary.MUL, flat(x), flat(x), y);
            } else {
                copy(flat(x), y);
            }
            binary(Ops.Binary.SUB, y, c, y); // y = v - comp
            binary(Ops.Binary.ADD, s, y, t); // t = sum + y
            binary(Ops.Binary.SUB, t, s, c);
            binary(Ops.Binary.SUB, c, y, c); // comp = (t - sum) - y
            copy(t, s);
        }
    }

    protected void fisherMergeImpl(Tensor[] thetas, Tensor[] fishers, float[] weights, float[] scales, float floor, Tensor out) {
        long n = out.numel();
        Tensor o = flat(out);
        try (TensorScope _ = TensorScope.open()) {
            Tensor floors = scratch(n);
            fill(floors, floor);
            Tensor den = scratch(n);
            fill(den, 0);
            Tensor[] d = new Tensor[thetas.length];
            for (int m = 0; m < thetas.length; m++) { // d_m = w_m max(s_m F_m, floor)
                d[m] = scratch(n);
                unary(Ops.Unary.MUL_SCALAR, scales[m], flat(fishers[m]), d[m]);
                binary(Ops.Binary.MAXIMUM, d[m], floors, d[m]);
                unary(Ops.Unary.MUL_SCALAR, weights[m], d[m], d[m]);
                binary(Ops.Binary.ADD, den, d[m], den);
            }
            fill(o, 0);
            for (int m = 0; m < thetas.length; m++) { // out = sum_m d_m / den * theta_m
                binary(Ops.Binary.DIV, d[m], den, d[m]);
                binary(Ops.Binary.MUL, d[m], flat(thetas[m]), d[m]);
                binary(Ops.Binary.ADD, o, d[m], o);
            }
        }
    }

    /**
     * {@link #causalAttention} as matmul, scale, causal mask, softmax, matmul and a copy into y's layout, all over
     * [batch, kvHeads, group, ...]: q's heads split by key head, k and v repeated over each group at stride 0.
     */
    protected void causalAttentionImpl(Tensor q, Tensor k, Tensor v, float scale, Tensor y) {
        if (k.dtype() != DType.F32) {
            try (TensorScope _ = TensorScope.open()) {
                causalAttentionImpl(q, k.to(DType.F32), v.to(DType.F32), scale, y);
            }
            return;
        }
        long batch = q.dim(0);
        long heads = q.dim(1);
        long kvHeads = k.dim(1);
        long group = heads / kvHeads;
        long tq = q.dim(2);
        long tk = k.dim(2);
        long d = q.dim(3);
        long[] qs = q.strides();
        Tensor groupedQ = q.view(new long[] {batch, kvHeads, group, tq, d}, new long[] {qs[0], qs[1] * group, qs[1], qs[2], qs[3]},
                q.offset());
        try (TensorScope _ = TensorScope.open()) {
            Tensor scores = Tensor.empty(device(), DType.F32, batch, kvHeads, group, tq, tk);
            matmul(groupedQ, repeatedOverGroup(k, group).transpose(-1, -2), scores);
            unary(Ops.Unary.MUL_SCALAR, scale, scores, scores);
            causalMask(scores.view(new long[] {batch * heads, tq, tk}, Shapes.contiguousStrides(new long[] {batch * heads, tq, tk}), 0),
                    tk - tq, Float.NEGATIVE_INFINITY);
            Tensor probabilities = Tensor.empty(device(), DType.F32, batch, kvHeads, group, tq, tk);
            softmax(scores, probabilities, false);
            Tensor attended = Tensor.empty(device(), DType.F32, batch, kvHeads, group, tq, d);
            matmul(probabilities, repeatedOverGroup(v, group), attended);
            long[] perHead = {batch, heads, tq, d};
            copy(attended.view(perHead, Shapes.contiguousStrides(perHead), attended.offset()).transpose(1, 2), y);
        }
    }

    /** t [batch, kvHeads, n, d] as [batch, kvHeads, group, n, d], each key head's rows repeated at stride 0. */
    private static Tensor repeatedOverGroup(Tensor t, long group) {
        long[] s = t.strides();
        return t.view(new long[] {t.dim(0), t.dim(1), group, t.dim(2), t.dim(3)}, new long[] {s[0], s[1], 0, s[2], s[3]}, t.offset());
    }

    // ---- what each backend implements, called with checked arguments only ------------------------

    protected abstract Storage allocateImpl(long bytes);

    protected abstract void writeImpl(Tensor dst, MemorySegment src);

    protected abstract void readImpl(Tensor src, MemorySegment dst);

    protected abstract void copyImpl(Tensor src, Tensor dst);

    protected abstract void fillImpl(Tensor dst, double value);

    protected abstract void unaryImpl(Ops.Unary op, float alpha, Tensor x, Tensor y);

    protected abstract void binaryImpl(Ops.Binary op, Tensor a, Tensor b, Tensor y);

    protected abstract void compareImpl(Ops.Compare op, Tensor a, Tensor b, Tensor y);

    protected abstract void whereImpl(Tensor cond, Tensor a, Tensor b, Tensor y);

    protected abstract void reduceImpl(Ops.Reduce op, Tensor x, int[] dims, Tensor y);

    protected abstract void matmulImpl(Tensor a, Tensor b, Tensor y);

    protected abstract void sampledMatmulImpl(Tensor a, Tensor b, Tensor indices, Tensor y);

    protected abstract void softmaxImpl(Tensor x, Tensor y, boolean log);

    protected abstract void softmaxBackwardImpl(Tensor y, Tensor gy, Tensor gx, boolean log);

    protected abstract void layerNormImpl(Tensor x, Tensor w, Tensor b, float eps, Tensor y, Tensor mean, Tensor rstd);

    protected abstract void layerNormBackwardImpl(Tensor x, Tensor w, Tensor mean, Tensor rstd, Tensor gy, Tensor gx, Tensor gw,
                                                  Tensor gb);

    protected abstract void rmsNormImpl(Tensor x, Tensor w, float eps, Tensor y, Tensor rstd);

    protected abstract void rmsNormBackwardImpl(Tensor x, Tensor w, Tensor rstd, Tensor gy, Tensor gx, Tensor gw);

    protected abstract void ropeImpl(Tensor x, Tensor cos, Tensor sin, Tensor pos, boolean inverse, Tensor y);

    protected abstract void crossEntropyImpl(Tensor logits, Tensor labels, Tensor loss, Tensor lse);

    protected abstract void crossEntropyBackwardImpl(Tensor logits, Tensor labels, Tensor lse, Tensor gloss, Tensor glogits);

    protected abstract void embeddingImpl(Tensor weight, Tensor idx, Tensor out);

    protected abstract void embeddingBackwardImpl(Tensor gout, Tensor idx, Tensor gweight);

    protected abstract void causalMaskImpl(Tensor x, long past, float value);

    protected abstract void randomImpl(Tensor y, long seed, long offset, boolean normal);



    protected abstract void adamwIndexedImpl(Tensor indices, Tensor p, Tensor g, Tensor m, Tensor v, float lr, float beta1,
                                             float beta2, float eps, float weightDecay, float biasCorrection1,
                                             float biasCorrection2);

    protected abstract void adamwMaskedImpl(Tensor mask, Tensor p, Tensor g, Tensor m, Tensor v, float lr, float beta1, float beta2,
                                            float eps, float weightDecay, float biasCorrection1, float biasCorrection2);

    protected abstract void sgdIndexedImpl(Tensor indices, Tensor p, Tensor g, Tensor buf, float lr, float momentum,
                                           float dampening, float weightDecay, boolean nesterov, boolean firstStep);

    protected abstract void sgdMaskedImpl(Tensor mask, Tensor p, Tensor g, Tensor buf, float lr, float momentum, float dampening,
                                          float weightDecay, boolean nesterov, boolean firstStep);


    protected abstract long radixHistogramImpl(Tensor x, long prefix, int prefixBits, int digitShift, int digitBits,
                                               long[] histogram);

    protected abstract Selected selectAboveImpl(Tensor x, int thresholdKey, long equalQuota, Tensor indices, Tensor keys);


    protected abstract void solvePositiveDefiniteImpl(Tensor a, Tensor b);

    protected abstract void quantizeBlockwiseImpl(Tensor x, int block, Tensor codes, Tensor scales);

    protected abstract void dequantizeBlockwiseImpl(Tensor codes, Tensor scales, int block, Tensor y);

    protected abstract long outlierColumnsImpl(Tensor x, float threshold, Tensor flags);

    protected abstract void quantizeRowsImpl(Tensor x, Tensor exclude, Tensor codes, Tensor scales);

    protected abstract void matmulQ8Impl(Tensor xCodes, Tensor xScales, Tensor wCodes, Tensor wScales, Tensor bias, Tensor y);

    protected abstract void matmulQ8OutliersImpl(Tensor x, Tensor columns, Tensor wCodes, Tensor wScales, Tensor y);
}
