package io.tessera.pipeline;

import io.tessera.engine.Backend;
import io.tessera.engine.DType;
import io.tessera.engine.Tensor;
import io.tessera.engine.TensorScope;
import io.tessera.engine.nn.Embedding;
import io.tessera.engine.nn.EmbeddingTable;
import io.tessera.engine.nn.Layer;
import io.tessera.engine.nn.Linear;
import io.tessera.engine.nn.Module;
import java.util.Arrays;
import java.util.Objects;

/**
 * A {@link Linear} (inference only) whose weight stays in half precision, BF16 or F16, and is read as stored by every
 * product ({@link io.tessera.engine.Backend#matmulHalfWeight}): decoding reads half the bytes of F32 and no F32 copy of
 * the weight exists. Activations, sums and the bias are F32 (with a BF16 weight and {@link Bf16Products#ROUNDED_INPUTS},
 * the activations rounded to BF16 first). The weight is stored [out, in] whatever its source layout: a GPT-2 Conv1D
 * weight [in, out] is copied transposed once, because the products' fast paths (a dot product per output channel for
 * decoding, packed panels or AMX-BF16 tiles for prefill) read each channel's inputs contiguously; its state-dict entry is
 * still the [in, out] matrix (a view of that storage), so it reads and saves as the checkpoint has it.
 *
 * <p>It also serves as a half-precision token embedding table [vocab, dim] (rows widened to F32 on lookup) and its tied
 * LM head. State-dict names are the float layer's: {@code weight} (BF16 or F16) and {@code bias} (F32), as a
 * half-precision checkpoint stores them.
 */
public final class HalfLinear extends Module implements Layer, EmbeddingTable {
    private final Tensor weight;
    /** The weight as [out, in], contiguous: {@code weight} itself, or its transpose when that is [in, out]. */
    private final Tensor outputMajor;
    private final Tensor bias;
    private final boolean inputMajor;
    private final Bf16Products products;

    private HalfLinear(Tensor weight, Tensor bias, boolean inputMajor, Bf16Products products) {
        this.weight = buffer("weight", weight);
        this.outputMajor = inputMajor ? weight.t() : weight;
        this.bias = bias == null ? null : buffer("bias", bias);
        this.inputMajor = inputMajor;
        this.products = products;
    }

    /**
     * The layer with {@code linear}'s weight rounded to {@code half}, BF16 or F16 (as {@code tensor.to(torch.bfloat16)}
     * or {@code torch.float16}), and its bias, multiplying as {@code products} says.
     */
    public static HalfLinear of(Linear linear, DType half, Bf16Products products) {
        return of(linear.weight(), linear.inputMajor(), linear.bias(), products, half);
    }

    /**
     * A half-precision embedding table (and tied head, multiplying as {@code products} says) from {@code embedding}'s
     * [vocab, dim] weight rounded to {@code half}.
     */
    public static HalfLinear of(Embedding embedding, DType half, Bf16Products products) {
        return of(embedding.weight(), false, null, products, half);
    }

    /** {@link #of(Tensor, boolean, Tensor, Bf16Products)} with exact products. */
    public static HalfLinear of(Tensor weight, boolean inputMajor, Tensor bias) {
        return of(weight, inputMajor, bias, Bf16Products.EXACT);
    }

    /**
     * A layer of weight [out, in] (or [in, out] when {@code inputMajor}), kept as it is when it is a contiguous BF16 or
     * F16 [out, in] already (a view of a checkpoint, say; the layer does not own it, so it must outlive the layer), else
     * copied into one the layer owns, in the same half precision or, from any other float dtype, rounded to BF16 (stored
     * transposed when [in, out]); the optional bias [out] becomes F32. Its products multiply as {@code products} says
     * (an F16 weight's always exactly: {@link Bf16Products#ROUNDED_INPUTS} is BF16 arithmetic).
     */
    public static HalfLinear of(Tensor weight, boolean inputMajor, Tensor bias, Bf16Products products) {
        return of(weight, inputMajor, bias, products, Backend.HALF_WEIGHT_TYPES.contains(weight.dtype()) ? weight.dtype() : DType.BF16);
    }

