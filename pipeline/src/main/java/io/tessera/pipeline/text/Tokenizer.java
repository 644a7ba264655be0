package io.tessera.pipeline.text;

import java.util.OptionalInt;

/** Text to token ids and back. Implementations are thread-safe. */
public interface Tokenizer {
    /** The ids of {@code text}, without the special tokens a model adds around a sequence (LLaMA's BOS). */
    int[] encode(String text);

    /** {@link #encode(String)}, with the post-processor's special tokens (e.g. BOS) around it when {@code addSpecialTokens}. */
    int[] encode(String text, boolean addSpecialTokens);

    /** The text of {@code ids}; added tokens such as {@code <|endoftext|>} appear as their text unless {@code skipSpecialTokens}. */
    String decode(int[] ids, boolean skipSpecialTokens);

    default String decode(int[] ids) {
        return decode(ids, false);
    }

    /** One more than the largest id, added tokens included. */
    int vocabSize();

    /** The id of a token given by its vocabulary string (e.g. {@code "<|endoftext|>"}, {@code "</s>"}). */
    OptionalInt tokenId(String token);
}
