package io.tessera.engine;

import io.tessera.engine.autograd.GradMode;
import io.tessera.engine.autograd.GradientTap;
import io.tessera.engine.autograd.Node;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;

/**
 * An n-dimensional view (shape, strides in elements, offset, dtype) over a {@link Storage}. Views
 * (reshape, transpose, slice, expand, detach) share the storage; no op mutates a tensor's values except the
 * explicitly in-place optimizer kernels. One tensor over a storage owns it: the one the storage was
 * allocated for (an op's result, or a view the op handed its buffer to). Closing the owner frees the
 * storage, so every view of it becomes unusable; closing a view closes only that view. Usually a
 * {@link TensorScope} does the freeing.
 *
 * <p>Differentiable ops record a {@link Node} when grad mode is on and an input requires grad;
 * {@link #backward()} runs the tape. Compute ops take F32; other dtypes convert with {@link #to}.
 */
public final class Tensor implements AutoCloseable {
    static final int MAX_DIMS = 8;

    private final Storage storage;
    private final Ownership ownership;
    private volatile boolean closed;
    private final DType dtype;
    private final long[] shape;
    private final long[] strides;
    private final long offset;
    private final long numel;

    private boolean requiresGrad;
    private boolean retainsGrad;
    private Tensor grad;
    private Tensor gradIndices;
    private Node gradFn;

    /**
     * Which of the tensors over one storage frees it when closed; shared by the tensor the storage was
     * allocated for and all views of it.
     */
    private static final class Ownership {
        volatile Tensor owner;
    }

    /** A tensor that owns {@code storage}. */
    private Tensor(Storage storage, DType dtype, long[] shape, long[] strides, long offset) {
        this(storage, new Ownership(), dtype, shape, strides, offset);
        ownership.owner = this;
    }

    private Tensor(Storage storage, Ownership ownership, DType dtype, long[] shape, long[] strides, long offset) {
        if (shape.length > MAX_DIMS) {
            throw new IllegalArgumentException("tensors have at most " + MAX_DIMS + " dims, got shape " + Arrays.toString(shape));
        }
        this.storage = storage;
        this.ownership = ownership;
        this.dtype = dtype;
        this.shape = shape;
        this.strides = strides;
        this.offset = offset;
        this.numel = Shapes.numel(shape);
    }

    // ---- creation ------------------------------------------------------------------------------

    /** A new contiguous tensor with uninitialised values. */
    public static Tensor empty(DType dtype, long... shape) {
        return empty(Device.CPU, dtype, shape);
    }

    /** A new contiguous tensor with uninitialised values on {@code device}. */
    public static Tensor empty(Device device, DType dtype, long... shape) {
        Shapes.checkShape(shape);
        long numel = Shapes.numel(shape);
        Storage storage = backendFor(device).allocate(Math.multiplyExact(numel, (long) dtype.byteSize()));
        return new Tensor(storage, dtype, shape.clone(), Shapes.contiguousStrides(shape), 0);
    }

    /**
     * A contiguous tensor over the start of an existing storage (e.g. a slice of a memory-mapped file
     * wrapped by {@link HostStorage#wrap}), which it owns: closing it closes the storage. The storage must
     * hold at least the tensor's bytes.
     */
    public static Tensor over(Storage storage, DType dtype, long... shape) {
        Shapes.checkShape(shape);
        long bytes = Math.multiplyExact(Shapes.numel(shape), (long) dtype.byteSize());
        if (bytes > storage.byteSize()) {
            throw new IllegalArgumentException(dtype + Arrays.toString(shape) + " needs " + bytes + " bytes but the storage holds "
                    + storage.byteSize());
        }
        return new Tensor(storage, dtype, shape.clone(), Shapes.contiguousStrides(shape), 0);
    }

    public static Tensor full(double value, DType dtype, long... shape) {
        return full(Device.CPU, value, dtype, shape);
    }

    public static Tensor full(Device device, double value, DType dtype, long... shape) {
        Tensor t = empty(device, dtype, shape);
        t.backend().fill(t, value);
        return t;
    }

    public static Tensor zeros(long... shape) {
        return full(0, DType.F32, shape);
    }

    /** F32 zeros on {@code device}. */
    public static Tensor zeros(Device device, long... shape) {
        return full(device, 0, DType.F32, shape);
    }

