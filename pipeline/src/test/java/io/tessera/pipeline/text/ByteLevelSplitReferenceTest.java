package io.tessera.pipeline.text;

import static io.tessera.pipeline.text.JsonFiles.addedToken;
import static io.tessera.pipeline.text.JsonFiles.object;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The byte-level tokenizers of Qwen2 (NFC, a Split regex, ByteLevel without its own regex) and LLaMA-3 (numbers in runs
 * of at most three, {@code ignore_merges}, BOS from a template after ByteLevel's post-processor), built on GPT-2's
 * vocabulary in those files' layouts, against Hugging Face's JavaScript tokenizers on fixed and seeded random strings.
 */
class ByteLevelSplitReferenceTest {
    private static final int RANDOM_STRINGS = 3000;
    static final String QWEN2_PATTERN = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*"
            + "|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
    static final String LLAMA3_PATTERN = QWEN2_PATTERN.replace("|\\p{N}|", "|\\p{N}{1,3}|");
    /** A token LLaMA-3's file adds with no merges that make it: only ignore_merges finds it. */
    private static final String UNMERGED_WORD = " zzzqqq";
    private static final int UNMERGED_ID = 50259;

    @TempDir
    Path dir;

    @Test
    void qwen2StyleIdsMatchTheReference() throws Exception {
        Map<String, Object> root = JsonFiles.gpt2Vocabulary(NpmReference.GPT2.dir());
        root.put("added_tokens", List.of(addedToken(50256, "<|endoftext|>", false), addedToken(50257, "<|im_start|>", false),
                addedToken(50258, "<|im_end|>", false)));
        root.put("normalizer", object("type", "NFC"));
        root.put("pre_tokenizer", splitThenByteLevel(QWEN2_PATTERN));
        List<String> strings = strings(List.of("<|im_start|>user\nWhat's 12345+678?<|im_end|>\n<|im_start|>assistant\n",
                "e\u0301 vs \u00e9, \u212b vs \u00c5", "'S 'LL 'Ve I'D"));
        int[][] ids = HfTokenizersReference.assertSameAsReference(JsonFiles.write(dir, root), strings, dir);
        int[][] gpt2 = NpmReference.GPT2.run("gpt2-reference-encode.js", List.of(), strings, dir, int[][].class);
        int differentFromGpt2 = 0;
        for (int i = 0; i < strings.size(); i++) {
            differentFromGpt2 += Arrays.equals(ids[i], gpt2[i]) ? 0 : 1;
        }
        assertTrue(differentFromGpt2 > strings.size() / 10, "Qwen2's split differs from GPT-2's on " + differentFromGpt2 + " strings");
        assertEquals(50257, ids[0][0], "<|im_start|> is one token");
    }

    @Test
    void llama3StyleIdsMatchTheReference() throws Exception {
        Map<String, Object> root = JsonFiles.gpt2Vocabulary(NpmReference.GPT2.dir());
        root.put("added_tokens", List.of(addedToken(50257, "<|begin_of_text|>", false), addedToken(50258, "<|end_of_text|>", false)));
        root.put("pre_tokenizer", splitThenByteLevel(LLAMA3_PATTERN));
        Map<String, Object> bos = object("SpecialToken", object("id", "<|begin_of_text|>", "type_id", 0));
        root.put("post_processor", object("type", "Sequence", "processors", List.of(
                object("type", "ByteLevel", "add_prefix_space", true, "trim_offsets", false, "use_regex", true),
                object("type", "TemplateProcessing",
                        "single", List.of(bos, object("Sequence", object("id", "A", "type_id", 0))),
                        "pair", List.of(bos, object("Sequence", object("id", "A", "type_id", 0)), bos,
                                object("Sequence", object("id", "B", "type_id", 1))),
                        "special_tokens", object("<|begin_of_text|>", object("id", "<|begin_of_text|>", "ids", List.of(50257),
                                "tokens", List.of("<|begin_of_text|>")))))));
        @SuppressWarnings("unchecked")
        Map<String, Object> model = (Map<String, Object>) root.get("model");
        Map<String, Object> vocab = new LinkedHashMap<>((Map<String, Object>) model.get("vocab"));
        vocab.put(ByteLevel.encode(UNMERGED_WORD.getBytes(StandardCharsets.UTF_8)), UNMERGED_ID);
        model.put("vocab", vocab);
        model.put("ignore_merges", true);
        List<String> strings = strings(List.of("1234567 and 12.3456, 9999999999", "<|begin_of_text|>hi<|end_of_text|>",
                "x" + UNMERGED_WORD + UNMERGED_WORD + "!"));
        int[][] ids = HfTokenizersReference.assertSameAsReference(JsonFiles.write(dir, root), strings, dir);
        assertEquals(50257, TokenizerJson.load(dir.resolve("tokenizer.json")).encode("x", true)[0], "BOS first");
        assertEquals(2, Arrays.stream(ids).flatMapToInt(Arrays::stream).filter(id -> id == UNMERGED_ID).count(),
                "ignore_merges found the token no merge makes, twice");
    }

    @Test
    void unsupportedPreTokenizerStepsAreRejectedByName() {
        Map<String, Object> root = JsonFiles.gpt2Vocabulary(NpmReference.GPT2.dir());
        Map<String, Object> split = object("type", "Split", "pattern", object("Regex", "\\s+"), "behavior", "Removed", "invert", false);
        root.put("pre_tokenizer", object("type", "Sequence", "pretokenizers", List.of(split,
                object("type", "ByteLevel", "add_prefix_space", false, "use_regex", false))));
        var e = assertThrows(IllegalArgumentException.class, () -> TokenizerJson.load(JsonFiles.write(dir, root)));
        assertTrue(e.getMessage().contains("pretokenizers[0]") && e.getMessage().contains("Removed"), e.getMessage());
        root.put("pre_tokenizer", splitThenByteLevel("(unclosed"));
        e = assertThrows(IllegalArgumentException.class, () -> TokenizerJson.load(JsonFiles.write(dir, root)));
        assertTrue(e.getMessage().contains("does not compile"), e.getMessage());
        root.put("pre_tokenizer", splitThenByteLevel(QWEN2_PATTERN));
        root.put("normalizer", object("type", "Lowercase"));
        e = assertThrows(IllegalArgumentException.class, () -> TokenizerJson.load(JsonFiles.write(dir, root)));
        assertTrue(e.getMessage().contains("normalizer \"Lowercase\""), e.getMessage());
        root.put("normalizer", null);
        assertInstanceOf(ByteLevelBpeTokenizer.class, TokenizerJson.load(JsonFiles.write(dir, root)));
    }

    private static Map<String, Object> splitThenByteLevel(String regex) {
        return object("type", "Sequence", "pretokenizers", List.of(
                object("type", "Split", "pattern", object("Regex", regex), "behavior", "Isolated", "invert", false),
                object("type", "ByteLevel", "add_prefix_space", false, "trim_offsets", false, "use_regex", false)));
    }

    private static List<String> strings(List<String> extra) {
        List<String> strings = new ArrayList<>(extra);
        strings.addAll(RandomText.referenceStrings(20261205L, RANDOM_STRINGS));
        return strings;
    }

}
