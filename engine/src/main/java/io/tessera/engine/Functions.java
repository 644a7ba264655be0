package io.tessera.engine;

import io.tessera.engine.autograd.GradMode;
import io.tessera.engine.autograd.GradientTap;
import io.tessera.engine.autograd.Node;
import java.util.Arrays;

/**
 * The differentiable ops: each validates its inputs (dtype, device, shapes), allocates its output on its
 * inputs' device, runs that device's backend primitives, and records how to compute the inputs' gradients
 * (which land on the same device). Backward passes run under
 * noGrad and are written with the same ops.
 */
final class Functions {
    private Functions() {}

    private static Tensor record(Tensor out, String op, Node.Backward backward, Tensor... inputs) {
        if (!GradMode.isEnabled()) {
            return out;
        }
        for (Tensor input : inputs) {
            if (input != null && input.requiresGrad()) {
                return out.withGradFn(new Node(op, Arrays.asList(inputs), backward));
            }
        }
        return out;
    }

    private static void requireF32(String op, Tensor... tensors) {
        for (Tensor t : tensors) {
            if (t == null) {
                continue;
            }
            t.storage(); // throws if closed
            if (t.dtype() != DType.F32) {
                throw new IllegalArgumentException(op + ": needs f32 tensors, got " + t.describe() + "; convert with to(DType.F32)");
            }
        }
        requireOneDevice(op, tensors);
    }

    /** An op runs on its inputs' device, so they must share one (null entries are absent optional inputs). */
    private static void requireOneDevice(String op, Tensor... tensors) {
        Tensor first = null;
        for (Tensor t : tensors) {
            if (t == null) {
                continue;
            }
            if (first != null && !first.device().equals(t.device())) {
                throw new IllegalArgumentException(op + ": " + first.describe() + " and " + t.describe()
                        + " are on different devices; move one with to(Device)");
            }
            first = first == null ? t : first;
        }
    }

    // ---- dtype and layout ----------------------------------------------------------------------

    static Tensor cast(Tensor x, DType target) {
        x.storage(); // a closed input fails before anything is allocated
        Tensor y = Tensor.empty(x.device(), target, x.shape());
        x.backend().copy(x, y);
        if (!target.isFloatingPoint()) {
            return y;
        }
        return record(y, "to(" + target + ")", (g, needed) -> new Tensor[] {g.to(x.dtype())}, x);
    }

    static Tensor contiguousCopy(Tensor x) {
        x.storage();
        Tensor y = Tensor.empty(x.device(), x.dtype(), x.shape());
        x.backend().copy(x, y);
        return record(y, "contiguous", (g, needed) -> new Tensor[] {g}, x);
    }

    /**
     * x's values on another device: made contiguous on its own device first, then copied through host
     * memory (a backend's write and read take host memory).
     */
    static Tensor toDevice(Tensor x, Device target) {
        x.storage();
        if (x.device().equals(target)) {
            return x;
        }
        Device source = x.device();
        Tensor y = Tensor.empty(target, x.dtype(), x.shape());
        try (GradMode off = GradMode.noGrad()) {
            Tensor packed = x.contiguous();
            if (source.kind() == Device.Kind.CPU) {
                y.backend().write(y, CpuBackend.address(packed));
            } else if (target.kind() == Device.Kind.CPU) {
                packed.backend().read(packed, CpuBackend.output(y));
            } else {
                try (Tensor host = toDevice(packed, Device.CPU)) {
                    y.backend().write(y, CpuBackend.address(host));
                }
            }
            if (packed != x) {
                packed.close();
            }
        }
        return record(y, "to(" + target + ")", (g, needed) -> new Tensor[] {g.to(source)}, x);
    }

    static Tensor reshape(Tensor x, long[] requested) {
        long[] shape = resolveShape(requested, x);
        long[] strides = Shapes.viewStrides(x.shape(), x.strides(), shape);
        Tensor source = x;
        Tensor y;
        if (strides == null) {
            source = contiguousCopy(x);
            y = source.view(shape, Shapes.contiguousStrides(shape), 0).takeOwnership(); // the copy is the caller's to close
        } else {
            y = x.view(shape, strides, x.offset());
        }
        long[] original = source.shape();
        return record(y, "reshape", (g, needed) -> new Tensor[] {g.reshape(original)}, source);
    }

    private static long[] resolveShape(long[] requested, Tensor x) {
        long numel = x.numel();
        long[] shape = requested.clone();
        int inferred = -1;
        long known = 1;
        for (int i = 0; i < shape.length; i++) {
            if (shape[i] == -1) {
                if (inferred >= 0) {
                    throw new IllegalArgumentException("reshape " + Arrays.toString(requested) + ": only one dim can be -1");
                }
                inferred = i;
            } else if (shape[i] < 0) {
                throw new IllegalArgumentException("reshape " + Arrays.toString(requested) + ": negative size");
            } else {
                known *= shape[i];
            }
        }
        if (inferred >= 0) {
            if (known == 0 || numel % known != 0) {
                throw new IllegalArgumentException("cannot reshape " + x.describe() + " to " + Arrays.toString(requested));
            }
            shape[inferred] = numel / known;
        }
        if (Shapes.numel(shape) != numel) {
            throw new IllegalArgumentException("cannot reshape " + x.describe() + " (" + numel + " elements) to "
                    + Arrays.toString(requested));
        }
        return shape;
    }