    public static Tensor zeros(DType dtype, long... shape) {
        return full(0, dtype, shape);
    }

    public static Tensor ones(long... shape) {
        return full(1, DType.F32, shape);
    }

    /** A zero-dimensional F32 tensor. */
    public static Tensor scalar(float value) {
        return full(value, DType.F32);
    }

    /** 0, 1, ..., n-1 as F32. */
    public static Tensor arange(long n) {
        float[] values = new float[Math.toIntExact(n)];
        for (int i = 0; i < values.length; i++) {
            values[i] = i;
        }
        return of(values, n);
    }

    public static Tensor of(float[] data, long... shape) {
        return fromHost(MemorySegment.ofArray(data), data.length, DType.F32, shape);
    }

    public static Tensor of(int[] data, long... shape) {
        return fromHost(MemorySegment.ofArray(data), data.length, DType.I32, shape);
    }

    public static Tensor of(long[] data, long... shape) {
        return fromHost(MemorySegment.ofArray(data), data.length, DType.I64, shape);
    }

    /** Raw bytes of any dtype (little-endian), e.g. U8 images or BF16 bits. */
    public static Tensor ofBytes(byte[] data, DType dtype, long... shape) {
        if (data.length % dtype.byteSize() != 0) {
            throw new IllegalArgumentException(data.length + " bytes are not a whole number of " + dtype + " elements");
        }
        return fromHost(MemorySegment.ofArray(data), data.length / dtype.byteSize(), dtype, shape);
    }

    private static Tensor fromHost(MemorySegment data, long count, DType dtype, long[] shape) {
        Shapes.checkShape(shape);
        if (Shapes.numel(shape) != count) {
            throw new IllegalArgumentException("shape " + Arrays.toString(shape) + " holds " + Shapes.numel(shape)
                    + " elements but " + count + " values were given");
        }
        Tensor t = empty(dtype, shape);
        t.backend().write(t, data);
        return t;
    }

    /** Uniform [0, 1) F32 values from Philox4x32-10; identical on every backend for the same (seed, offset). */
    public static Tensor rand(long seed, long offset, long... shape) {
        return rand(Device.CPU, seed, offset, shape);
    }

    /** The same draws as {@link #rand(long, long, long...)}, made on {@code device}. */
    public static Tensor rand(Device device, long seed, long offset, long... shape) {
        Tensor t = empty(device, DType.F32, shape);
        t.backend().random(t, seed, offset, false);
        return t;
    }

    /** Standard normal F32 values from Philox4x32-10 (Box-Muller). */
    public static Tensor randn(long seed, long offset, long... shape) {
        return randn(Device.CPU, seed, offset, shape);
    }

    /** The same draws as {@link #randn(long, long, long...)}, made on {@code device}. */
    public static Tensor randn(Device device, long seed, long offset, long... shape) {
        Tensor t = empty(device, DType.F32, shape);
        t.backend().random(t, seed, offset, true);
        return t;
    }

    // ---- metadata ------------------------------------------------------------------------------

    public long[] shape() {
        return shape.clone();
    }

    public long dim(int d) {
        return shape[Shapes.normalizeDim(d, shape.length)];
    }

    public int rank() {
        return shape.length;
    }

    public long numel() {
        return numel;
    }

    public DType dtype() {
        return dtype;
    }

    public Device device() {
        return storage.device();
    }

    public long[] strides() {
        return strides.clone();
    }

    /** Offset of the first element in the storage, in elements. */
    public long offset() {
        return offset;
    }

    public Storage storage() {
        if (isClosed()) {
            throw new IllegalStateException("tensor " + describe() + " is closed");
        }
        return storage;
    }

    /** Whether this tensor was closed, or the storage it views was freed (by its owner or scope). */
    public boolean isClosed() {
        return closed || storage.isClosed();
    }

    /** Whether closing this tensor frees its storage (false for a view of a tensor that owns it). */
    private boolean ownsStorage() {
        return ownership.owner == this;
    }

    /**
     * Makes this tensor the owner of its storage, the one whose {@link #close()} frees it; the previous
     * owner then closes only itself. For an op that returns a view of a buffer it allocated (so that
     * closing the result frees the buffer), and for {@link TensorScope#keep}. Returns this.
     */
    Tensor takeOwnership() {
        ownership.owner = this;
        return this;
    }

