package io.tessera.pipeline;

import io.tessera.engine.DType;
import io.tessera.engine.Tensor;
import io.tessera.engine.TensorScope;
import io.tessera.engine.io.Safetensors;
import io.tessera.engine.io.SafetensorsFile;
import io.tessera.engine.io.StoredModel;
import java.util.AbstractMap;
import java.util.AbstractSet;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.Map;
import java.util.Set;
import java.util.function.Supplier;

/**
 * A quantized checkpoint ({@link QuantizedCheckpoint}) as merges and patches see it: each int8 weight {@code P.weight}
 * (I8 codes [out, in] with F32 {@code P.weight_scale} [out]) as the F32 tensor codes * scale, decoded one at a time
 * when asked for, every other tensor as stored; results are written back as int8 codes and per-row absmax scales.
 */
public final class Int8StoredModel implements StoredModel {
    /** Reads quantized checkpoints as int8 and every other file plainly. */
    public static final StoredModel.Reader READER = file -> QuantizedCheckpoint.isQuantized(file) ? open(file) : StoredModel.plain(file);

    private static final String SCALE = "_scale";
    private static final float MAX_CODE = 127f;

    private final SafetensorsFile file;
    private final Set<String> names = new LinkedHashSet<>();
    private final Set<String> int8 = new LinkedHashSet<>();
    private final Map<String, float[]> encodedScales = new HashMap<>();
    private final Map<String, Tensor> view = new FloatView();
    private String decodedName;
    private Tensor decoded;

    private Int8StoredModel(SafetensorsFile file) {
        this.file = file;
    }

    /**
     * Opens a quantized checkpoint, checking that every I8 weight has its F32 scale vector [out] and every scale its weight,
     * as many as the metadata lists int8 layers. @throws IllegalArgumentException naming the file and tensor
     */
    public static Int8StoredModel open(SafetensorsFile file) {
        Map<String, Float> layers = QuantizedCheckpoint.layers(file);
        Int8StoredModel model = new Int8StoredModel(file);
        Map<String, Tensor> stored = file.tensors();
        // a decoded weight takes its scale's place: the order a float file of the decoded tensors has (F32 sorts by name), on
        // which e.g. DARE's random streams depend
        stored.forEach((name, t) -> {
            if (name.endsWith(SCALE)) {
                String weight = name.substring(0, name.length() - SCALE.length());
                Tensor codes = stored.get(weight);
                if (codes == null || codes.dtype() != DType.I8) {
                    throw new IllegalArgumentException(file.path() + ": scale tensor '" + name + "' has no int8 weight '" + weight + "'");
                }
                model.names.add(weight);
                return;
            }
            if (t.dtype() != DType.I8) {
                model.names.add(name);
                return;
            }
            Tensor scale = stored.get(name + SCALE);
            if (!name.endsWith(".weight") || t.rank() != 2) {
                throw new IllegalArgumentException(file.path() + ": int8 tensor '" + name + "' is " + t.describe()
                        + ", not an int8 layer's weight [out, in] named *.weight");
            }
            if (scale == null || scale.dtype() != DType.F32 || scale.rank() != 1 || scale.dim(0) != t.dim(0)) {
                throw new IllegalArgumentException(file.path() + ": int8 weight '" + name + "' needs its scale tensor '" + name + SCALE
                        + "' F32[" + t.dim(0) + "], got " + (scale == null ? "none" : scale.describe()));
            }
            model.int8.add(name);
        });
        if (model.int8.size() != layers.size()) {
            throw new IllegalArgumentException(file.path() + ": metadata " + QuantizedCheckpoint.LAYERS + " lists " + layers.size()
                    + " int8 layers but the file holds " + model.int8.size() + " int8 weights");
        }
        return model;
    }

    @Override
    public Map<String, Tensor> tensors() {
        return view;
    }

    @Override
    public String form() {
        return "int8 layers " + file.metadata().get(QuantizedCheckpoint.LAYERS);
    }

    @Override
    public Map<String, String> formMetadata() {
        return Map.of(QuantizedCheckpoint.LAYERS, file.metadata().get(QuantizedCheckpoint.LAYERS));
    }

    /**
     * An int8 weight as two entries, codes and scales, each computed from {@code value} when written (the writer puts F32
     * scales before I8 codes, so each layer's result is computed twice rather than held; the second must match the first).
     */
    @Override
    public Map<String, Safetensors.Pending> store(String name, DType dtype, Supplier<Tensor> value, Rows rows) {
        Tensor stored = file.tensor(name);
        if (!int8.contains(name)) {
            return Map.of(name, new Safetensors.Pending(dtype, stored.shape(), () -> {
                Tensor t = value.get();
                return t.dtype() == dtype ? t : t.to(dtype);
            }));
        }
        Map<String, Safetensors.Pending> entries = new LinkedHashMap<>();
        entries.put(name, new Safetensors.Pending(DType.I8, stored.shape(), () -> encode(name, value.get(), rows)[0]));
        entries.put(name + SCALE, new Safetensors.Pending(DType.F32, new long[] {stored.dim(0)}, () -> encode(name, value.get(), rows)[1]));
        return entries;
    }

    @Override
    public Map<String, Safetensors.Pending> unchanged(String name) {
        Map<String, Safetensors.Pending> entries = new LinkedHashMap<>();
        for (String stored : int8.contains(name) ? new String[] {name, name + SCALE} : new String[] {name}) {
            Tensor t = file.tensor(stored);
            entries.put(stored, new Safetensors.Pending(t.dtype(), t.shape(), () -> t));
        }
        return entries;
    }

