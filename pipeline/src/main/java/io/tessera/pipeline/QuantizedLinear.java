package io.tessera.pipeline;

import io.tessera.engine.Backend;
import io.tessera.engine.DType;
import io.tessera.engine.InPlace;
import io.tessera.engine.Tensor;
import io.tessera.engine.TensorScope;
import io.tessera.engine.nn.EmbeddingTable;
import io.tessera.engine.nn.Layer;
import io.tessera.engine.nn.Linear;
import io.tessera.engine.nn.Module;
import java.util.Arrays;
import java.util.Map;
import java.util.TreeMap;

/**
 * An int8 drop-in for {@link Linear} (inference only), after LLM.int8(): the weight is stored as
 * per-output-channel absmax int8 codes, each input row is quantized per row on the fly, and the product runs
 * as an exact int32 GEMM with dequantization and bias fused into its epilogue. Input columns where some
 * |x| exceeds the outlier threshold (default 6.0, as bitsandbytes) are left out of the int8 product and
 * added in float32 from the dequantized weight columns, so a few large features cannot crush the
 * resolution of all the others.
 *
 * <p>State-dict names (so a quantized checkpoint is plain safetensors): {@code weight} I8 [out, in] (torch.nn.Linear's
 * layout, whatever the source layer's), {@code weight_scale} F32 [out] with weight ~= weight[o, i] * weight_scale[o],
 * and {@code bias} F32 [out] when the layer has one.
 *
 * <p>It also serves as an int8 token embedding table [vocab = out, dim = in] ({@link EmbeddingTable}): its per-output
 * channel scales are per-row scales of the table, so one set of codes gives both the lookup (rows dequantized) and a
 * tied LM head (the int8 product).
 */
public final class QuantizedLinear extends Module implements Layer, EmbeddingTable {
    /** int32 dot products of int8 codes cannot overflow up to this many input features (255 * 127 * k < 2^31). */
    public static final long MAX_IN_FEATURES = 65_536;

    private final Tensor weight;
    private final Tensor scale;
    private final Tensor bias;
    private final float outlierThreshold;
    /** Entries kept in float ({@link #withFloatEntries}): their input columns (I64 [c]), or null for none. */
    private final Tensor floatColumns;
    /** Their weight minus its dequantized code, [c, out] (zero where an entry of the column is not kept in float). */
    private final Tensor floatDelta;

    private QuantizedLinear(Tensor weight, Tensor scale, Tensor bias, float outlierThreshold) {
        this(weight, scale, bias, outlierThreshold, null, null);
    }

    private QuantizedLinear(Tensor weight, Tensor scale, Tensor bias, float outlierThreshold, Tensor floatColumns, Tensor floatDelta) {
        this.weight = buffer("weight", weight);
        this.scale = buffer("weight_scale", scale);
        this.bias = bias == null ? null : buffer("bias", bias);
        this.outlierThreshold = outlierThreshold;
        this.floatColumns = floatColumns;
        this.floatDelta = floatDelta;
    }

    /**
     * Quantizes a float layer's weight per output channel. {@code outlierThreshold}: input magnitude above
     * which a column runs in float32; {@code Float.POSITIVE_INFINITY} turns the decomposition off.
     */
    public static QuantizedLinear of(Linear linear, float outlierThreshold) {
        return of(linear.weight(), linear.inputMajor(), linear.bias(), outlierThreshold);
    }