    static Tensor permute(Tensor x, int[] order) {
        int rank = x.rank();
        if (order.length != rank) {
            throw new IllegalArgumentException("permute" + Arrays.toString(order) + " needs " + rank + " dims for " + x.describe());
        }
        long[] shape = new long[rank];
        long[] strides = new long[rank];
        int[] inverse = new int[rank];
        boolean[] seen = new boolean[rank];
        long[] xs = x.shape();
        long[] xt = x.strides();
        for (int i = 0; i < rank; i++) {
            int d = Shapes.normalizeDim(order[i], rank);
            if (seen[d]) {
                throw new IllegalArgumentException("permute" + Arrays.toString(order) + " repeats dim " + d);
            }
            seen[d] = true;
            shape[i] = xs[d];
            strides[i] = xt[d];
            inverse[d] = i;
        }
        Tensor y = x.view(shape, strides, x.offset());
        return record(y, "permute", (g, needed) -> new Tensor[] {g.permute(inverse)}, x);
    }

    static Tensor slice(Tensor x, int dim, long start, long end, long step) {
        int d = Shapes.normalizeDim(dim, x.rank());
        if (step <= 0) {
            throw new IllegalArgumentException("slice step must be positive, got " + step);
        }
        long size = x.shape()[d];
        long from = Math.clamp(start < 0 ? start + size : start, 0, size);
        long to = Math.clamp(end < 0 ? end + size : end, from, size);
        long[] shape = x.shape();
        long[] strides = x.strides();
        shape[d] = (to - from + step - 1) / step;
        long offset = x.offset() + from * strides[d];
        strides[d] *= step;
        Tensor y = x.view(shape, strides, offset);
        return record(y, "slice", (g, needed) -> {
            Tensor gx = Tensor.zeros(x.device(), x.shape());
            Tensor target = gx.slice(d, from, to, step);
            gx.backend().copy(g, target);
            return new Tensor[] {gx};
        }, x);
    }

    static Tensor expand(Tensor x, long[] shape) {
        long[] xs = x.shape();
        long[] xt = x.strides();
        if (shape.length < xs.length) {
            throw new IllegalArgumentException("expand " + x.describe() + " to " + Arrays.toString(shape) + ": fewer dims");
        }
        long[] strides = new long[shape.length];
        int lead = shape.length - xs.length;
        for (int i = 0; i < shape.length; i++) {
            if (i < lead) {
                strides[i] = 0;
            } else if (xs[i - lead] == shape[i]) {
                strides[i] = xt[i - lead];
            } else if (xs[i - lead] == 1) {
                strides[i] = 0;
            } else {
                throw new IllegalArgumentException("expand " + x.describe() + " to " + Arrays.toString(shape)
                        + ": dim " + i + " has size " + xs[i - lead]);
            }
        }
        Tensor y = x.view(shape.clone(), strides, x.offset());
        return record(y, "expand", (g, needed) -> new Tensor[] {sumTo(g, xs)}, x);
    }

    /** Sums a broadcast gradient back to {@code shape}. */
    static Tensor sumTo(Tensor g, long[] shape) {
        long[] gs = g.shape();
        if (Arrays.equals(gs, shape)) {
            return g;
        }
        int lead = gs.length - shape.length;
        int[] dims = new int[gs.length];
        int count = 0;
        for (int i = 0; i < gs.length; i++) {
            if (i < lead || (shape[i - lead] == 1 && gs[i] != 1)) {
                dims[count++] = i;
            }
        }
        return count == 0 ? g.reshape(shape) : g.sum(false, Arrays.copyOf(dims, count)).reshape(shape).takeOwnership();
    }

    private static Tensor broadcastView(Tensor x, long[] shape) {
        try (GradMode off = GradMode.noGrad()) {
            return Arrays.equals(x.shape(), shape) ? x : x.expand(shape);
        }
    }

    // ---- elementwise ---------------------------------------------------------------------------

