package io.tessera.pipeline.text;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** GPT-2 ids against the reference encoder of the npm package gpt-3-encoder, on fixed and seeded random strings. */
class Gpt2ReferenceTest {
    private static final int RANDOM_STRINGS = 4000;

    @TempDir
    Path dir;

    @Test
    void idsMatchTheReferenceEncoderAndDecodeRoundTrips() throws Exception {
        List<String> strings = strings();
        int[][] expected = Gpt2Reference.encode(strings, dir);
        Gpt2Tokenizer fromVocabFiles = Gpt2Reference.tokenizer();
        BpeTokenizer fromTokenizerJson = TokenizerJson.load(tokenizerJson(Gpt2Reference.packageDir()));
        long tokens = 0;
        for (int i = 0; i < strings.size(); i++) {
            String s = strings.get(i);
            String where = "string " + i + " " + BpeModel.quote(s);
            assertArrayEquals(expected[i], fromVocabFiles.encode(s), where);
            assertArrayEquals(expected[i], fromTokenizerJson.encode(s), where + " (tokenizer.json)");
            assertEquals(s, fromVocabFiles.decode(expected[i]), where);
            tokens += expected[i].length;
        }
        assertTrue(tokens > 20 * strings.size(), "the strings are long enough to exercise merges: " + tokens + " tokens");
    }

    @Test
    void knownIds() {
        Gpt2Tokenizer gpt2 = Gpt2Reference.tokenizer();
        // ids as published with GPT-2 (e.g. Hugging Face's GPT2Tokenizer docs: "Hello world" -> [15496, 995])
        assertArrayEquals(new int[] {15496, 995}, gpt2.encode("Hello world"));
        assertArrayEquals(new int[] {18435, 995}, gpt2.encode(" Hello world"));
        assertArrayEquals(new int[] {15496, 50256, 995}, gpt2.encode("Hello<|endoftext|> world"));
        assertEquals(50257, gpt2.vocabSize());
        assertEquals("Hello world", gpt2.decode(new int[] {15496, 50256, 995}, true));
    }

    private static List<String> strings() {
        List<String> strings = new ArrayList<>(List.of("", " ", "  ", "\n", " \n\n ", "\t\tx", "a  ", "I'm here, aren't you?",
                "I'M HERE'S", "it's 3.14159 o'clock", "ÅÄÖ naïve café", "日本語のテキスト", "👨‍👩‍👧 family 👍🏽", "e\u0301\u0301",
                "    def f(x):\n        return x  \n", "1,000,000 and 1000000", "!!!???...", "word\u00a0word\u3000end "));
        // long words: a CJK paragraph is a single regex match, and whitespace runs are one piece
        var cjk = new StringBuilder();
        new Random(7).ints(1500, 0x4E00, 0x9FA6).forEach(cjk::appendCodePoint);
        strings.addAll(List.of(cjk.toString(), "ab".repeat(700), " ".repeat(300) + "x", "\n".repeat(50)));
        RandomText random = new RandomText(20261202L);
        for (int i = 0; i < RANDOM_STRINGS; i++) {
            strings.add(random.next());
        }
        return strings;
    }

    /** The package's vocabulary as a Hugging Face tokenizer.json, in the layout of the gpt2 repository's file. */
    private Path tokenizerJson(Path pkg) throws Exception {
        var json = new ObjectMapper();
        Map<?, ?> vocab = json.readValue(pkg.resolve("encoder.json").toFile(), Map.class);
        List<String> merges = Files.readAllLines(pkg.resolve("vocab.bpe")).stream()
                .filter(l -> !l.isEmpty() && !l.startsWith("#version")).toList();
        Map<String, Object> model = new LinkedHashMap<>();
        model.put("type", "BPE");
        model.put("dropout", null);
        model.put("unk_token", null);
        model.put("continuing_subword_prefix", "");
        model.put("end_of_word_suffix", "");
        model.put("fuse_unk", false);
        model.put("byte_fallback", false);
        model.put("vocab", vocab);
        model.put("merges", merges);
        Map<String, Object> byteLevel = Map.of("type", "ByteLevel", "add_prefix_space", false, "trim_offsets", true, "use_regex", true);
        Map<String, Object> root = new LinkedHashMap<>();
        root.put("version", "1.0");
        root.put("added_tokens", List.of(Map.of("id", 50256, "content", "<|endoftext|>", "single_word", false, "lstrip", false,
                "rstrip", false, "normalized", true, "special", true)));
        root.put("normalizer", null);
        root.put("pre_tokenizer", byteLevel);
        root.put("post_processor", byteLevel);
        root.put("decoder", byteLevel);
        root.put("model", model);
        Path file = dir.resolve("tokenizer.json");
        json.writeValue(file.toFile(), root);
        return file;
    }
}