    /** The layer of {@code weight} (as {@link #of(Tensor, boolean, Tensor, Bf16Products)}) stored in {@code half}. */
    private static HalfLinear of(Tensor weight, boolean inputMajor, Tensor bias, Bf16Products products, DType half) {
        Objects.requireNonNull(products, "products");
        if (!Backend.HALF_WEIGHT_TYPES.contains(half)) {
            throw new IllegalArgumentException("half-precision Linear: the weight is kept in BF16 or F16, not " + half);
        }
        if (weight.rank() != 2 || !weight.dtype().isFloatingPoint()) {
            throw new IllegalArgumentException("half-precision Linear: the weight must be a float matrix, got " + weight.describe());
        }
        long out = weight.dim(inputMajor ? 1 : 0);
        if (bias != null && (bias.rank() != 1 || bias.dim(0) != out || !bias.dtype().isFloatingPoint())) {
            throw new IllegalArgumentException("half-precision Linear: the bias must be a float vector [" + out + "], got "
                    + bias.describe());
        }
        try (TensorScope scope = TensorScope.open()) {
            Tensor w;
            if (inputMajor) {
                Tensor rounded = weight.detach().to(half); // freed with the scope when it is a copy
                w = TensorScope.outside(rounded::transposedCopy);
            } else if (weight.dtype() == half && weight.isContiguous()) {
                w = TensorScope.outside(weight::detach); // a view: the layer reads the caller's tensor, which must outlive it
            } else {
                w = TensorScope.outside(() -> weight.detach().to(half).contiguous());
            }
            Tensor b = bias == null ? null : TensorScope.outside(() -> bias.detach().to(DType.F32));
            return Module.on(w.device(), () -> new HalfLinear(w, b, inputMajor, products));
        }
    }

    /** x [..., in] F32 -> [..., out] F32. */
    @Override
    public Tensor forward(Tensor x) {
        long in = inFeatures();
        long out = outFeatures();
        if (x.dtype() != DType.F32 || x.rank() == 0 || x.dim(-1) != in) {
            throw new IllegalArgumentException(weight.dtype() + " Linear(" + in + " -> " + out + "): input must be F32 [..., " + in
                    + "], got " + x.describe());
        }
        if (x.requiresGrad()) {
            throw new IllegalArgumentException(weight.dtype() + " Linear is inference-only; input " + x.describe()
                    + " requires grad (run it under GradMode.noGrad() or detach it)");
        }
        long rows = x.numel() / Math.max(in, 1);
        long[] outShape = Arrays.copyOf(x.shape(), x.rank());
        outShape[x.rank() - 1] = out;
        Tensor result = Tensor.empty(x.device(), DType.F32, outShape);
        try (TensorScope scope = TensorScope.open()) {
            Tensor matrix = x.contiguous().reshape(rows, in);
            if (products == Bf16Products.ROUNDED_INPUTS && weight.dtype() == DType.BF16) {
                result.backend().matmulBf16Rounded(matrix, outputMajor, false, result.reshape(rows, out));
            } else {
                result.backend().matmulHalfWeight(matrix, outputMajor, false, result.reshape(rows, out));
            }
        }
        return bias == null ? result : result.add(bias);
    }

    /** Rows of the table for ids [...] (I32 or I64, in [0, vocab)) -> [..., dim] F32. */
    @Override
    public Tensor lookup(Tensor ids) {
        if (inputMajor) {
            throw new IllegalStateException("a " + weight.dtype() + " Linear stored [in, out] is not an embedding table");
        }
        return EmbeddingTable.lookupRows(weight.dtype() + " embedding", ids, outFeatures(), inFeatures(), weight.device(),
                id -> weight.slice(0, id, id + 1).to(DType.F32));
    }

    /** The tied-head product: {@link #forward}. */
    @Override
    public Tensor attend(Tensor hidden) {
        return forward(hidden);
    }

    public long inFeatures() {
        return outputMajor.dim(1);
    }

    public long outFeatures() {
        return outputMajor.dim(0);
    }
}