    public boolean isContiguous() {
        return Shapes.isContiguous(shape, strides);
    }

    /** dtype, shape and device, e.g. "f32[64, 784] on cpu". */
    public String describe() {
        return dtype + Arrays.toString(shape) + " on " + storage.device();
    }

    /** The backend of this tensor's device, for modules that add kernels of their own (throws if closed). */
    public Backend backend() {
        storage();
        return backendFor(storage.device());
    }

    static Backend backendFor(Device device) {
        return Backends.of(device);
    }

    // ---- autograd state ------------------------------------------------------------------------

    public boolean requiresGrad() {
        return requiresGrad;
    }

    /** Marks a leaf tensor as a parameter whose gradient {@link #backward()} accumulates into {@link #grad()}. */
    public Tensor requiresGrad(boolean value) {
        if (value && !dtype.isFloatingPoint()) {
            throw new IllegalArgumentException("only floating-point tensors can require grad, not " + describe());
        }
        if (gradFn != null && !value) {
            throw new IllegalStateException("cannot turn off requiresGrad of a non-leaf tensor; use detach()");
        }
        requiresGrad = value;
        return this;
    }

    /**
     * Makes {@link #backward()} also store this non-leaf tensor's gradient in {@link #grad()} (like
     * torch's retain_grad), e.g. a layer's output gradient for per-example Fisher information.
     */
    public Tensor retainGrad() {
        if (!requiresGrad) {
            throw new IllegalStateException("retainGrad() on " + describe() + ", which does not require grad");
        }
        retainsGrad = true;
        return this;
    }

    public boolean retainsGrad() {
        return retainsGrad;
    }

    /** The accumulated gradient of a leaf tensor (or one that retains it), or null before any backward pass. */
    public Tensor grad() {
        return grad;
    }

    public void setGrad(Tensor grad) {
        if (grad != null && !Arrays.equals(grad.shape, gradShape())) {
            throw new IllegalArgumentException("gradient " + grad.describe() + " does not match " + describe()
                    + (gradIndices == null ? "" : " restricted to " + gradIndices.numel() + " entries"));
        }
        this.grad = grad;
    }

    /**
     * Keeps only the gradient of the listed entries of this leaf: {@link #grad()} then holds a compact 1-D
     * tensor whose element j is the gradient of flat entry {@code indices[j]}, as a masked optimizer's index
     * form reads it. {@link #linear} computes such a weight's gradient at those entries only (an SDDMM,
     * k * rows multiply-adds instead of a full GEMM); any other op computes the full gradient, which is
     * then reduced to the listed entries. {@code indices}: I32 or I64, 1-D, sorted, unique, in range, on
     * this tensor's device; null lifts the restriction. The tensor must not hold a gradient when this
     * changes. Returns this.
     */
    public Tensor restrictGrad(Tensor indices) {
        if (gradFn != null) {
            throw new IllegalStateException("restrictGrad() on " + describe() + ", which is not a leaf");
        }
        if (grad != null) {
            throw new IllegalStateException("restrictGrad() on " + describe() + ", which holds a gradient; zeroGrad() first");
        }
        if (indices != null) {
            GradIndices.check(this, indices);
        }
        this.gradIndices = indices;
        return this;
    }

    /** The entries {@link #restrictGrad} keeps the gradient of, or null when the whole gradient is kept. */
    public Tensor gradIndices() {
        return gradIndices;
    }

    /** What {@link #grad()} is shaped like: this tensor's shape, or [k] under {@link #restrictGrad}. */
    long[] gradShape() {
        return gradIndices == null ? shape : new long[] {gradIndices.numel()};
    }

    /** Closes and forgets the accumulated gradient. */
    public void zeroGrad() {
        if (grad != null) {
            grad.close();
            grad = null;
        }
    }

    public Node gradFn() {
        return gradFn;
    }

    /** Records how this tensor was computed; used by the differentiable ops. */
    public Tensor withGradFn(Node node) {
        this.gradFn = node;
        this.requiresGrad = true;
        return this;
    }

    public boolean isLeaf() {
        return gradFn == null;
    }

