package io.tessera.peers;

import io.tessera.engine.DType;
import io.tessera.engine.Tensor;
import io.tessera.engine.nn.Linear;
import io.tessera.engine.nn.Module;
import io.tessera.pipeline.QuantizedLinear;
import io.tessera.pipeline.models.CausalLm;
import io.tessera.pipeline.models.HfCheckpoint;
import io.tessera.sparse.ModelDigest;
import io.tessera.sparse.Patch;
import io.tessera.sparse.TensorPatch;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.IntPredicate;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Per-session sparse patches: a model that shares every parameter of a base model (views, no copy) except the
 * patched tensors of the part a peer runs, which are patched copies. The base model is never written.
 */
final class SessionPatches {
    /** A compressed patch file may inflate to at most this much (a session's patch is small: a sparse delta). */
    static final long MAX_DECOMPRESSED_BYTES = 1L << 30;
    /** A transformer block's parameters: GPT-2's h.i., the LLaMA family's layers.i. (the models' own names). */
    private static final Pattern BLOCK = Pattern.compile("^(?:h|layers)\\.(\\d+)\\..*");

    private final CausalLm base;
    /** For a base with int8 layers: the float checkpoint they were quantized from, which patches name; else null. */
    private final Path floatCheckpoint;
    private String digest;

    SessionPatches(CausalLm base) {
        this(base, null);
    }

    SessionPatches(CausalLm base, Path floatCheckpoint) {
        this.base = base;
        this.floatCheckpoint = floatCheckpoint;
    }

    /** The block a parameter belongs to, or -1 for embeddings, final norm and head. */
    static int blockOf(String name) {
        Matcher m = BLOCK.matcher(name);
        return m.matches() ? Integer.parseInt(m.group(1)) : -1;
    }

    /** Reads a patch file's bytes. @throws IllegalArgumentException if they are not a valid patch file */
    static Patch parse(byte[] file) {
        try {
            Path tmp = Files.createTempFile("tessera-session-", ".patch");
            try {
                Files.write(tmp, file);
                return Patch.load(tmp, MAX_DECOMPRESSED_BYTES);
            } finally {
                Files.deleteIfExists(tmp);
            }
        } catch (IOException e) {
            throw new IllegalArgumentException("the session's patch cannot be read: " + e.getMessage(), e);
        } catch (UncheckedIOException e) {
            throw new IllegalArgumentException("the session's patch cannot be read: " + e.getCause().getMessage(), e);
        }
    }

    /**
     * A model equal to the base model with {@code patch} applied to the parameters of the blocks {@code part} accepts
     * (block -1: embeddings, final norm and head); the caller closes it, which frees only the patched copies. The patch
     * names the float model; in an int8 layer of the base, the patched entries of its weight run in float on top of
     * the shared int8 codes ({@link QuantizedLinear#withFloatEntries}).
     *
     * @throws IllegalArgumentException if the patch was made for another model or does not fit it
     */
    CausalLm patched(Patch patch, IntPredicate part) {
        String own = digest();
        if (!patch.baseDigest().equals(own)) {
            throw new IllegalArgumentException("patch '" + patch.description() + "' was made for the base model with digest "
                    + patch.baseDigest() + ", this peer serves " + own);
        }
        CausalLm model = Module.uninitialised(() -> CausalLm.create(base.config(), 0));
        try {
            // the float model's parameters, as the patch sees them (an int8 base has int8 buffers in place of some)
            Map<String, TensorPatch> touched = touched(patch, model.namedParameters(), part);
            Map<String, QuantizedLinear> int8 = int8Layers(base);
            model.transform((path, child) -> {
                QuantizedLinear shared = int8.get(path);
                if (shared == null) {
                    return child;
                }
                boolean inputMajor = child instanceof Linear linear && linear.inputMajor();
                child.close();
                return withFloatEntries(shared, touched.remove(path + ".weight"), inputMajor);
            });
            Map<String, Tensor> params = base.namedParameters();
            touched.keySet().stream().filter(name -> !params.containsKey(name)).findFirst().ifPresent(name -> {
                throw new IllegalArgumentException("patch '" + patch.description() + "' patches '" + name + "', which this peer"
                        + " serves in an int8 layer, where only the weight takes a patch");
            });
            Map<String, Tensor> adopted = new LinkedHashMap<>();
            params.forEach((name, t) -> {
                TensorPatch p = touched.get(name);
                adopted.put(name, p == null ? t.detach() : patchedCopy(t, p));
            });
            model.adoptParameters(adopted);
            return model;
        } catch (RuntimeException e) {
            model.close();
            throw e;
        }
    }