    static Tensor binary(Ops.Binary op, Tensor a, Tensor b) {
        String name = op.name().toLowerCase(java.util.Locale.ROOT);
        requireF32(name, a, b);
        long[] shape = Shapes.broadcast(a.shape(), b.shape(), name);
        Tensor y = Tensor.empty(a.device(), DType.F32, shape);
        a.backend().binary(op, broadcastView(a, shape), broadcastView(b, shape), y);
        long[] as = a.shape();
        long[] bs = b.shape();
        Node.Backward backward = switch (op) {
            case ADD -> (g, needed) -> new Tensor[] {sumTo(g, as), sumTo(g, bs)};
            case SUB -> (g, needed) -> new Tensor[] {sumTo(g, as), needed[1] ? sumTo(g.neg(), bs) : null};
            case MUL -> (g, needed) -> new Tensor[] {needed[0] ? sumTo(g.mul(b), as) : null, needed[1] ? sumTo(g.mul(a), bs) : null};
            case DIV -> (g, needed) -> new Tensor[] {needed[0] ? sumTo(g.div(b), as) : null,
                    needed[1] ? sumTo(g.mul(y).div(b).neg(), bs) : null};
            case MAXIMUM, MINIMUM -> (g, needed) -> {
                // as torch.maximum: ties split the gradient equally, and where either operand is NaN (so
                // the result is), neither loses and both get the whole gradient
                Tensor aLoses = op == Ops.Binary.MAXIMUM ? a.lt(b) : a.gt(b);
                Tensor bLoses = op == Ops.Binary.MAXIMUM ? a.gt(b) : a.lt(b);
                Tensor tie = a.eq(b);
                Tensor zero = Tensor.zeros(a.device());
                Tensor half = g.mul(0.5);
                return new Tensor[] {sumTo(Tensor.where(tie, half, Tensor.where(aLoses, zero, g)), as),
                        needed[1] ? sumTo(Tensor.where(tie, half, Tensor.where(bLoses, zero, g)), bs) : null};
            };
            case POW -> (g, needed) -> new Tensor[] {needed[0] ? sumTo(g.mul(b).mul(a.pow(b.sub(1.0))), as) : null,
                    needed[1] ? sumTo(g.mul(y).mul(a.log()), bs) : null};
            default -> (g, needed) -> {
                throw new UnsupportedOperationException(name + " is a backward op and has no gradient itself");
            };
        };
        return record(y, name, backward, a, b);
    }

    /** The internal *_GRAD ops: input gradient from (forward value, upstream gradient). */
    private static Tensor gradOp(Ops.Binary op, Tensor value, Tensor g) {
        return binary(op, value, g);
    }

    static Tensor scalar(Ops.Unary op, Tensor x, double value) {
        String name = op.name().toLowerCase(java.util.Locale.ROOT);
        requireF32(name, x);
        Tensor y = Tensor.empty(x.device(), DType.F32, x.shape());
        x.backend().unary(op, (float) value, x, y);
        Node.Backward backward = switch (op) {
            case ADD_SCALAR -> (g, needed) -> new Tensor[] {g};
            case MUL_SCALAR -> (g, needed) -> new Tensor[] {g.mul(value)};
            case POW_SCALAR -> (g, needed) -> new Tensor[] {value == 2.0 ? g.mul(x).mul(2.0) : g.mul(x.pow(value - 1)).mul(value)};
            case RSUB_SCALAR -> (g, needed) -> new Tensor[] {g.neg()};
            case RDIV_SCALAR -> (g, needed) -> new Tensor[] {g.mul(y).div(x).neg()};
            default -> throw new IllegalArgumentException(name + " is not a scalar op");
        };
        return record(y, name, backward, x);
    }

    static Tensor unary(Ops.Unary op, Tensor x) {
        String name = op.name().toLowerCase(java.util.Locale.ROOT);
        requireF32(name, x);
        Tensor y = Tensor.empty(x.device(), DType.F32, x.shape());
        x.backend().unary(op, 0f, x, y);
        Node.Backward backward = switch (op) {
            case NEG -> (g, needed) -> new Tensor[] {g.neg()};
            case EXP -> (g, needed) -> new Tensor[] {g.mul(y)};
            case LOG -> (g, needed) -> new Tensor[] {g.div(x)};
            case SQRT -> (g, needed) -> new Tensor[] {g.div(y).mul(0.5)};
            case TANH -> (g, needed) -> new Tensor[] {gradOp(Ops.Binary.TANH_GRAD, y, g)};
            case RELU -> (g, needed) -> new Tensor[] {gradOp(Ops.Binary.RELU_GRAD, x, g)};
            case GELU_TANH -> (g, needed) -> new Tensor[] {gradOp(Ops.Binary.GELU_TANH_GRAD, x, g)};
            case GELU_ERF -> (g, needed) -> new Tensor[] {gradOp(Ops.Binary.GELU_ERF_GRAD, x, g)};
            case SILU -> (g, needed) -> new Tensor[] {gradOp(Ops.Binary.SILU_GRAD, x, g)};
            case SIGMOID -> (g, needed) -> new Tensor[] {gradOp(Ops.Binary.SIGMOID_GRAD, y, g)};
            case ABS -> (g, needed) -> new Tensor[] {Tensor.where(x.gt(Tensor.zeros(x.device())), g,
                    Tensor.where(x.lt(Tensor.zeros(x.device())), g.neg(), Tensor.zeros(x.device())))};
            case RECIPROCAL -> (g, needed) -> new Tensor[] {g.mul(y).mul(y).neg()};
            case SIN -> (g, needed) -> new Tensor[] {g.mul(x.cos())};
            case COS -> (g, needed) -> new Tensor[] {g.mul(x.sin()).neg()};
            default -> throw new IllegalArgumentException(name + " needs a scalar operand");
        };
        return record(y, name, backward, x);
    }