    /** The same data, cut from the tape. */
    public Tensor detach() {
        return new Tensor(storage(), ownership, dtype, shape, strides, offset);
    }

    /** Backpropagates from this scalar (seed 1) into every leaf that requires grad. */
    public void backward() {
        backward((GradientTap) null);
    }

    /** {@link #backward()} with a tap that may take over the gradients of ops' inputs (null: none). */
    public void backward(GradientTap tap) {
        if (numel != 1) {
            throw new IllegalStateException("backward() without a gradient needs a one-element tensor, not " + describe());
        }
        try (Tensor seed = Tensor.full(device(), 1, DType.F32, shape)) {
            Backprop.run(this, seed, tap);
        }
    }

    /** Backpropagates {@code gradient} (this tensor's shape) into every leaf that requires grad. */
    public void backward(Tensor gradient) {
        Backprop.run(this, gradient, null);
    }

    // ---- data access ---------------------------------------------------------------------------

    public float[] toFloatArray() {
        float[] out = new float[Math.toIntExact(numel)];
        readAs(DType.F32, MemorySegment.ofArray(out));
        return out;
    }

    /** The values, row-major, converted as {@link #to} converts (exact from every dtype but I64 and U64). */
    public double[] toDoubleArray() {
        double[] out = new double[Math.toIntExact(numel)];
        readAs(DType.F64, MemorySegment.ofArray(out));
        return out;
    }

    public int[] toIntArray() {
        int[] out = new int[Math.toIntExact(numel)];
        readAs(DType.I32, MemorySegment.ofArray(out));
        return out;
    }

    /** The values, row-major, converted as {@link #to} converts; U64 values keep their bits (as unsigned longs). */
    public long[] toLongArray() {
        long[] out = new long[Math.toIntExact(numel)];
        readAs(DType.I64, MemorySegment.ofArray(out));
        return out;
    }

    /** The raw little-endian bytes of the elements in row-major order. */
    public byte[] toByteArray() {
        byte[] out = new byte[Math.toIntExact(numel * dtype.byteSize())];
        readAs(dtype, MemorySegment.ofArray(out));
        return out;
    }

    /** The value of a one-element tensor, as a double (exact but for 64-bit integers beyond 2^53). */
    public double item() {
        if (numel != 1) {
            throw new IllegalStateException("item() needs a one-element tensor, not " + describe());
        }
        return toDoubleArray()[0];
    }

    /** Copies the values, converted to {@code target}, row-major into host memory; temporaries are freed. */
    private void readAs(DType target, MemorySegment out) {
        if (dtype == target && isContiguous()) {
            backend().read(this, out);
            return;
        }
        try (GradMode off = GradMode.noGrad(); Tensor converted = to(target)) {
            converted.backend().read(converted, out);
        }
    }

    /**
     * The values converted to {@code target} (a new contiguous tensor), as PyTorch's {@code to(dtype)}: floats
     * round to nearest even; floats to integers truncate toward zero and saturate at the target's bounds (NaN
     * to 0); integers to integers keep the low bits; anything to BOOL is {@code x != 0}.
     */
    public Tensor to(DType target) {
        return Functions.cast(this, target);
    }

    /** The same values on {@code target} (a new contiguous tensor), or this tensor if it is already there. */
    public Tensor to(Device target) {
        return Functions.toDevice(this, target);
    }

    /**
     * For a tensor made only to be sent to {@code target} (built in host memory, say): this tensor if it is already there,
     * else a copy there, this one closed.
     */
    public Tensor moveTo(Device target) {
        if (device().equals(target)) {
            return this;
        }
        try (Tensor source = this) {
            return source.to(target);
        }
    }

    @Override
    public String toString() {
        return TensorFormat.format(this);
    }

    // ---- views ---------------------------------------------------------------------------------

    /** A view with the same storage (package-private: views go through the differentiable Functions). */
    Tensor view(long[] newShape, long[] newStrides, long newOffset) {
        return new Tensor(storage(), ownership, dtype, newShape, newStrides, newOffset);
    }

    /** Same elements in a new shape (one dim may be -1); a view when the strides allow, else a copy. */
    public Tensor reshape(long... newShape) {
        return Functions.reshape(this, newShape);
    }

    public Tensor flatten() {
        return reshape(numel);
    }