    /**
     * Quantizes a float weight (F32, BF16 or F16; [out, in], or [in, out] when {@code inputMajor}, GPT-2's Conv1D) and
     * an optional bias [out]: at most one F32 copy of the weight exists at a time (none for an output-major one),
     * so a checkpoint can be quantized tensor by tensor as it is read.
     */
    public static QuantizedLinear of(Tensor weight, boolean inputMajor, Tensor bias, float outlierThreshold) {
        checkThreshold(outlierThreshold);
        if (weight.rank() != 2 || !weight.dtype().isFloatingPoint()) {
            throw new IllegalArgumentException("int8 Linear: the weight must be a float matrix, got " + weight.describe());
        }
        long out = weight.dim(inputMajor ? 1 : 0);
        long in = weight.dim(inputMajor ? 0 : 1);
        checkInFeatures(in);
        if (bias != null && (bias.rank() != 1 || bias.dim(0) != out || !bias.dtype().isFloatingPoint())) {
            throw new IllegalArgumentException("int8 Linear: the bias must be a float vector [" + out + "], got " + bias.describe());
        }
        try (TensorScope scope = TensorScope.open()) {
            Tensor stored = (inputMajor ? weight.t() : weight).detach();
            // a weight as stored (output-major) is quantized as it is read, with no F32 copy
            boolean asStored = Backend.QUANTIZE_ROWS_TYPES.contains(stored.dtype()) && stored.isContiguous();
            Tensor w = asStored ? stored : stored.to(DType.F32);
            Tensor codes = TensorScope.outside(() -> Tensor.empty(w.device(), DType.I8, out, in));
            Tensor scales = TensorScope.outside(() -> Tensor.empty(w.device(), DType.F32, out));
            w.backend().quantizeRows(w, null, codes, scales);
            Tensor b = bias == null ? null : TensorScope.outside(() -> bias.detach().to(DType.F32));
            return Module.on(w.device(), () -> new QuantizedLinear(codes, scales, b, outlierThreshold));
        }
    }

    /** An empty layer of the given shape, to be filled by {@link #loadStateDict} from a quantized checkpoint. */
    public static QuantizedLinear empty(long in, long out, boolean bias, float outlierThreshold) {
        checkThreshold(outlierThreshold);
        checkInFeatures(in);
        return new QuantizedLinear(Tensor.zeros(DType.I8, out, in), Tensor.zeros(DType.F32, out),
                bias ? Tensor.zeros(DType.F32, out) : null, outlierThreshold);
    }

    private static void checkThreshold(float threshold) {
        if (!(threshold > 0)) {
            throw new IllegalArgumentException("outlier threshold must be positive (or infinity to turn it off), got " + threshold);
        }
    }

    private static void checkInFeatures(long in) {
        if (in > MAX_IN_FEATURES) {
            throw new IllegalArgumentException("int8 Linear supports at most " + MAX_IN_FEATURES + " input features, got " + in);
        }
    }

    /**
     * This layer with the weights at ({@code out[j]}, {@code in[j]}) ([out, in], any order; the last of duplicates
     * wins) set to {@code values[j]} in float32, e.g. a session's sparse patch: the codes, scales and bias are
     * shared with this layer (views; closing the new layer frees only its own tensors), the product still runs in
     * int8, and the differences between those entries and their dequantized codes are added in float, as x's touched
     * input columns times the differences.
     */
    public QuantizedLinear withFloatEntries(long[] out, long[] in, float[] values) {
        if (out.length != in.length || out.length != values.length) {
            throw new IllegalArgumentException("int8 Linear: float entries need as many rows, columns and values, got "
                    + out.length + ", " + in.length + ", " + values.length);
        }
        if (floatColumns != null) {
            throw new IllegalArgumentException("int8 Linear: this layer has float entries already; patch the layer it was made from");
        }
        long outs = outFeatures();
        long ins = inFeatures();
        Map<Long, Integer> columnIndex = new TreeMap<>();
        for (int j = 0; j < out.length; j++) {
            if (out[j] < 0 || out[j] >= outs || in[j] < 0 || in[j] >= ins) {
                throw new IllegalArgumentException("int8 Linear(" + ins + " -> " + outs + "): float entry (" + out[j] + ", " + in[j]
                        + ") is outside [" + outs + ", " + ins + "]");
            }
            columnIndex.put(in[j], 0);
        }
        long[] columns = columnIndex.keySet().stream().mapToLong(Long::longValue).toArray();
        for (int k = 0; k < columns.length; k++) {
            columnIndex.put(columns[k], k);
        }
        byte[] codes = weight.toByteArray();
        float[] scales = scale.toFloatArray();
        float[] delta = new float[Math.toIntExact(columns.length * outs)];
        for (int j = 0; j < out.length; j++) {
            int o = Math.toIntExact(out[j]);
            float dequantized = codes[Math.toIntExact(o * ins + in[j])] * scales[o];
            delta[Math.toIntExact(columnIndex.get(in[j]) * outs + o)] = values[j] - dequantized;
        }
        return TensorScope.outside(() -> {
            Tensor columnTensor = columns.length == 0 ? null : Tensor.of(columns, columns.length).moveTo(weight.device());
            Tensor deltaTensor = columns.length == 0 ? null : Tensor.of(delta, columns.length, outs).moveTo(weight.device());
            return Module.on(weight.device(), () -> new QuantizedLinear(weight.detach(), scale.detach(),
                    bias == null ? null : bias.detach(), outlierThreshold, columnTensor, deltaTensor));
        });
    }