    static Tensor compare(Ops.Compare op, Tensor a, Tensor b) {
        String name = op.name().toLowerCase(java.util.Locale.ROOT);
        requireF32(name, a, b);
        long[] shape = Shapes.broadcast(a.shape(), b.shape(), name);
        Tensor y = Tensor.empty(a.device(), DType.BOOL, shape);
        a.backend().compare(op, broadcastView(a, shape), broadcastView(b, shape), y);
        return y;
    }

    static Tensor where(Tensor cond, Tensor a, Tensor b) {
        if (cond.dtype() != DType.BOOL) {
            throw new IllegalArgumentException("where: condition must be bool, got " + cond.describe());
        }
        requireF32("where", a, b);
        requireOneDevice("where", cond, a);
        long[] shape = Shapes.broadcast(Shapes.broadcast(cond.shape(), a.shape(), "where"), b.shape(), "where");
        Tensor y = Tensor.empty(a.device(), DType.F32, shape);
        a.backend().where(broadcastView(cond, shape), broadcastView(a, shape), broadcastView(b, shape), y);
        long[] as = a.shape();
        long[] bs = b.shape();
        return record(y, "where", (g, needed) -> new Tensor[] {
                needed[0] ? sumTo(Tensor.where(cond, g, Tensor.zeros(a.device())), as) : null,
                needed[1] ? sumTo(Tensor.where(cond, Tensor.zeros(a.device()), g), bs) : null}, a, b);
    }

    // ---- reductions ----------------------------------------------------------------------------

    private static long[] keptShape(long[] shape, int[] dims, boolean keepDim) {
        boolean[] reduced = new boolean[shape.length];
        for (int d : dims) {
            reduced[d] = true;
        }
        long[] out = new long[keepDim ? shape.length : shape.length - dims.length];
        for (int d = 0, j = 0; d < shape.length; d++) {
            if (!reduced[d]) {
                out[j++] = shape[d];
            } else if (keepDim) {
                out[j++] = 1;
            }
        }
        return out;
    }

    static Tensor reduce(Ops.Reduce op, Tensor x, boolean keepDim, int[] requestedDims) {
        String name = op.name().toLowerCase(java.util.Locale.ROOT);
        requireF32(name, x);
        int[] dims = Shapes.reduceDims(requestedDims, x.rank());
        long[] xs = x.shape();
        long reducedCount = 1;
        for (int d : dims) {
            reducedCount *= xs[d];
        }
        if (reducedCount == 0 && op != Ops.Reduce.SUM && op != Ops.Reduce.SUMSQ) {
            throw new IllegalArgumentException(name + ": cannot reduce over an empty dim of " + x.describe());
        }
        long[] keep = keptShape(xs, dims, true);
        Tensor y = Tensor.empty(x.device(), DType.F32, keptShape(xs, dims, false));
        x.backend().reduce(op, x, dims, y);
        Tensor kept = keepDim ? y.view(keep, Shapes.contiguousStrides(keep), 0).takeOwnership() : y;
        Node.Backward backward = switch (op) {
            case SUM -> (g, needed) -> new Tensor[] {g.reshape(keep).expand(xs)};
            case SUMSQ -> (g, needed) -> new Tensor[] {g.reshape(keep).mul(x).mul(2.0)};
            case MAX, MIN -> (g, needed) -> {
                Tensor mask = x.eq(y.reshape(keep)).to(DType.F32);
                Tensor count = mask.sum(true, dims);
                return new Tensor[] {mask.mul(g.reshape(keep).div(count))};
            };
            default -> throw new IllegalArgumentException(name + " is not differentiable");
        };
        return record(kept, name, backward, x);
    }

    static Tensor mean(Tensor x, boolean keepDim, int[] requestedDims) {
        int[] dims = Shapes.reduceDims(requestedDims, x.rank());
        long count = 1;
        for (int d : dims) {
            count *= x.shape()[d];
        }
        return x.sum(keepDim, dims).mul(1.0 / count);
    }

    static Tensor argmax(Tensor x, int dim, boolean keepDim) {
        requireF32("argmax", x);
        int d = Shapes.normalizeDim(dim, x.rank());
        if (x.shape()[d] == 0) {
            throw new IllegalArgumentException("argmax: dim " + dim + " of " + x.describe() + " is empty");
        }
        int[] dims = {d};
        Tensor y = Tensor.empty(x.device(), DType.I64, keptShape(x.shape(), dims, false));
        x.backend().reduce(Ops.Reduce.ARGMAX, x, dims, y);
        long[] keep = keptShape(x.shape(), dims, true);
        return keepDim ? y.view(keep, Shapes.contiguousStrides(keep), 0).takeOwnership() : y;
    }

    // ---- matmul --------------------------------------------------------------------------------

