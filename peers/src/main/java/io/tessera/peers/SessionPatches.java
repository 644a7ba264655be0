package io.tessera.peers;

import io.tessera.engine.DType;
import io.tessera.engine.Tensor;
import io.tessera.engine.nn.Module;
import io.tessera.pipeline.models.CausalLm;
import io.tessera.sparse.ModelDigest;
import io.tessera.sparse.Patch;
import io.tessera.sparse.TensorPatch;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
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
    private String digest;

    SessionPatches(CausalLm base) {
        this.base = base;
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
     * (block -1: embeddings, final norm and head); the caller closes it, which frees only the patched copies.
     *
     * @throws IllegalArgumentException if the patch was made for another model or does not fit it
     */
    CausalLm patched(Patch patch, IntPredicate part) {
        String own = digest();
        if (!patch.baseDigest().equals(own)) {
            throw new IllegalArgumentException("patch '" + patch.description() + "' was made for the base model with digest "
                    + patch.baseDigest() + ", this peer serves " + own);
        }
        Map<String, Tensor> params = base.namedParameters();
        List<String> problems = new ArrayList<>();
        Map<String, TensorPatch> touched = new LinkedHashMap<>();
        patch.tensors().forEach((name, t) -> {
            Tensor target = params.get(name);
            if (target == null) {
                problems.add("tensor '" + name + "' is patched but the model has no such parameter");
            } else if (target.dtype() != DType.F32 || t.dtype() != DType.F32 || !Arrays.equals(target.shape(), t.shape())) {
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
        Map<String, Tensor> adopted = new LinkedHashMap<>();
        CausalLm model = Module.uninitialised(() -> CausalLm.create(base.config(), 0));
        try {
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

    /** The base model's digest, computed at the first patch (it reads every weight once). */
    private synchronized String digest() {
        if (digest == null) {
            digest = ModelDigest.of(base.stateDict());
        }
        return digest;
    }
}