    @Override
    public void close() {
        super.close();
        if (floatColumns != null) {
            floatColumns.close();
            floatDelta.close();
        }
    }

    /** x [..., in] F32 -> [..., out] F32. */
    @Override
    public Tensor forward(Tensor x) {
        long in = inFeatures();
        long out = outFeatures();
        if (x.dtype() != DType.F32 || x.rank() == 0 || x.dim(-1) != in) {
            throw new IllegalArgumentException("QuantizedLinear(" + in + " -> " + out + "): input must be F32 [..., " + in
                    + "], got " + x.describe());
        }
        if (!x.device().equals(weight.device())) {
            throw new IllegalArgumentException("QuantizedLinear on " + weight.device() + ": input " + x.describe()
                    + " is on another device");
        }
        if (x.requiresGrad()) {
            throw new IllegalArgumentException("QuantizedLinear is inference-only; input " + x.describe()
                    + " requires grad (run it under GradMode.noGrad() or detach it)");
        }
        long rows = x.numel() / Math.max(in, 1);
        long[] outShape = Arrays.copyOf(x.shape(), x.rank());
        outShape[x.rank() - 1] = out;
        Tensor result = Tensor.empty(x.device(), DType.F32, outShape); // allocated in its own shape: closing it frees it
        Backend backend = result.backend();
        try (TensorScope scope = TensorScope.open()) {
            Tensor y = result.reshape(rows, out);
            Tensor flat = x.contiguous().reshape(rows, in);
            Tensor flags = Tensor.empty(x.device(), DType.U8, in);
            long outliers = Float.isInfinite(outlierThreshold) || rows == 0 ? 0 : backend.outlierColumns(flat, outlierThreshold, flags);
            Tensor codes = Tensor.empty(x.device(), DType.I8, rows, in);
            Tensor scales = Tensor.empty(x.device(), DType.F32, rows);
            backend.quantizeRows(flat, outliers > 0 ? flags : null, codes, scales);
            backend.matmulQ8(codes, scales, weight, scale, bias, y);
            if (outliers > 0) {
                backend.matmulQ8Outliers(flat, flaggedColumns(flags, outliers), weight, scale, y);
            }
            if (floatColumns != null && rows > 0) {
                // x's touched columns [c, rows] (a row gather of x transposed), times the differences [c, out]
                Tensor touched = Tensor.embedding(flat.t().contiguous(), floatColumns);
                InPlace.copy(y.add(touched.t().matmul(floatDelta)), y);
            }
        }
        return result;
    }

    /** The embedding lookup: rows of the dequantized weight for ids [...] (I32 or I64, in [0, out)) -> [..., in] F32. */
    @Override
    public Tensor lookup(Tensor ids) {
        return EmbeddingTable.lookupRows("int8 embedding", ids, outFeatures(), inFeatures(), weight.device(),
                id -> weight.slice(0, id, id + 1).to(DType.F32).mul(scale.slice(0, id, id + 1).unsqueeze(1)));
    }

    /** The tied-head product: {@link #forward}. */
    @Override
    public Tensor attend(Tensor hidden) {
        return forward(hidden);
    }

    private static Tensor flaggedColumns(Tensor flags, long count) {
        byte[] flagged = flags.toByteArray();
        long[] columns = new long[Math.toIntExact(count)];
        int next = 0;
        for (int c = 0; c < flagged.length; c++) {
            if (flagged[c] != 0) {
                columns[next++] = c;
            }
        }
        Tensor onHost = Tensor.of(columns, count);
        return flags.device().equals(onHost.device()) ? onHost : onHost.to(flags.device());
    }

    /** The weight as float32 [out, in]: codes times their channel's scale. */
    public Tensor dequantizedWeight() {
        return weight.to(DType.F32).mul(scale.unsqueeze(1));
    }

    public long inFeatures() {
        return weight.dim(1);
    }

    public long outFeatures() {
        return weight.dim(0);
    }

    public float outlierThreshold() {
        return outlierThreshold;
    }
}