    static Tensor matmul(Tensor a, Tensor b) {
        requireF32("matmul", a, b);
        if (a.rank() == 0 || b.rank() == 0) {
            throw new IllegalArgumentException("matmul needs at least 1-D operands, got " + a.describe() + " and " + b.describe());
        }
        if (a.rank() == 1) {
            return matmul(a.unsqueeze(0), b).squeeze(-2).takeOwnership();
        }
        if (b.rank() == 1) {
            return matmul(a, b.unsqueeze(1)).squeeze(-1).takeOwnership();
        }
        long k = a.dim(-1);
        if (b.dim(-2) != k) {
            throw new IllegalArgumentException("matmul: " + a.describe() + " @ " + b.describe() + ": inner sizes " + k
                    + " and " + b.dim(-2) + " differ");
        }
        if (b.rank() == 2 && a.rank() > 2) {
            // one GEMM over all leading rows instead of a batch of small ones
            long[] outShape = a.shape();
            outShape[outShape.length - 1] = b.dim(-1);
            return matmul(a.reshape(-1, k), b).reshape(outShape).takeOwnership();
        }
        Tensor left = gemmReady(a);
        Tensor right = gemmReady(b);
        long[] batch = Shapes.broadcast(Arrays.copyOf(a.shape(), a.rank() - 2), Arrays.copyOf(b.shape(), b.rank() - 2), "matmul");
        long m = a.dim(-2);
        long n = b.dim(-1);
        long[] yShape = Arrays.copyOf(batch, batch.length + 2);
        yShape[batch.length] = m;
        yShape[batch.length + 1] = n;
        for (long size : new long[] {m, n, k}) {
            if (size > Integer.MAX_VALUE) {
                throw new IllegalArgumentException("matmul: dims above 2^31-1 are not supported (" + a.describe() + " @ "
                        + b.describe() + ")");
            }
        }
        Tensor y = Tensor.empty(a.device(), DType.F32, yShape);
        left.backend().matmul(broadcastView(left, withLast2(batch, m, k)), broadcastView(right, withLast2(batch, k, n)), y);
        return record(y, "matmul", (g, needed) -> new Tensor[] {
                needed[0] ? sumTo(g.matmul(b.transpose(-1, -2)), a.shape()) : null,
                needed[1] ? sumTo(a.transpose(-1, -2).matmul(g), b.shape()) : null}, a, b);
    }

    /** x W^T (W [out, in]) or, inputMajor, x W (W [in, out]): see {@link Tensor#linear}. */
    static Tensor linear(Tensor x, Tensor w, boolean inputMajor) {
        requireF32("linear", x, w);
        if (w.rank() != 2) {
            throw new IllegalArgumentException("linear: the weight must be 2-D, got " + w.describe());
        }
        Tensor product = inputMajor ? w : w.t();
        Tensor y;
        try (GradMode off = GradMode.noGrad()) {
            y = matmul(x, product);
        }
        return record(y, inputMajor ? GradientTap.LINEAR_INPUT_MAJOR : GradientTap.LINEAR, (g, needed) -> new Tensor[] {
                needed[0] ? g.matmul(product.t()) : null,
                needed[1] ? linearWeightGradient(x, g, w, inputMajor) : null}, x, w);
    }

    /**
     * Over the rows of x [..., in] and g [..., out]: g^T x for W [out, in], x^T g for W [in, out]; only at
     * the listed entries (an SDDMM, compact) when W's gradient is restricted.
     */
    private static Tensor linearWeightGradient(Tensor x, Tensor g, Tensor w, boolean inputMajor) {
        Tensor rowsOfX = x.reshape(-1, x.dim(-1)).contiguous();
        Tensor rowsOfG = g.reshape(-1, g.dim(-1)).contiguous();
        Tensor left = inputMajor ? rowsOfX : rowsOfG;
        Tensor right = inputMajor ? rowsOfG : rowsOfX;
        Tensor indices = w.gradIndices();
        if (indices == null) {
            Tensor full = Backprop.gradientBuffer(w.device(), left.dim(1), right.dim(1));
            w.backend().matmul(left.t(), right, full);
            return full;
        }
        Tensor kept = Backprop.gradientBuffer(w.device(), indices.numel());
        w.backend().sampledMatmul(left, right, indices, kept);
        return kept;
    }

    private static long[] withLast2(long[] batch, long rows, long cols) {
        long[] s = Arrays.copyOf(batch, batch.length + 2);
        s[batch.length] = rows;
        s[batch.length + 1] = cols;
        return s;
    }

    /** The operand itself when its matrix dims are row- or column-major (cblas takes either), else a copy. */
    private static Tensor gemmReady(Tensor t) {
        try {
            MatrixLayout.of(t, "operand");
            return t;
        } catch (IllegalArgumentException notStrided) {
            try (GradMode off = GradMode.noGrad()) {
                return contiguousCopy(t);
            }
        }
    }

    // ---- nn primitives -------------------------------------------------------------------------

    static Tensor softmax(Tensor x, int dim, boolean log) {
        String name = log ? "logSoftmax" : "softmax";
        requireF32(name, x);
        int d = Shapes.normalizeDim(dim, Math.max(x.rank(), 1));
        if (x.rank() > 0 && d != x.rank() - 1) {
            return softmax(x.transpose(d, -1), -1, log).transpose(d, -1).takeOwnership();
        }
        Tensor input = x.contiguous();
        Tensor y = Tensor.empty(x.device(), DType.F32, x.shape());
        x.backend().softmax(input, y, log);
        return record(y, name, (g, needed) -> {
            Tensor gx = Tensor.empty(x.device(), DType.F32, x.shape());
            x.backend().softmaxBackward(y, g.contiguous(), gx, log);
            return new Tensor[] {gx};
        }, input);
    }