    public Tensor transpose(int d0, int d1) {
        int[] order = new int[rank()];
        for (int i = 0; i < order.length; i++) {
            order[i] = i;
        }
        int a = Shapes.normalizeDim(d0, rank());
        int b = Shapes.normalizeDim(d1, rank());
        order[a] = b;
        order[b] = a;
        return permute(order);
    }

    /** The transpose of a 2-D tensor. */
    public Tensor t() {
        if (rank() != 2) {
            throw new IllegalArgumentException("t() needs a 2-D tensor, not " + describe());
        }
        return transpose(0, 1);
    }

    public Tensor permute(int... order) {
        return Functions.permute(this, order);
    }

    /** Elements start, start+step, ... below end along dim (negative start/end count from the end). */
    public Tensor slice(int dim, long start, long end, long step) {
        return Functions.slice(this, dim, start, end, step);
    }

    public Tensor slice(int dim, long start, long end) {
        return slice(dim, start, end, 1);
    }

    /** Broadcasts size-1 dims (and new leading dims) to {@code newShape} without copying (stride 0). */
    public Tensor expand(long... newShape) {
        return Functions.expand(this, newShape);
    }

    public Tensor unsqueeze(int dim) {
        int d = Shapes.normalizeDim(dim, rank() + 1);
        long[] s = new long[rank() + 1];
        for (int i = 0, j = 0; i < s.length; i++) {
            s[i] = i == d ? 1 : shape[j++];
        }
        return reshape(s);
    }

    public Tensor squeeze(int dim) {
        int d = Shapes.normalizeDim(dim, rank());
        if (shape[d] != 1) {
            throw new IllegalArgumentException("squeeze(" + dim + "): dim has size " + shape[d] + " in " + describe());
        }
        long[] s = new long[rank() - 1];
        for (int i = 0, j = 0; i < shape.length; i++) {
            if (i != d) {
                s[j++] = shape[i];
            }
        }
        return reshape(s);
    }

    /** This tensor if it is already contiguous, else a contiguous copy. */
    public Tensor contiguous() {
        return isContiguous() ? this : Functions.contiguousCopy(this);
    }

    /**
     * A copy of this matrix stored the other way round: the same [a, b] values, as a view of a new [b, a]-contiguous
     * storage that the view owns (closing it frees the copy). For a product whose fast path reads the transposed layout.
     */
    public Tensor transposedCopy() {
        return Functions.contiguousCopy(t()).t().takeOwnership();
    }

    // ---- elementwise ---------------------------------------------------------------------------

    public Tensor add(Tensor other) {
        return Functions.binary(Ops.Binary.ADD, this, other);
    }

    public Tensor sub(Tensor other) {
        return Functions.binary(Ops.Binary.SUB, this, other);
    }

    public Tensor mul(Tensor other) {
        return Functions.binary(Ops.Binary.MUL, this, other);
    }

    public Tensor div(Tensor other) {
        return Functions.binary(Ops.Binary.DIV, this, other);
    }

    public Tensor maximum(Tensor other) {
        return Functions.binary(Ops.Binary.MAXIMUM, this, other);
    }

    public Tensor minimum(Tensor other) {
        return Functions.binary(Ops.Binary.MINIMUM, this, other);
    }

    public Tensor pow(Tensor exponent) {
        return Functions.binary(Ops.Binary.POW, this, exponent);
    }

    public Tensor add(double value) {
        return Functions.scalar(Ops.Unary.ADD_SCALAR, this, value);
    }

    public Tensor sub(double value) {
        return Functions.scalar(Ops.Unary.ADD_SCALAR, this, -value);
    }

    public Tensor mul(double value) {
        return Functions.scalar(Ops.Unary.MUL_SCALAR, this, value);
    }

    public Tensor div(double value) {
        return Functions.scalar(Ops.Unary.MUL_SCALAR, this, 1.0 / value);
    }

    public Tensor pow(double exponent) {
        return Functions.scalar(Ops.Unary.POW_SCALAR, this, exponent);
    }

    /** value - this */
    public Tensor rsub(double value) {
        return Functions.scalar(Ops.Unary.RSUB_SCALAR, this, value);
    }

    /** value / this */
    public Tensor rdiv(double value) {
        return Functions.scalar(Ops.Unary.RDIV_SCALAR, this, value);
    }

