package io.tessera.pipeline.text;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** GPT-2 ids against the reference encoder of the npm package gpt-3-encoder, on fixed and seeded random strings. */
class Gpt2ReferenceTest {
    private static final int RANDOM_STRINGS = 4000;

    @TempDir
    Path dir;

    @Test
    void idsMatchTheReferenceEncoderAndDecodeRoundTrips() throws Exception {
        List<String> strings = RandomText.referenceStrings(20261202L, RANDOM_STRINGS);
        int[][] expected = NpmReference.GPT2.run("gpt2-reference-encode.js", List.of(), strings, dir, int[][].class);
        ByteLevelBpeTokenizer fromVocabFiles = NpmReference.gpt2Tokenizer();
        BpeTokenizer fromTokenizerJson = TokenizerJson.load(JsonFiles.write(dir, JsonFiles.gpt2Vocabulary(NpmReference.GPT2.dir())));
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
        ByteLevelBpeTokenizer gpt2 = NpmReference.gpt2Tokenizer();
        // ids as published with GPT-2 (e.g. Hugging Face's GPT2Tokenizer docs: "Hello world" -> [15496, 995])
        assertArrayEquals(new int[] {15496, 995}, gpt2.encode("Hello world"));
        assertArrayEquals(new int[] {18435, 995}, gpt2.encode(" Hello world"));
        assertArrayEquals(new int[] {15496, 50256, 995}, gpt2.encode("Hello<|endoftext|> world"));
        assertEquals(50257, gpt2.vocabSize());
        assertEquals("Hello world", gpt2.decode(new int[] {15496, 50256, 995}, true));
    }
}