    private static void requireVector(String op, Tensor t, long size, String what) {
        if (t != null && (t.rank() != 1 || t.dim(0) != size)) {
            throw new IllegalArgumentException(op + ": " + what + " must have shape [" + size + "], got " + t.describe());
        }
    }

    private static long[] rowsShape(Tensor x) {
        long[] s = x.shape();
        return Arrays.copyOf(s, Math.max(s.length - 1, 0));
    }

    static Tensor layerNorm(Tensor x, Tensor w, Tensor b, double eps) {
        requireF32("layerNorm", x, w, b);
        long c = x.rank() == 0 ? 1 : x.dim(-1);
        requireVector("layerNorm", w, c, "weight");
        requireVector("layerNorm", b, c, "bias");
        Tensor input = x.contiguous();
        Tensor y = Tensor.empty(x.device(), DType.F32, x.shape());
        Tensor mean = Tensor.empty(x.device(), DType.F32, rowsShape(x));
        Tensor rstd = Tensor.empty(x.device(), DType.F32, rowsShape(x));
        x.backend().layerNorm(input, w, b, (float) eps, y, mean, rstd);
        return record(y, "layerNorm", (g, needed) -> {
            Tensor gx = Tensor.empty(x.device(), DType.F32, x.shape());
            Tensor gw = w == null ? null : Tensor.empty(x.device(), DType.F32, w.shape());
            Tensor gb = b == null ? null : Tensor.empty(x.device(), DType.F32, b.shape());
            x.backend().layerNormBackward(input, w, mean, rstd, g.contiguous(), gx, gw, gb);
            return new Tensor[] {gx, gw, gb};
        }, input, w, b);
    }

    static Tensor rmsNorm(Tensor x, Tensor w, double eps) {
        requireF32("rmsNorm", x, w);
        long c = x.rank() == 0 ? 1 : x.dim(-1);
        requireVector("rmsNorm", w, c, "weight");
        Tensor input = x.contiguous();
        Tensor y = Tensor.empty(x.device(), DType.F32, x.shape());
        Tensor rstd = Tensor.empty(x.device(), DType.F32, rowsShape(x));
        x.backend().rmsNorm(input, w, (float) eps, y, rstd);
        return record(y, "rmsNorm", (g, needed) -> {
            Tensor gx = Tensor.empty(x.device(), DType.F32, x.shape());
            Tensor gw = w == null ? null : Tensor.empty(x.device(), DType.F32, w.shape());
            x.backend().rmsNormBackward(input, w, rstd, g.contiguous(), gx, gw);
            return new Tensor[] {gx, gw};
        }, input, w);
    }

    static Tensor rope(Tensor x, Tensor cos, Tensor sin, Tensor positions) {
        requireF32("rope", x, cos, sin);
        if (x.rank() != 4 || positions.rank() != 2 || positions.dim(0) != x.dim(0) || positions.dim(1) != x.dim(1)) {
            throw new IllegalArgumentException("rope needs x [batch, t, heads, headDim] and positions [batch, t], got "
                    + x.describe() + " and " + positions.describe());
        }
        long rows = x.dim(0) * x.dim(1);
        Tensor input = x.contiguous();
        Tensor pos = positions.contiguous().reshape(rows);
        Tensor y = Tensor.empty(x.device(), DType.F32, x.shape());
        x.backend().rope(input.reshape(rows, x.dim(2), x.dim(3)), cos, sin, pos, false, y.reshape(rows, x.dim(2), x.dim(3)));
        return record(y, "rope", (g, needed) -> {
            Tensor gx = Tensor.empty(x.device(), DType.F32, x.shape());
            x.backend().rope(g.contiguous().reshape(rows, x.dim(2), x.dim(3)), cos, sin, pos, true, gx.reshape(rows, x.dim(2), x.dim(3)));
            return new Tensor[] {gx};
        }, input);
    }

    static Tensor crossEntropy(Tensor logits, Tensor labels) {
        requireF32("crossEntropy", logits);
        if (logits.rank() < 1) {
            throw new IllegalArgumentException("crossEntropy: logits must have a class dim, got " + logits.describe());
        }
        long classes = logits.dim(-1);
        long rows = classes == 0 ? 0 : logits.numel() / classes;
        if (labels.numel() != rows || !Arrays.equals(labels.shape(), rowsShape(logits))) {
            throw new IllegalArgumentException("crossEntropy: labels " + labels.describe() + " do not match logits " + logits.describe());
        }
        if (rows == 0) {
            throw new IllegalArgumentException("crossEntropy: no rows in " + logits.describe());
        }
        requireOneDevice("crossEntropy", logits, labels);
        Tensor input = logits.reshape(rows, classes).contiguous();
        Tensor target = labels.contiguous();
        Tensor losses = Tensor.empty(logits.device(), DType.F32, rows);
        Tensor lse = Tensor.empty(logits.device(), DType.F32, rows);
        logits.backend().crossEntropy(input, target, losses, lse);
        Tensor perRow = record(losses, "crossEntropy", (g, needed) -> {
            Tensor glogits = Tensor.empty(logits.device(), DType.F32, rows, classes);
            logits.backend().crossEntropyBackward(input, target, lse, g.contiguous(), glogits);
            return new Tensor[] {glogits};
        }, input);
        return perRow.mean();
    }