    public Tensor neg() {
        return Functions.unary(Ops.Unary.NEG, this);
    }

    public Tensor exp() {
        return Functions.unary(Ops.Unary.EXP, this);
    }

    public Tensor log() {
        return Functions.unary(Ops.Unary.LOG, this);
    }

    public Tensor sqrt() {
        return Functions.unary(Ops.Unary.SQRT, this);
    }

    public Tensor tanh() {
        return Functions.unary(Ops.Unary.TANH, this);
    }

    public Tensor relu() {
        return Functions.unary(Ops.Unary.RELU, this);
    }

    /** GELU, tanh approximation (GPT-2) when {@code tanhApproximation}, else the exact erf form. */
    public Tensor gelu(boolean tanhApproximation) {
        return Functions.unary(tanhApproximation ? Ops.Unary.GELU_TANH : Ops.Unary.GELU_ERF, this);
    }

    public Tensor silu() {
        return Functions.unary(Ops.Unary.SILU, this);
    }

    public Tensor sigmoid() {
        return Functions.unary(Ops.Unary.SIGMOID, this);
    }

    public Tensor abs() {
        return Functions.unary(Ops.Unary.ABS, this);
    }

    public Tensor reciprocal() {
        return Functions.unary(Ops.Unary.RECIPROCAL, this);
    }

    public Tensor sin() {
        return Functions.unary(Ops.Unary.SIN, this);
    }

    public Tensor cos() {
        return Functions.unary(Ops.Unary.COS, this);
    }

    // ---- comparison and selection (not differentiable in the condition) ------------------------

    public Tensor eq(Tensor other) {
        return Functions.compare(Ops.Compare.EQ, this, other);
    }

    public Tensor ne(Tensor other) {
        return Functions.compare(Ops.Compare.NE, this, other);
    }

    public Tensor lt(Tensor other) {
        return Functions.compare(Ops.Compare.LT, this, other);
    }

    public Tensor le(Tensor other) {
        return Functions.compare(Ops.Compare.LE, this, other);
    }

    public Tensor gt(Tensor other) {
        return Functions.compare(Ops.Compare.GT, this, other);
    }

    public Tensor ge(Tensor other) {
        return Functions.compare(Ops.Compare.GE, this, other);
    }

    /** cond ? a : b elementwise, broadcasting all three; cond is BOOL. */
    public static Tensor where(Tensor cond, Tensor a, Tensor b) {
        return Functions.where(cond, a, b);
    }

    // ---- reductions ----------------------------------------------------------------------------

    /** Sum over {@code dims} (all dims when none are given). */
    public Tensor sum(boolean keepDim, int... dims) {
        return Functions.reduce(Ops.Reduce.SUM, this, keepDim, dims);
    }

    public Tensor sum(int... dims) {
        return sum(false, dims);
    }

    /** Sum of squares over {@code dims} (all when none), accumulated in float64. */
    public Tensor sumSquares(boolean keepDim, int... dims) {
        return Functions.reduce(Ops.Reduce.SUMSQ, this, keepDim, dims);
    }

    public Tensor mean(boolean keepDim, int... dims) {
        return Functions.mean(this, keepDim, dims);
    }

    public Tensor mean(int... dims) {
        return mean(false, dims);
    }

    /** Maximum over {@code dims}; the gradient is shared equally among tied maxima (like torch.amax). */
    public Tensor max(boolean keepDim, int... dims) {
        return Functions.reduce(Ops.Reduce.MAX, this, keepDim, dims);
    }

    public Tensor min(boolean keepDim, int... dims) {
        return Functions.reduce(Ops.Reduce.MIN, this, keepDim, dims);
    }

    /** Index (I64) of the first maximum along {@code dim}. */
    public Tensor argmax(int dim, boolean keepDim) {
        return Functions.argmax(this, dim, keepDim);
    }

    // ---- linear algebra and nn primitives ------------------------------------------------------

    /** Matrix product with batch broadcasting, as torch.matmul (1-D operands are promoted). */
    public Tensor matmul(Tensor other) {
        return Functions.matmul(this, other);
    }

