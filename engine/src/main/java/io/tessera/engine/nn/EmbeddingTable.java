package io.tessera.engine.nn;

import io.tessera.engine.DType;
import io.tessera.engine.Device;
import io.tessera.engine.Tensor;
import io.tessera.engine.TensorScope;
import java.util.Arrays;
import java.util.function.LongFunction;

/**
 * A token embedding table [vocab, dim], read two ways: rows looked up by id, and (for a LM head tied to it) hidden
 * states scored against every row. Models hold their token embedding by this type, so that an int8 table can take
 * the place of an {@link Embedding} through {@link Module#transform}.
 */
public interface EmbeddingTable {
    /** Rows for ids [...] (I32 or I64) -> [..., dim]. */
    Tensor lookup(Tensor ids);

    /** hidden [..., dim] -> [..., vocab]: hidden times the table transposed (Flax's {@code Embed.attend}). */
    Tensor attend(Tensor hidden);

    /**
     * {@link #lookup} for a table whose rows are widened one at a time ({@code row}: row {@code id} as F32 [1, dim]):
     * ids [...] (I32 or I64, each checked to be in [0, vocab)) -> [..., dim] F32 on {@code device}. {@code what} names
     * the table in errors.
     */
    static Tensor lookupRows(String what, Tensor ids, long vocab, long dim, Device device, LongFunction<Tensor> row) {
        if (ids.dtype() != DType.I64 && ids.dtype() != DType.I32) {
            throw new IllegalArgumentException(what + ": ids must be I32 or I64, got " + ids.describe());
        }
        long[] shape = Arrays.copyOf(ids.shape(), ids.rank() + 1);
        shape[ids.rank()] = dim;
        long[] index = ids.toLongArray();
        if (index.length == 0) {
            return Tensor.zeros(device, shape);
        }
        Tensor[] rows = new Tensor[index.length];
        try (TensorScope scope = TensorScope.open()) {
            for (int i = 0; i < index.length; i++) {
                long id = index[i];
                if (id < 0 || id >= vocab) {
                    throw new IllegalArgumentException(what + ": id " + id + " outside [0, " + vocab + ")");
                }
                rows[i] = row.apply(id);
            }
            return scope.keep(Tensor.cat(0, rows).reshape(shape));
        }
    }
}