    static Tensor embedding(Tensor weight, Tensor indices) {
        requireF32("embedding", weight);
        if (weight.rank() != 2) {
            throw new IllegalArgumentException("embedding: weight must be [vocab, dim], got " + weight.describe());
        }
        requireOneDevice("embedding", weight, indices);
        Tensor table = weight.contiguous();
        Tensor idx = indices.contiguous();
        long[] outShape = Arrays.copyOf(indices.shape(), indices.rank() + 1);
        outShape[indices.rank()] = weight.dim(1);
        Tensor y = Tensor.empty(weight.device(), DType.F32, outShape);
        weight.backend().embedding(table, idx, y);
        return record(y, "embedding", (g, needed) -> {
            Tensor gw = Backprop.gradientBuffer(weight.device(), weight.shape());
            weight.backend().fill(gw, 0);
            weight.backend().embeddingBackward(g.contiguous(), idx, gw);
            return new Tensor[] {gw, null};
        }, table, idx); // the indices are on the tape (never differentiated) so a tap can trace what depends on them
    }

    /**
     * Causal self-attention of q [b, h, tq, d] over k, v [b, kvh, tk, d] (tk >= tq, the first tk - tq keys are earlier
     * positions; kvh divides h, query head i reading key and value head i / (h / kvh); k and v F32 or F16), as
     * [b, tq, h, d]. With {@code firstKeys} (null: none), row b's keys before firstKeys[b] are left padding, hidden from
     * every query, and a query that sees only padding gives zeros. One fused kernel when nothing needs a gradient (a
     * padded batch row by row, on its rows' unpadded keys and queries); otherwise the differentiable ops of
     * {@link #attentionByOps}.
     */
    static Tensor causalAttention(Tensor q, Tensor k, Tensor v, double scale, long[] firstKeys) {
        requireF32("causalAttention", q);
        requireOneDevice("causalAttention", q, k, v);
        if (!Backend.KV_DTYPES.contains(k.dtype()) || v.dtype() != k.dtype()) {
            throw new IllegalArgumentException("causalAttention needs k and v both F32 or both F16, got " + k.describe() + " and "
                    + v.describe());
        }
        if (q.rank() != 4 || k.rank() != 4 || v.rank() != 4) {
            throw new IllegalArgumentException("causalAttention needs q, k, v of rank 4 [batch, heads, positions, headDim], got "
                    + q.describe() + ", " + k.describe() + ", " + v.describe());
        }
        long heads = q.dim(1);
        long kvHeads = k.dim(1);
        if (heads == 0 ? kvHeads != 0 : kvHeads <= 0 || heads % kvHeads != 0 || v.dim(1) != kvHeads) {
            throw new IllegalArgumentException("causalAttention needs k and v with one number of heads that divides q's, got "
                    + q.describe() + ", " + k.describe() + ", " + v.describe());
        }
        long tq = q.dim(2);
        long tk = k.dim(2);
        if (firstKeys != null) {
            if (firstKeys.length != q.dim(0)) {
                throw new IllegalArgumentException("causalAttention needs one first key per row of " + q.describe() + ", got "
                        + firstKeys.length);
            }
            for (int b = 0; b < firstKeys.length; b++) {
                if (firstKeys[b] < 0 || firstKeys[b] > tk) {
                    throw new IllegalArgumentException(
                            "causalAttention: first key " + firstKeys[b] + " of row " + b + " outside [0, " + tk + "]");
                }
            }
        }
        boolean differentiable = GradMode.isEnabled() && (q.requiresGrad() || k.requiresGrad() || v.requiresGrad());
        if (differentiable || tk < tq) {
            return attentionByOps(q, asF32(k), asF32(v), scale, firstKeys); // F16 keys and values (a KV cache) widened
        }
        if (firstKeys == null) {
            return fusedAttention(q, k, v, scale);
        }
        Tensor[] rows = new Tensor[firstKeys.length];
        for (int b = 0; b < rows.length; b++) {
            long first = firstKeys[b];
            // query i is slot tk - tq + i; the slots before `first` are padding, so are the queries there
            long blind = Math.clamp(first - (tk - tq), 0, tq);
            Tensor row = fusedAttention(q.slice(0, b, b + 1).slice(2, blind, tq), k.slice(0, b, b + 1).slice(2, first, tk),
                    v.slice(0, b, b + 1).slice(2, first, tk), scale);
            rows[b] = blind == 0 ? row : Tensor.cat(1, Tensor.zeros(q.device(), 1, blind, q.dim(1), q.dim(3)), row);
        }
        return rows.length == 1 ? rows[0] : Tensor.cat(0, rows);
    }

    private static Tensor asF32(Tensor t) {
        return t.dtype() == DType.F32 ? t : t.to(DType.F32);
    }