    /**
     * This [..., in] times a weight: x W^T for W [out, in] (torch.nn.functional.linear without bias), or x W for
     * W [in, out] when {@code inputMajor} (GPT-2's Conv1D). The same product as {@link #matmul}; the
     * difference is in backward, where a weight under {@link #restrictGrad} gets its gradient at the listed
     * entries only.
     */
    public Tensor linear(Tensor weight, boolean inputMajor) {
        return Functions.linear(this, weight, inputMajor);
    }

    public Tensor softmax(int dim) {
        return Functions.softmax(this, dim, false);
    }

    public Tensor logSoftmax(int dim) {
        return Functions.softmax(this, dim, true);
    }

    /** Layer norm over the last dim; weight and bias ([last dim]) may be null. */
    public Tensor layerNorm(Tensor weight, Tensor bias, double eps) {
        return Functions.layerNorm(this, weight, bias, eps);
    }

    /** RMS norm over the last dim; weight ([last dim]) may be null. */
    public Tensor rmsNorm(Tensor weight, double eps) {
        return Functions.rmsNorm(this, weight, eps);
    }

    /** Mean cross-entropy of logits [N, C] (or [..., C]) against I32/I64 class labels [N] (or [...]). */
    public Tensor crossEntropy(Tensor labels) {
        return Functions.crossEntropy(this, labels);
    }

    /** Rows of {@code weight} [V, D] picked by I32/I64 indices of any shape: result [..., D]. */
    public static Tensor embedding(Tensor weight, Tensor indices) {
        return Functions.embedding(weight, indices);
    }

    /**
     * Rotary position embedding in the rotate-half convention (Hugging Face's LLaMA), differentiable in x: x [batch,
     * t, heads, headDim] at positions [batch, t] (I64, rows of the tables) -> x cos[p] + rotate_half(x) sin[p], with
     * rotate_half(x) = [-x2, x1] over each head's halves, for tables cos and sin [positions, headDim] F32 whose halves
     * are equal. One fused kernel.
     */
    public static Tensor rope(Tensor x, Tensor cos, Tensor sin, Tensor positions) {
        return Functions.rope(x, cos, sin, positions);
    }

    /**
     * Causal self-attention: softmax(scale q k^T) v for q [b, h, tq, d] and k, v [b, kvh, tk, d], key j hidden from query
     * i when j > i + tk - tq (a KV cache's earlier positions come first), returned as [b, tq, h, d] so that a reshape to
     * [b, tq, h d] merges the heads without a copy. With kvh < h (grouped-query attention; kvh divides h), query head i
     * reads key and value head i / (h / kvh), as Hugging Face's repeat_kv, without repeating them in memory. q is F32; k
     * and v are both F32 or both F16 (a half-precision {@link io.tessera.engine.nn.KvCache}), widened as they are read.
     */
    public static Tensor causalAttention(Tensor q, Tensor k, Tensor v, double scale) {
        return Functions.causalAttention(q, k, v, scale, null);
    }

    /**
     * {@link #causalAttention(Tensor, Tensor, Tensor, double)} for a left-padded batch (null {@code firstKeys}: none):
     * the keys before {@code firstKeys[b]} of row b (its padding) are hidden from all its queries, and a query that sees no
     * key (one of the padding) gives zeros. Without grad, row by row through the fused kernel on the row's unpadded keys, so
     * no [tq, tk] scores exist.
     */
    public static Tensor causalAttention(Tensor q, Tensor k, Tensor v, double scale, long[] firstKeys) {
        return Functions.causalAttention(q, k, v, scale, firstKeys);
    }

    /** Entries above the causal diagonal (j > i + past in the last two dims) set to {@code value}. */
    public Tensor causalMask(long past, double value) {
        return Functions.causalMask(this, past, value);
    }

    /** Concatenation along {@code dim}. */
    public static Tensor cat(int dim, Tensor... tensors) {
        return Functions.cat(dim, tensors);
    }

    // ---- lifetime ------------------------------------------------------------------------------

    /**
     * Closes this tensor; using it afterwards throws IllegalStateException. The owner of the storage also
     * frees it, so every view of it becomes unusable too; closing a view frees nothing of its storage. The
     * gradient it holds is closed with it (a scope's intermediate that retained its gradient leaves nothing behind).
     * Idempotent.
     */
    @Override
    public void close() {
        zeroGrad();
        closed = true;
        if (ownsStorage()) {
            storage.close();
        }
    }
}
