package io.tessera.pipeline.text;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;

import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.InputStream;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.zip.GZIPInputStream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Tokenizer forms where Hugging Face's JavaScript tokenizers (the reference of the other tests) differ from the Rust
 * original, against golden ids and texts from Rust's (made by src/test/python/make_tokenizer_golden.py, whose comment
 * lists the forms): Metaspace pre-tokenizers and decoders, and added tokens marked {@code normalized} (with LLaMA's
 * normalizer and with NFC) or with {@code single_word}, {@code lstrip} and {@code rstrip}.
 */
class RustTokenizersGoldenTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static JsonNode golden;
    private static List<String> strings;

    @TempDir
    Path dir;

    @BeforeAll
    static void readGolden() throws Exception {
        try (InputStream in = new GZIPInputStream(RustTokenizersGoldenTest.class.getResourceAsStream("rust-tokenizers-golden.json.gz"))) {
            golden = JSON.readTree(in);
        }
        strings = JSON.convertValue(golden.get("strings"), new TypeReference<List<String>>() { });
    }

    @Test
    void metaspaceForms() throws Exception {
        assertFormsMatch("first", "always-split", "first-decoder-never", "never-decoder-always");
    }

    /** Added tokens marked normalized, and with single_word, lstrip and rstrip, in both kinds of tokenizer. */
    @Test
    void addedTokensMatchAsInRust() throws Exception {
        assertFormsMatch("llama2-added-tokens", "first-added-tokens", "gpt2-nfc-added-tokens");
        // a normalized token takes the ▁ LLaMA's normalizer put before it (decoding does not give the space back, as in
        // Hugging Face's); one glued to a word is not matched at all
        BpeTokenizer llama = load(golden.get("forms").get("llama2-added-tokens"));
        assertArrayEquals(new int[] {1200}, llama.encode("<pad>"));
        assertEquals(1200, llama.encode("a <pad>")[1]);
        assertNotEquals(1200, llama.encode("a<pad>")[1]);
        // lstrip takes the spaces before [MASK], rstrip those after <|assistant|>; a single_word token inside a word is text
        assertArrayEquals(llama.encode("x[MASK]<|assistant|>y"), llama.encode("x  [MASK]<|assistant|> \ty"));
        assertEquals(1208, llama.encode("a Zqxj")[1]);
        assertNotEquals(1208, llama.encode("aZqxj")[1]);
    }

    private void assertFormsMatch(String... names) throws Exception {
        for (String name : names) {
            JsonNode form = golden.get("forms").get(name);
            assertNotEquals(null, form, name + " is in the golden file");
            BpeTokenizer tokenizer = load(form);
            for (int i = 0; i < strings.size(); i++) {
                String where = name + ", string " + i + " " + BpeModel.quote(strings.get(i));
                int[] ids = ints(form.get("ids").get(i));
                assertArrayEquals(ids, tokenizer.encode(strings.get(i)), where);
                assertArrayEquals(ints(form.get("special_ids").get(i)), tokenizer.encode(strings.get(i), true), where + " with specials");
                assertEquals(form.get("texts").get(i).asText(), tokenizer.decode(ids), where + " decoded");
            }
        }
    }

    /** The form's base tokenizer.json with its top-level keys replaced by the form's {@code changes}. */
    private BpeTokenizer load(JsonNode form) throws Exception {
        Map<String, Object> root = switch (form.get("base").asText()) {
            case "sentencepiece" -> SentencePieceReferenceTest.trained();
            case "gpt2" -> JsonFiles.gpt2Vocabulary(NpmReference.GPT2.dir());
            default -> throw new IllegalArgumentException("unknown base " + form.get("base"));
        };
        root.putAll(JSON.convertValue(form.get("changes"), new TypeReference<Map<String, Object>>() { }));
        return TokenizerJson.load(JsonFiles.write(dir, root));
    }

    private static int[] ints(JsonNode array) {
        int[] values = new int[array.size()];
        for (int i = 0; i < values.length; i++) {
            values[i] = array.get(i).asInt();
        }
        return values;
    }
}