    /** The tensors of {@code patch} in the blocks {@code part} accepts. @throws IllegalArgumentException if any does not fit */
    private static Map<String, TensorPatch> touched(Patch patch, Map<String, Tensor> floatParams, IntPredicate part) {
        List<String> problems = new ArrayList<>();
        Map<String, TensorPatch> touched = new LinkedHashMap<>();
        patch.tensors().forEach((name, t) -> {
            Tensor target = floatParams.get(name);
            if (target == null) {
                problems.add("tensor '" + name + "' is patched but the model has no such parameter");
            } else if (t.dtype() != DType.F32 || !Arrays.equals(target.shape(), t.shape())) {
                problems.add("tensor '" + name + "' is " + t.dtype() + Arrays.toString(t.shape()) + " in the patch, "
                        + target.describe() + " in the model (session patches need F32 tensors of the model's shape)");
            } else if (part.test(blockOf(name))) {
                touched.put(name, t);
            }
        });
        if (!problems.isEmpty()) {
            throw new IllegalArgumentException("patch '" + patch.description() + "' does not fit the model:\n  "
                    + String.join("\n  ", problems));
        }
        return touched;
    }

    private static Map<String, QuantizedLinear> int8Layers(Module model) {
        Map<String, QuantizedLinear> layers = new HashMap<>();
        model.transform((path, child) -> {
            if (child instanceof QuantizedLinear q) {
                layers.put(path, q);
            }
            return child;
        });
        return layers;
    }

    /** {@code shared} with the entries of {@code patch} (on the float weight, [in, out] if {@code inputMajor}) in float. */
    private static QuantizedLinear withFloatEntries(QuantizedLinear shared, TensorPatch patch, boolean inputMajor) {
        int n = patch == null ? 0 : patch.count();
        long[] out = new long[n];
        long[] in = new long[n];
        float[] values = new float[n];
        long outs = shared.outFeatures();
        long ins = shared.inFeatures();
        for (int j = 0; j < n; j++) {
            long index = patch.index(j);
            out[j] = inputMajor ? index % outs : index / ins;
            in[j] = inputMajor ? index / outs : index % ins;
            values[j] = (float) patch.value(j);
        }
        return shared.withFloatEntries(out, in, values);
    }

    private static Tensor patchedCopy(Tensor base, TensorPatch patch) {
        float[] values = base.toFloatArray();
        for (int j = 0; j < patch.count(); j++) {
            values[Math.toIntExact(patch.index(j))] = (float) patch.value(j);
        }
        Tensor copy = Tensor.of(values, base.shape());
        if (copy.device().equals(base.device())) {
            return copy;
        }
        try (copy) {
            return copy.to(base.device());
        }
    }

    /** The float base model's digest, computed at the first patch (it reads every weight once). */
    private synchronized String digest() {
        if (digest == null) {
            if (floatCheckpoint != null) {
                try (CausalLm floatModel = HfCheckpoint.load(floatCheckpoint)) {
                    digest = ModelDigest.of(floatModel.stateDict());
                } catch (IOException e) {
                    throw new UncheckedIOException("reading the float model " + floatCheckpoint + " for its digest", e);
                }
            } else if (!int8Layers(base).isEmpty()) {
                throw new IllegalArgumentException("this peer serves int8 layers without knowing the float model they were quantized"
                        + " from, which patches name: it takes no patches");
            } else {
                digest = ModelDigest.of(base.stateDict());
            }
        }
        return digest;
    }
}
