package io.tessera.pipeline.text;

import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.UnaryOperator;

/**
 * Reads GPT-2's original vocabulary files: {@code encoder.json} (token -> id) and {@code vocab.bpe} (merges by rank), the
 * same formats as the {@code vocab.json} and {@code merges.txt} of Hugging Face's GPT-2 repositories.
 */
public final class Gpt2VocabFiles {
    /** GPT-2's end-of-text token, recognized in text as Hugging Face's GPT-2 tokenizer does. */
    public static final String END_OF_TEXT = "<|endoftext|>";

    private Gpt2VocabFiles() {
    }

    public static ByteLevelBpeTokenizer load(Path encoderJson, Path vocabBpe) {
        Map<String, Integer> vocab;
        List<String> lines;
        try {
            vocab = new ObjectMapper().readValue(encoderJson.toFile(), new TypeReference<Map<String, Integer>>() { });
            lines = Files.readAllLines(vocabBpe);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read GPT-2 vocabulary " + encoderJson + " / " + vocabBpe + ": " + e.getMessage(), e);
        }
        List<String[]> merges = new ArrayList<>();
        for (int i = 0; i < lines.size(); i++) {
            String line = lines.get(i);
            if ((i == 0 && line.startsWith("#version")) || line.isEmpty()) {
                continue;
            }
            String[] pair = line.split(" ", -1);
            if (pair.length != 2) {
                throw new IllegalArgumentException(vocabBpe + ":" + (i + 1) + ": " + BpeModel.quote(line) + " is not a pair of tokens");
            }
            merges.add(pair);
        }
        BpeModel model = new BpeModel(vocab, merges, false, null, false, false, encoderJson + " + " + vocabBpe);
        Integer eot = vocab.get(END_OF_TEXT);
        AddedTokens added = eot == null ? AddedTokens.NONE
                : new AddedTokens(List.of(new AddedTokens.Token(END_OF_TEXT, eot, true, false)), UnaryOperator.identity());
        return new ByteLevelBpeTokenizer(model, added, List.of(), false, true, Template.NONE);
    }
}
