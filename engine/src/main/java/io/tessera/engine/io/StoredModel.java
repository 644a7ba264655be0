package io.tessera.engine.io;

import io.tessera.engine.DType;
import io.tessera.engine.Tensor;
import java.util.Map;
import java.util.function.Supplier;

/**
 * One safetensors file as the commands that compute in float (merges, patches) see it: its tensors as floats, and
 * the way back from float results to the file's own storage. The engine knows only the plain form ({@link #plain}:
 * the tensors as stored); other forms (int8 codes with per-row scales) are defined beside their format and handed
 * to those commands as a {@link Reader}, so the float/stored conversion happens at this one boundary.
 */
public interface StoredModel extends AutoCloseable {
    /** Opens a file in whichever form it is in; a broken file is refused naming the file and tensor. */
    @FunctionalInterface
    interface Reader {
        StoredModel open(SafetensorsFile file);
    }

    /** Reads every file plainly. */
    Reader PLAIN = StoredModel::plain;

    /** How a changed tensor is brought back to a stored form that quantizes it. */
    enum Rows {
        /** Every row quantized afresh (a merge's result). */
        FRESH,
        /** Rows equal to the stored ones keep their stored form; changed rows keep their scale when it still fits (a patch). */
        KEEP_UNCHANGED
    }

    /**
     * Name to float tensor, one per tensor of the result (a stored form's auxiliary tensors, e.g. scales, are hidden).
     * A decoded tensor is made when asked for and stays valid until this view is asked for another name or closed,
     * so at most one decoded tensor per file is alive: a caller may not hold two values of one view at once.
     */
    Map<String, Tensor> tensors();

    /** What the stored form is: "" for plain files; files with equal forms store their results alike. */
    String form();

    /** The metadata entries that mark the stored form (to write beside results stored in it); empty when plain. */
    Map<String, String> formMetadata();

    /**
     * The entries that store tensor {@code name} of a result in this file's form, {@code value} giving its float values
     * in {@code dtype} (called once per entry when its turn comes, in the writer's scope, so it must give the same
     * values every time); tensors the form does not encode are stored as {@code value}, in {@code dtype}.
     */
    Map<String, Safetensors.Pending> store(String name, DType dtype, Supplier<Tensor> value, Rows rows);

    /** The entries that store tensor {@code name} exactly as this file does (zero-copy). */
    Map<String, Safetensors.Pending> unchanged(String name);

    @Override
    void close();

    /** {@code file}'s tensors as they are stored. */
    static StoredModel plain(SafetensorsFile file) {
        return new StoredModel() {
            @Override
            public Map<String, Tensor> tensors() {
                return file.tensors();
            }

            @Override
            public String form() {
                return "";
            }

            @Override
            public Map<String, String> formMetadata() {
                return Map.of();
            }

            @Override
            public Map<String, Safetensors.Pending> store(String name, DType dtype, Supplier<Tensor> value, Rows rows) {
                return Map.of(name, new Safetensors.Pending(dtype, file.tensor(name).shape(), () -> {
                    Tensor t = value.get();
                    return t.dtype() == dtype ? t : t.to(dtype);
                }));
            }

            @Override
            public Map<String, Safetensors.Pending> unchanged(String name) {
                Tensor t = file.tensor(name);
                return Map.of(name, new Safetensors.Pending(t.dtype(), t.shape(), () -> t));
            }

            @Override
            public void close() {
                // the file belongs to the caller
            }
        };
    }
}
