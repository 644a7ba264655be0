package io.tessera.pipeline.text;

import static io.tessera.pipeline.text.JsonFiles.object;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.OptionalInt;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** LLaMA's tokenizer.json layout on a hand-built vocabulary whose ids are worked out by hand. */
class SentencePieceBpeTokenizerTest {
    private static final int UNK = 0;
    private static final int BOS = 1;
    private static final int EOS = 2;
    /** {@code <0xNN>} is 3 + NN. */
    private static final int BYTE0 = 3;
    private static final int META = 259;
    private static final int H = 260;
    private static final int E = 261;
    private static final int L = 262;
    private static final int O = 263;
    private static final int M_H = 267;
    private static final int LL = 268;
    private static final int M_HELLO = 271;
    private static final int M_WORLD = 276;
    private static final int M_M = 277;
    private static final List<String> TOKENS = List.of("▁", "h", "e", "l", "o", "w", "r", "d",
            "▁h", "ll", "▁he", "▁hell", "▁hello", "▁w", "or", "▁wor", "▁worl", "▁world", "▁▁");
    private static final List<String> MERGES = List.of("▁ h", "l l", "▁h e", "▁he ll", "▁hell o", "▁ w", "o r", "▁w or",
            "▁wor l", "▁worl d", "▁ ▁");

    @TempDir
    Path dir;

    @Test
    void llama2Layout() {
        Tokenizer t = load(llama(normalizerForm(), true));
        assertArrayEquals(new int[] {M_HELLO, M_WORLD}, t.encode("hello world"));
        assertArrayEquals(new int[] {BOS, M_HELLO, M_WORLD}, t.encode("hello world", true));
        // ranks, not position: "▁ h" (rank 0) is merged before "▁ ▁" (rank 10) although the spaces come first
        assertArrayEquals(new int[] {M_M, M_HELLO}, t.encode("  hello"));
        // é and the emoji are not in the vocabulary: their UTF-8 bytes
        assertArrayEquals(new int[] {M_H, BYTE0 + 0xC3, BYTE0 + 0xA9, LL, O}, t.encode("héllo"));
        assertArrayEquals(new int[] {META, BYTE0 + 0xF0, BYTE0 + 0x9F, BYTE0 + 0x98, BYTE0 + 0x80}, t.encode("😀"));
        // the Prepend normalizer runs on every piece between added tokens
        assertArrayEquals(new int[] {BOS, M_HELLO, EOS}, t.encode("<s>hello</s>"));
        assertEquals(OptionalInt.of(EOS), t.tokenId("</s>"));
        assertEquals(278, t.vocabSize());
    }

    @Test
    void decodes() {
        Tokenizer t = load(llama(normalizerForm(), true));
        for (String s : List.of("hello world", "  hello", "héllo 😀 world", "日本 hello\n")) {
            assertEquals(s, t.decode(t.encode(s)));
        }
        assertEquals("<s> hello</s>", t.decode(new int[] {BOS, M_HELLO, EOS}));
        assertEquals("hello", t.decode(new int[] {BOS, M_HELLO, EOS}, true));
        assertEquals("h\uFFFD", t.decode(new int[] {H, BYTE0 + 0xC3}), "a lone lead byte decodes to U+FFFD");
        assertThrows(IllegalArgumentException.class, () -> t.decode(new int[] {278}));
    }

    @Test
    void metaspacePrependsOnlyAtTheStartWithSchemeFirst() {
        Map<String, Object> root = llama(null, true);
        root.put("pre_tokenizer", object("type", "Metaspace", "replacement", "▁", "prepend_scheme", "first", "split", false));
        root.put("decoder", object("type", "Metaspace", "replacement", "▁", "prepend_scheme", "first", "split", false));
        Tokenizer t = load(root);
        assertArrayEquals(new int[] {M_HELLO, M_WORLD}, t.encode("hello world"));
        assertArrayEquals(new int[] {BOS, H, E, LL, O}, t.encode("<s>hello"));
        assertEquals("hello world", t.decode(new int[] {M_HELLO, M_WORLD}));
    }

    @Test
    void unknownCharactersWithoutByteFallbackFuseIntoOneUnk() {
        Tokenizer t = load(llama(normalizerForm(), false));
        assertArrayEquals(new int[] {M_H, UNK, O}, t.encode("hééo"));
    }

    @Test
    void rejectsOtherNormalizers() {
        Map<String, Object> root = llama(object("type", "NFKC"), true);
        var e = assertThrows(IllegalArgumentException.class, () -> load(root));
        assertTrue(e.getMessage().contains("tokenizer.json: normalizer {\"type\":\"NFKC\"} is not supported"), e.getMessage());
    }

    private Tokenizer load(Map<String, Object> root) {
        return TokenizerJson.load(JsonFiles.write(dir, root));
    }

    private static Map<String, Object> normalizerForm() {
        return object("type", "Sequence", "normalizers", List.of(object("type", "Prepend", "prepend", "▁"),
                object("type", "Replace", "pattern", object("String", " "), "content", "▁")));
    }

    /** Hugging Face's conversion of LLaMA-2's tokenizer, with {@link #TOKENS} after the byte tokens. */
    private static Map<String, Object> llama(Map<String, Object> normalizer, boolean byteFallback) {
        Map<String, Integer> vocab = new LinkedHashMap<>();
        vocab.put("<unk>", UNK);
        vocab.put("<s>", BOS);
        vocab.put("</s>", EOS);
        for (int b = 0; b < 256; b++) {
            vocab.put(String.format("<0x%02X>", b), BYTE0 + b);
        }
        for (String token : TOKENS) {
            vocab.put(token, vocab.size());
        }
        List<Object> added = List.of(added(UNK, "<unk>"), added(BOS, "<s>"), added(EOS, "</s>"));
        List<Object> single = List.of(object("SpecialToken", object("id", "<s>", "type_id", 0)),
                object("Sequence", object("id", "A", "type_id", 0)));
        Map<String, Object> template = object("type", "TemplateProcessing", "single", single,
                "special_tokens", object("<s>", object("id", "<s>", "ids", List.of(BOS), "tokens", List.of("<s>"))));
        Map<String, Object> decoder = object("type", "Sequence", "decoders", List.of(
                object("type", "Replace", "pattern", object("String", "▁"), "content", " "), object("type", "ByteFallback"),
                object("type", "Fuse"), object("type", "Strip", "content", " ", "start", 1, "stop", 0)));
        return object("version", "1.0", "added_tokens", added, "normalizer", normalizer, "pre_tokenizer", null,
                "post_processor", template, "decoder", decoder,
                "model", object("type", "BPE", "dropout", null, "unk_token", "<unk>", "continuing_subword_prefix", null,
                        "end_of_word_suffix", null, "fuse_unk", true, "byte_fallback", byteFallback, "vocab", vocab, "merges", MERGES));
    }

    private static Map<String, Object> added(int id, String content) {
        return object("id", id, "content", content, "single_word", false, "lstrip", false, "rstrip", false, "normalized", false,
                "special", true);
    }
}
