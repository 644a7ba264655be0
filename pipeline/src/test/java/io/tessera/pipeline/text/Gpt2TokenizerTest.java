package io.tessera.pipeline.text;

import static io.tessera.pipeline.text.JsonFiles.object;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.OptionalInt;
import java.util.regex.Matcher;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** GPT-2's byte-level BPE on a hand-built tokenizer.json whose ids are worked out by hand. */
class Gpt2TokenizerTest {
    /** Token ids: every byte's character has the byte's value, then the merged tokens from 256 on. */
    private static final int G_T = 256;
    private static final int HE = 257;
    private static final int G_THE = 258;
    private static final int APOS_S = 259;
    private static final int END = 260;

    @TempDir
    Path dir;

    @Test
    void byteCharactersAreGpt2s() {
        assertEquals("Ġ", ByteLevel.encode(new byte[] {' '}));
        assertEquals("Ċ", ByteLevel.encode(new byte[] {'\n'}));
        assertEquals("\u0100", ByteLevel.encode(new byte[] {0}));
        assertEquals("\u0143", ByteLevel.encode(new byte[] {(byte) 0xAD}));
        assertEquals("aÿ~", ByteLevel.encode(new byte[] {'a', (byte) 0xFF, '~'}));
        for (int b = 0; b < 256; b++) {
            char c = ByteLevel.encode(new byte[] {(byte) b}).charAt(0);
            assertEquals(b, ByteLevel.decode(c));
            assertTrue(!Character.isWhitespace(c) && !Character.isISOControl(c) && !Character.isSpaceChar(c), "byte " + b);
        }
        assertEquals(-1, ByteLevel.decode('\u0200'));
    }

    @Test
    void preTokenizerSplitsAsGpt2() {
        assertEquals(List.of("Hello", " world", "'s", " ", " 3", ".", "5", "\n", "\n", "ok", "  "), split("Hello world's  3.5\n\nok  "));
        assertEquals(List.of("I", "'", "M", " don", "'t", "\t", " x"), split("I'M don't\t x"), "contractions are lower case only");
        // U+0085 is White_Space as in Python's regex module and HF tokenizers (JavaScript's \s would not split it off)
        assertEquals(List.of("x", "\u0085", "\u0085", "y"), split("x\u0085\u0085y"));
    }

    @Test
    void mergesByRank() {
        ByteLevelBpeTokenizer t = tokenizer(false);
        assertArrayEquals(new int[] {'t', HE, G_THE, APOS_S}, t.encode("the the's"));
        assertArrayEquals(new int[] {'t', HE, END, G_THE}, t.encode("the<|endoftext|> the"));
        assertArrayEquals(new int[] {' ', 'c', 'a', 't'}, t.encode(" cat"));
        assertArrayEquals(new int[] {0xC3, 0xA9}, t.encode("é"));
        assertEquals(OptionalInt.of(END), t.tokenId("<|endoftext|>"));
        assertEquals(OptionalInt.of(G_THE), t.tokenId("Ġthe"));
        assertEquals(261, t.vocabSize());
    }

    @Test
    void addPrefixSpace() {
        assertArrayEquals(new int[] {G_THE}, tokenizer(true).encode("the"));
    }

    @Test
    void decodesLosslessly() {
        ByteLevelBpeTokenizer t = tokenizer(false);
        for (String s : List.of("the the's", "é👍🏽 日本\t\n ", "<|endoftext|>x", "")) {
            assertEquals(s, t.decode(t.encode(s)));
        }
        assertEquals("the x", t.decode(new int[] {'t', HE, END, ' ', 'x'}, true));
        assertEquals("\uFFFD", t.decode(new int[] {0xC3}), "a lone lead byte decodes to U+FFFD");
        var e = assertThrows(IllegalArgumentException.class, () -> t.decode(new int[] {'a', 261}));
        assertEquals("token id 261 is outside the vocabulary [0, 261)", e.getMessage());
    }

    @Test
    @SuppressWarnings("unchecked")
    void rejectsWhatItDoesNotImplement() {
        Map<String, Object> root = tokenizerJson(false);
        ((Map<String, Object>) root.get("model")).put("type", "WordPiece");
        var e = assertThrows(IllegalArgumentException.class, () -> TokenizerJson.load(JsonFiles.write(dir, root)));
        assertTrue(e.getMessage().endsWith("tokenizer.json: model.type WordPiece is not supported (only BPE)"), e.getMessage());

        Map<String, Object> badMerge = tokenizerJson(false);
        ((List<Object>) ((Map<String, Object>) badMerge.get("model")).get("merges")).add("x y z");
        e = assertThrows(IllegalArgumentException.class, () -> TokenizerJson.load(JsonFiles.write(dir, badMerge)));
        assertTrue(e.getMessage().contains("model.merges[4] \"x y z\" is not a pair of tokens"), e.getMessage());

        Map<String, Object> missing = tokenizerJson(false);
        ((List<Object>) ((Map<String, Object>) missing.get("model")).get("merges")).add("the q");
        e = assertThrows(IllegalArgumentException.class, () -> TokenizerJson.load(JsonFiles.write(dir, missing)));
        assertTrue(e.getMessage().contains("token \"the\" (merge 4) is not in the vocabulary"), e.getMessage());

        Map<String, Object> decoder = tokenizerJson(false);
        decoder.put("decoder", object("type", "WordPiece"));
        e = assertThrows(IllegalArgumentException.class, () -> TokenizerJson.load(JsonFiles.write(dir, decoder)));
        assertTrue(e.getMessage().contains("decoder \"WordPiece\" is not supported with this model (expected ByteLevel)"), e.getMessage());
    }

    private static List<String> split(String text) {
        List<String> pieces = new ArrayList<>();
        Matcher m = ByteLevelBpeTokenizer.PRE_TOKENIZER.matcher(text);
        while (m.find()) {
            pieces.add(m.group());
        }
        return pieces;
    }

    private ByteLevelBpeTokenizer tokenizer(boolean addPrefixSpace) {
        return (ByteLevelBpeTokenizer) TokenizerJson.load(JsonFiles.write(dir, tokenizerJson(addPrefixSpace)));
    }

    private static Map<String, Object> tokenizerJson(boolean addPrefixSpace) {
        Map<String, Integer> vocab = new LinkedHashMap<>();
        for (int b = 0; b < 256; b++) {
            vocab.put(ByteLevel.encode(new byte[] {(byte) b}), b);
        }
        vocab.put("Ġt", G_T);
        vocab.put("he", HE);
        vocab.put("Ġthe", G_THE);
        vocab.put("'s", APOS_S);
        Map<String, Object> byteLevel = object("type", "ByteLevel", "add_prefix_space", addPrefixSpace, "trim_offsets", true,
                "use_regex", true);
        return object("version", "1.0",
                "added_tokens", List.of(object("id", END, "content", "<|endoftext|>", "single_word", false, "lstrip", false,
                        "rstrip", false, "normalized", true, "special", true)),
                "normalizer", null, "pre_tokenizer", byteLevel, "post_processor", byteLevel, "decoder", byteLevel,
                "model", object("type", "BPE", "dropout", null, "unk_token", null, "continuing_subword_prefix", "",
                        "end_of_word_suffix", "", "fuse_unk", false, "byte_fallback", false, "vocab", vocab,
                        "merges", new ArrayList<>(List.of("Ġ t", "h e", "Ġt he", "' s"))));
    }
}