    /** Codes and scales of {@code value}, float [out, in], allocated in the current scope. */
    private Tensor[] encode(String name, Tensor value, Rows rows) {
        Tensor codes = file.tensor(name);
        if (!Arrays.equals(value.shape(), codes.shape()) || !value.dtype().isFloatingPoint()) {
            throw new IllegalArgumentException("int8 weight '" + name + "' is " + Arrays.toString(codes.shape()) + ", cannot store "
                    + value.describe());
        }
        Tensor x = (value.dtype() == DType.F32 ? value : value.to(DType.F32)).contiguous();
        Tensor[] encoded = rows == Rows.FRESH ? quantizeRows(x) : keepUnchanged(name, x);
        float[] scales = encoded[1].toFloatArray();
        float[] earlier = encodedScales.put(name, scales);
        if (earlier != null && !Arrays.equals(earlier, scales)) {
            throw new IllegalStateException("int8 weight '" + name + "': its result came out differently the second time it was"
                    + " computed (scales differ), so its codes and scales would not match");
        }
        return encoded;
    }

    private static Tensor[] quantizeRows(Tensor x) {
        Tensor codes = Tensor.empty(x.device(), DType.I8, x.shape());
        Tensor scales = Tensor.empty(x.device(), DType.F32, x.dim(0));
        x.backend().quantizeRows(x, null, codes, scales);
        return new Tensor[] {codes, scales};
    }

    /**
     * Rows whose values equal the stored row's decoded values keep its codes and scale bit for bit; a changed row keeps
     * its scale when every value still fits in [-127, 127] steps of it (so its unchanged entries keep their codes), and
     * gets a fresh absmax scale otherwise. Codes are rint(x / scale) as the quantize kernel computes them.
     */
    private Tensor[] keepUnchanged(String name, Tensor x) {
        int out = Math.toIntExact(x.dim(0));
        int in = Math.toIntExact(x.dim(1));
        float[] values = x.toFloatArray();
        byte[] codes = file.tensor(name).toByteArray();
        float[] scales = file.tensor(name + SCALE).toFloatArray();
        for (int r = 0; r < out; r++) {
            int row = r * in;
            boolean same = true;
            boolean fits = scales[r] > 0;
            float absmax = 0;
            for (int c = 0; c < in; c++) {
                float v = values[row + c];
                if (!Float.isFinite(v)) {
                    throw new IllegalArgumentException("int8 weight '" + name + "': cannot store the non-finite value " + v
                            + " at [" + r + ", " + c + "]");
                }
                same &= Float.floatToRawIntBits(v) == Float.floatToRawIntBits(codes[row + c] * scales[r]);
                fits &= Math.abs(Math.rint(v / scales[r])) <= MAX_CODE;
                absmax = Math.max(absmax, Math.abs(v));
            }
            if (same) {
                continue;
            }
            if (!fits) {
                scales[r] = absmax / MAX_CODE;
            }
            for (int c = 0; c < in; c++) {
                codes[row + c] = scales[r] > 0 ? (byte) Math.max(-MAX_CODE, Math.min(MAX_CODE, Math.rint(values[row + c] / scales[r]))) : 0;
            }
        }
        return new Tensor[] {Tensor.ofBytes(codes, DType.I8, out, in), Tensor.of(scales, out)};
    }

    /** The decoded weight, made outside any scope and freed when another is decoded or this model closes. */
    private Tensor decode(String name) {
        if (!name.equals(decodedName)) {
            close();
            decoded = TensorScope.outside(() -> {
                try (TensorScope scope = TensorScope.open()) {
                    return scope.keep(file.tensor(name).to(DType.F32).mul(file.tensor(name + SCALE).unsqueeze(1)));
                }
            });
            decodedName = name;
        }
        return decoded;
    }

    @Override
    public void close() {
        if (decoded != null) {
            decoded.close();
            decoded = null;
            decodedName = null;
        }
    }

    /** Name to float tensor, in file order, scales hidden; int8 weights decoded when their value is read. */
    private final class FloatView extends AbstractMap<String, Tensor> {
        @Override
        public Tensor get(Object key) {
            if (!(key instanceof String name) || !names.contains(name)) {
                return null;
            }
            return int8.contains(name) ? decode(name) : file.tensor(name);
        }

        @Override
        public boolean containsKey(Object key) {
            return names.contains(key);
        }

        @Override
        public Set<Entry<String, Tensor>> entrySet() {
            return new AbstractSet<>() {
                @Override
                public Iterator<Entry<String, Tensor>> iterator() {
                    Iterator<String> keys = names.iterator();
                    return new Iterator<>() {
                        @Override
                        public boolean hasNext() {
                            return keys.hasNext();
                        }

                        @Override
                        public Entry<String, Tensor> next() {
                            String name = keys.next();
                            return new Entry<>() {
                                @Override
                                public String getKey() {
                                    return name;
                                }

                                @Override
                                public Tensor getValue() {
                                    return get(name);
                                }

                                @Override
                                public Tensor setValue(Tensor value) {
                                    throw new UnsupportedOperationException("a checkpoint's tensors are read-only");
                                }
                            };
                        }
                    };
                }

                @Override
                public int size() {
                    return names.size();
                }
            };
        }
    }
}
