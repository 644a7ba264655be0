package io.tessera.pipeline.text;

import java.util.OptionalInt;

/** What GPT-2's and LLaMA's tokenizers share: a {@link BpeModel}, added tokens, the post-processor's template. */
public abstract sealed class BpeTokenizer implements Tokenizer permits ByteLevelBpeTokenizer, SentencePieceBpeTokenizer {
    final BpeModel model;
    final AddedTokens added;
    private final Template template;

    BpeTokenizer(BpeModel model, AddedTokens added, Template template) {
        this.model = model;
        this.added = added;
        this.template = template;
    }

    @Override
    public final int[] encode(String text, boolean addSpecialTokens) {
        return addSpecialTokens ? template.apply(encode(text)) : encode(text);
    }

    @Override
    public final int vocabSize() {
        return Math.max(model.size(), added.idLimit());
    }

    @Override
    public final OptionalInt tokenId(String token) {
        Integer id = added.id(token);
        if (id == null) {
            id = model.id(token);
        }
        return id == null ? OptionalInt.empty() : OptionalInt.of(id);
    }

    final IllegalArgumentException unknownId(int id) {
        return new IllegalArgumentException("token id " + id + " is outside the vocabulary [0, " + vocabSize() + ")");
    }
}
