package io.tessera.pipeline.text;

import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.InputStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * LLaMA's SentencePiece-style BPE in its tokenizer.json forms, against Hugging Face's JavaScript tokenizers. The
 * vocabulary, {@code sentencepiece-bpe-1200.json}, was trained by Hugging Face's tokenizers 0.22.2 (BpeTrainer, 1,200
 * tokens, byte fallback, unknown token fused) on Debian's /usr/share/common-licenses texts with LLaMA-2's components: a
 * Prepend + Replace normalizer, the Replace / ByteFallback / Fuse / Strip decoder and a {@code <s> $A} template.
 * {@link RustTokenizersGoldenTest} swaps in Metaspace pre-tokenizers and decoders, as newer conversions (Mistral's) write
 * them.
 */
class SentencePieceReferenceTest {
    private static final int RANDOM_STRINGS = 2000;

    @TempDir
    Path dir;

    /** LLaMA-2's form against the JavaScript reference (which agreed with Rust's on 6,000 random strings in this form). */
    @Test
    void llama2FormMatchesTheReference() throws Exception {
        int[][] ids = HfTokenizersReference.assertSameAsReference(JsonFiles.write(dir, trained()), strings(), dir);
        assertTrue(Arrays.stream(ids).anyMatch(i -> Arrays.stream(i).anyMatch(id -> id >= 3 && id < 259)),
                "some characters fell back to byte tokens");
    }

    @SuppressWarnings("unchecked")
    static Map<String, Object> trained() throws Exception {
        try (InputStream in = SentencePieceReferenceTest.class.getResourceAsStream("sentencepiece-bpe-1200.json")) {
            return new ObjectMapper().readValue(in, Map.class);
        }
    }

    private static List<String> strings() {
        List<String> strings = new ArrayList<>(List.of("<s>Hello</s> world <s>", " leading space", "  two", "\u2581already",
                "Licensed under the Apache License, Version 2.0", "unknown \u0007 and \u00a0"));
        strings.addAll(RandomText.referenceStrings(20261206L, RANDOM_STRINGS));
        return strings;
    }
}
