package io.tessera.pipeline.models;

import io.tessera.engine.Tensor;
import io.tessera.engine.io.InputFiles;
import io.tessera.pipeline.text.TokenizerJson;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;

/**
 * A token stream cut into consecutive sequences of {@code length} next-token examples: sequence k reads tokens
 * [k L, k L + L) and predicts [k L + 1, k L + L], so each token is predicted once. What a causal LM's Fisher and
 * fine-tuning run on.
 */
public final class TokenSequences {
    /** The suffix of a token-id file: decimal ids separated by whitespace or commas. */
    public static final String IDS_SUFFIX = ".ids";

    private final int[] tokens;
    private final int length;
    private final int count;

    private TokenSequences(int[] tokens, int length, int count) {
        this.tokens = tokens;
        this.length = length;
        this.count = count;
    }

    /**
     * At most {@code limit} sequences of {@code length} from {@code tokens}, every id checked against the vocabulary
     * of {@code vocab} ids ({@code source} names the data in messages).
     */
    public static TokenSequences of(int[] tokens, int length, int limit, long vocab, String source) {
        if (length < 1 || limit < 1) {
            throw new IllegalArgumentException("sequence length and count must be >= 1, got " + length + " and " + limit);
        }
        for (int i = 0; i < tokens.length; i++) {
            if (tokens[i] < 0 || tokens[i] >= vocab) {
                throw new IllegalArgumentException(source + ": token " + i + " has id " + tokens[i]
                        + ", outside the model's vocabulary [0, " + vocab + ")");
            }
        }
        int count = Math.min(limit, (tokens.length - 1) / length);
        if (count < 1) {
            throw new IllegalArgumentException(source + ": " + tokens.length + " tokens, need at least " + (length + 1)
                    + " for one sequence of " + length);
        }
        return new TokenSequences(Arrays.copyOf(tokens, count * length + 1), length, count);
    }

    /**
     * The tokens of {@code file}: a token-id file ({@link #IDS_SUFFIX}) as it is, or UTF-8 text encoded with the
     * {@code tokenizer.json} of {@code modelDir}.
     */
    public static int[] read(Path file, Path modelDir) throws IOException {
        InputFiles.requireFile(file);
        String text = Files.readString(file, StandardCharsets.UTF_8);
        if (file.getFileName().toString().endsWith(IDS_SUFFIX)) {
            String trimmed = text.strip();
            try {
                return trimmed.isEmpty() ? new int[0] : Arrays.stream(trimmed.split("[\\s,]+")).mapToInt(Integer::parseInt).toArray();
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException(file + ": not a token-id file (decimal ids separated by whitespace or commas): "
                        + e.getMessage(), e);
            }
        }
        Path tokenizer = modelDir.resolve("tokenizer.json");
        if (!Files.isRegularFile(tokenizer)) {
            throw new IllegalArgumentException(file + " is text, but " + modelDir + " has no tokenizer.json to encode it (give token ids"
                    + " in a file ending in " + IDS_SUFFIX + ")");
        }
        return TokenizerJson.load(tokenizer).encode(text);
    }

    public int count() {
        return count;
    }

    public int length() {
        return length;
    }

    /** Input ids [rows.length, length] (I64) of the given sequences. */
    public Tensor inputs(int... rows) {
        return window(rows, 0);
    }

    /** The next tokens [rows.length, length] (I64) of the given sequences. */
    public Tensor targets(int... rows) {
        return window(rows, 1);
    }

    /** Sequences [from, to) in order. */
    public static int[] range(int from, int to) {
        int[] rows = new int[to - from];
        Arrays.setAll(rows, i -> from + i);
        return rows;
    }

    private Tensor window(int[] rows, int shift) {
        long[] ids = new long[rows.length * length];
        for (int r = 0; r < rows.length; r++) {
            if (rows[r] < 0 || rows[r] >= count) {
                throw new IndexOutOfBoundsException("sequence " + rows[r] + " of " + count);
            }
            for (int t = 0; t < length; t++) {
                ids[r * length + t] = tokens[rows[r] * length + t + shift];
            }
        }
        return Tensor.of(ids, rows.length, length);
    }
}
