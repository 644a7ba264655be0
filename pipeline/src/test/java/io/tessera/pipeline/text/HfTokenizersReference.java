package io.tessera.pipeline.text;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.file.Path;
import java.util.List;

/**
 * Checks a tokenizer read from a tokenizer.json against Hugging Face's JavaScript tokenizers ({@link
 * NpmReference#HF_TOKENIZERS}) reading the same file: ids with and without the post-processor's special tokens, and the
 * text of each decoded. (That reference agreed with Hugging Face's Rust tokenizers 0.22.2, the Python package's core, on
 * 6,000 random strings for each tokenizer kind tested here, ids and decoded text.)
 */
final class HfTokenizersReference {
    /** What the reference made of the strings: their ids, and the text of those ids decoded. */
    record Encoded(int[][] ids, String[] texts) {
    }

    /** The strings encoded without and with the post-processor's special tokens. */
    record Encodings(Encoded plain, Encoded special) {
    }

    private HfTokenizersReference() {
    }

    /**
     * Asserts that the tokenizer in {@code tokenizerJson} encodes every string as the reference does, with and without
     * special tokens, and decodes the reference's ids to the reference's text; returns the reference's plain ids.
     */
    static int[][] assertSameAsReference(Path tokenizerJson, List<String> strings, Path workDir) throws Exception {
        BpeTokenizer tokenizer = TokenizerJson.load(tokenizerJson);
        Encodings reference = NpmReference.HF_TOKENIZERS.run("hf-tokenizers-encode.mjs", List.of(tokenizerJson.toString()), strings,
                workDir, Encodings.class);
        Encoded plain = reference.plain();
        Encoded special = reference.special();
        for (int i = 0; i < strings.size(); i++) {
            String where = "string " + i + " " + BpeModel.quote(strings.get(i));
            assertArrayEquals(plain.ids()[i], tokenizer.encode(strings.get(i)), where);
            assertArrayEquals(special.ids()[i], tokenizer.encode(strings.get(i), true), where + " with special tokens");
            assertEquals(plain.texts()[i], tokenizer.decode(plain.ids()[i]), where + " decoded");
            assertEquals(special.texts()[i], tokenizer.decode(special.ids()[i]), where + " decoded with special tokens");
        }
        return plain.ids();
    }
}
