package io.tessera.pipeline.text;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
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
}
