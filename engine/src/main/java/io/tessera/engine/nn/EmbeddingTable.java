package io.tessera.engine.nn;

import io.tessera.engine.Tensor;

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
}