    private static Tensor fusedAttention(Tensor q, Tensor k, Tensor v, double scale) {
        Tensor y = Tensor.empty(q.device(), DType.F32, q.dim(0), q.dim(2), q.dim(1), q.dim(3));
        q.backend().causalAttention(unitStrideRows(q), unitStrideRows(k), unitStrideRows(v), (float) scale, y);
        return y;
    }

    /**
     * {@link #causalAttention} as differentiable ops: each group of query heads as the rows of one product with its key
     * and value head, so k and v are read in place (repeating them over the group would copy them group times), padding
     * keys hidden by {@link LeftPadding#keyBias} and padding queries zeroed by {@link LeftPadding#queryMask}.
     */
    private static Tensor attentionByOps(Tensor q, Tensor k, Tensor v, double scale, long[] firstKeys) {
        long batch = q.dim(0);
        long heads = q.dim(1);
        long kvHeads = k.dim(1);
        long group = heads == 0 ? 1 : heads / kvHeads;
        long tq = q.dim(2);
        long tk = k.dim(2);
        long headDim = q.dim(3);
        Tensor grouped = q.reshape(batch, kvHeads, group * tq, headDim);
        Tensor scores = grouped.matmul(k.transpose(-1, -2)).mul(scale).reshape(batch, kvHeads, group, tq, tk);
        if (firstKeys != null) {
            scores = scores.add(LeftPadding.keyBias(firstKeys, tk, scores.rank(), q.device()));
        }
        Tensor probabilities = scores.causalMask(tk - tq, Double.NEGATIVE_INFINITY).softmax(-1).reshape(batch, kvHeads, group * tq, tk);
        Tensor attended = probabilities.matmul(v).reshape(batch, heads, tq, headDim);
        if (firstKeys != null) {
            attended = attended.mul(LeftPadding.queryMask(firstKeys, tk, tq, q.device()));
        }
        return attended.transpose(1, 2).contiguous();
    }

    /** The operand itself when its last dim has unit stride (as the attention kernel reads it), else a contiguous copy. */
    private static Tensor unitStrideRows(Tensor t) {
        if (t.dim(-1) <= 1 || t.strides()[t.rank() - 1] == 1 && Arrays.stream(t.strides()).allMatch(s -> s >= 0)) {
            return t;
        }
        try (GradMode off = GradMode.noGrad()) {
            return contiguousCopy(t);
        }
    }

    static Tensor causalMask(Tensor x, long past, double value) {
        requireF32("causalMask", x);
        if (x.rank() < 2) {
            throw new IllegalArgumentException("causalMask needs [..., tq, tk], got " + x.describe());
        }
        if (past < 0) {
            throw new IllegalArgumentException("causalMask: past must be >= 0, got " + past);
        }
        long tq = x.dim(-2);
        long tk = x.dim(-1);
        long batch = tq * tk == 0 ? 0 : x.numel() / (tq * tk);
        Tensor y = Tensor.empty(x.device(), DType.F32, x.shape());
        x.backend().copy(x, y);
        x.backend().causalMask(y.view(new long[] {batch, tq, tk}, Shapes.contiguousStrides(new long[] {batch, tq, tk}), 0),
                past, (float) value);
        return record(y, "causalMask", (g, needed) -> {
            Tensor gx = Tensor.empty(x.device(), DType.F32, x.shape());
            x.backend().copy(g, gx);
            x.backend().causalMask(gx.view(new long[] {batch, tq, tk}, Shapes.contiguousStrides(new long[] {batch, tq, tk}), 0),
                    past, 0f);
            return new Tensor[] {gx};
        }, x);
    }

    static Tensor cat(int dim, Tensor[] tensors) {
        if (tensors.length == 0) {
            throw new IllegalArgumentException("cat needs at least one tensor");
        }
        requireF32("cat", tensors);
        Tensor first = tensors[0];
        int d = Shapes.normalizeDim(dim, first.rank());
        long[] shape = first.shape();
        long total = 0;
        for (Tensor t : tensors) {
            long[] s = t.shape();
            if (s.length != shape.length) {
                throw new IllegalArgumentException("cat: " + t.describe() + " and " + first.describe() + " differ in rank");
            }
            for (int i = 0; i < s.length; i++) {
                if (i != d && s[i] != shape[i]) {
                    throw new IllegalArgumentException("cat along dim " + dim + ": " + t.describe() + " does not match "
                            + first.describe());
                }
            }
            total += s[d];
        }
        shape[d] = total;
        Tensor y = Tensor.empty(first.device(), DType.F32, shape);
        long[] starts = new long[tensors.length];
        long at = 0;
        for (int i = 0; i < tensors.length; i++) {
            starts[i] = at;
            long size = tensors[i].dim(d);
            try (GradMode off = GradMode.noGrad()) {
                first.backend().copy(tensors[i], y.slice(d, at, at + size));
            }
            at += size;
        }
        return record(y, "cat", (g, needed) -> {
            Tensor[] grads = new Tensor[tensors.length];
            for (int i = 0; i < tensors.length; i++) {
                if (needed[i]) {
                    grads[i] = g.slice(d, starts[i], starts[i] + tensors[i].dim(d));
                }
            }
            return grads;
        }, tensors);
    }
}
