package io.tessera.pipeline.text;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.function.UnaryOperator;
import java.util.stream.Collectors;

/**
 * Tokens matched before pre-tokenization ({@code <|endoftext|>}, {@code <s>}), as Hugging Face's tokenizers match them:
 * first the tokens not marked {@code normalized}, in the raw text; then each piece between them goes through the
 * file's normalizer, and the {@code normalized} tokens are matched in that normalized text, each by its own normalized
 * content (with LLaMA's normalizer, {@code <pad>} is looked for as {@code ▁<pad>}). At each position the longest token
 * wins. Only the pieces between tokens go on to BPE, already normalized.
 */
final class AddedTokens {
    /** One added token of a {@code tokenizer.json}'s {@code added_tokens}. */
    record Token(String content, int id, boolean special, boolean normalized) {
    }

    /** A piece of the input: either text, normalized ({@code id} -1), or an added token. */
    record Piece(String text, int id) {
    }

    /** A token as it is looked for: its content, or its normalized content. */
    private record Pattern(String text, int id) {
    }

    static final AddedTokens NONE = new AddedTokens(List.of(), UnaryOperator.identity());

    private final List<Pattern> raw;
    private final List<Pattern> normalized;
    private final UnaryOperator<String> normalizer;
    private final Map<Integer, Token> byId;

    /** @param normalizer the file's normalizer, applied to each piece of text between two tokens */
    AddedTokens(List<Token> tokens, UnaryOperator<String> normalizer) {
        this.raw = longestFirst(tokens.stream().filter(t -> !t.normalized()).map(t -> new Pattern(t.content(), t.id())).toList());
        this.normalized = longestFirst(tokens.stream().filter(Token::normalized)
                .map(t -> new Pattern(normalizer.apply(t.content()), t.id())).toList());
        this.normalizer = normalizer;
        this.byId = tokens.stream().collect(Collectors.toUnmodifiableMap(Token::id, t -> t, (a, b) -> a));
    }

    private static List<Pattern> longestFirst(List<Pattern> patterns) {
        return patterns.stream().filter(p -> !p.text().isEmpty())
                .sorted(Comparator.comparingInt((Pattern p) -> p.text().length()).reversed()).toList();
    }

    List<Piece> split(String text) {
        List<Piece> pieces = new ArrayList<>();
        for (Piece piece : split(text, raw)) {
            if (piece.id() >= 0) {
                pieces.add(piece);
            } else {
                pieces.addAll(split(normalizer.apply(piece.text()), normalized));
            }
        }
        return pieces;
    }

    private static List<Piece> split(String text, List<Pattern> patterns) {
        List<Piece> pieces = new ArrayList<>();
        int start = 0;
        for (int i = 0; i < text.length() && !patterns.isEmpty(); ) {
            Pattern match = matchAt(text, i, patterns);
            if (match == null) {
                i++;
                continue;
            }
            if (i > start) {
                pieces.add(new Piece(text.substring(start, i), -1));
            }
            pieces.add(new Piece(match.text(), match.id()));
            i += match.text().length();
            start = i;
        }
        if (start < text.length()) {
            pieces.add(new Piece(text.substring(start), -1));
        }
        return pieces;
    }

    private static Pattern matchAt(String text, int i, List<Pattern> patterns) {
        for (Pattern p : patterns) {
            if (text.startsWith(p.text(), i)) {
                return p;
            }
        }
        return null;
    }

    /** The added token with this id, or null. */
    Token byId(int id) {
        return byId.get(id);
    }

    /** One more than the largest added id (0 when there are none). */
    int idLimit() {
        return byId.keySet().stream().mapToInt(id -> id + 1).max().orElse(0);
    }

    /** The id of the added token with this content, or null. */
    Integer id(String content) {
        return byId.values().stream().filter(t -> t.content().equals(content)).map(Token::id).min(Integer::compare).orElse(null);
    }
}
