package io.tessera.pipeline.text;

import static io.tessera.pipeline.text.JsonFiles.object;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.InputStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.zip.GZIPInputStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * LLaMA's SentencePiece-style BPE in its tokenizer.json forms, against Hugging Face's JavaScript tokenizers. The
 * vocabulary, {@code sentencepiece-bpe-1200.json}, was trained by Hugging Face's tokenizers 0.22.2 (BpeTrainer, 1,200
 * tokens, byte fallback, unknown token fused) on Debian's /usr/share/common-licenses texts with LLaMA-2's components: a
 * Prepend + Replace normalizer, the Replace / ByteFallback / Fuse / Strip decoder and a {@code <s> $A} template. The
 * other forms swap in Metaspace pre-tokenizers and decoders, as newer conversions (Mistral's) write them.
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

    /**
     * The Metaspace forms against golden ids and texts from Hugging Face's Rust tokenizers (made by
     * src/test/python/make_metaspace_golden.py): the JavaScript reference differs from it on two of their edge cases.
     */
    @Test
    void metaspaceFormsMatchRustTokenizersGoldenOutput() throws Exception {
        JsonNode golden;
        try (InputStream in = new GZIPInputStream(SentencePieceReferenceTest.class.getResourceAsStream(
                "sentencepiece-metaspace-golden.json.gz"))) {
            golden = new ObjectMapper().readTree(in);
        }
        List<String> strings = new ObjectMapper().convertValue(golden.get("strings"), new TypeReference<List<String>>() { });
        assertEquals(4, golden.get("forms").size());
        for (var form : golden.get("forms").properties()) {
            JsonNode f = form.getValue();
            BpeTokenizer tokenizer = TokenizerJson.load(JsonFiles.write(dir, metaspace(f.get("prepend_scheme").asText(),
                    f.get("split").asBoolean(), f.get("decoder_prepend_scheme").asText())));
            for (int i = 0; i < strings.size(); i++) {
                String where = form.getKey() + ", string " + i + " " + BpeModel.quote(strings.get(i));
                int[] ids = ints(f.get("ids").get(i));
                assertArrayEquals(ids, tokenizer.encode(strings.get(i)), where);
                assertArrayEquals(ints(f.get("special_ids").get(i)), tokenizer.encode(strings.get(i), true), where + " with BOS");
                assertEquals(f.get("texts").get(i).asText(), tokenizer.decode(ids), where + " decoded");
            }
        }
    }

    private static int[] ints(JsonNode array) {
        int[] values = new int[array.size()];
        for (int i = 0; i < values.length; i++) {
            values[i] = array.get(i).asInt();
        }
        return values;
    }

    /** Metaspace pre-tokenizer and decoder, each with its own prepend scheme (real files set them alike; HF reads each). */
    private static Map<String, Object> metaspace(String prependScheme, boolean split, String decoderPrependScheme) throws Exception {
        Map<String, Object> root = trained();
        root.put("normalizer", null);
        root.put("pre_tokenizer", object("type", "Metaspace", "replacement", "\u2581", "prepend_scheme", prependScheme, "split", split));
        root.put("decoder", object("type", "Metaspace", "replacement", "\u2581", "prepend_scheme", decoderPrependScheme, "split", split));
        return root;
    }

    @SuppressWarnings("unchecked")
    private static Map<String, Object> trained() throws Exception {
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
