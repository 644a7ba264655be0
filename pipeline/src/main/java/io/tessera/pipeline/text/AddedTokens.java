package io.tessera.pipeline.text;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;

/**
 * Tokens matched in the raw text before pre-tokenization ({@code <|endoftext|>}, {@code <s>}): the text is cut around
 * every occurrence, longest token first at each position, and only the pieces between them go through BPE. Tokens are
 * matched in the raw text even when marked {@code normalized} (Hugging Face matches those in the normalized text); the
 * two agree for GPT-2's and LLaMA's own added tokens.
 */
final class AddedTokens {
    /** One added token of a {@code tokenizer.json}'s {@code added_tokens}. */
    record Token(String content, int id, boolean special) {
    }

    /** A piece of the input: either plain text ({@code id} -1) or an added token. */
    record Piece(String text, int id) {
    }

    static final AddedTokens NONE = new AddedTokens(List.of());

    private final List<Token> byLength;
    private final Map<Integer, Token> byId;

    AddedTokens(List<Token> tokens) {
        this.byLength = tokens.stream().filter(t -> !t.content().isEmpty())
                .sorted(Comparator.comparingInt((Token t) -> t.content().length()).reversed()).toList();
        this.byId = tokens.stream().collect(Collectors.toUnmodifiableMap(Token::id, t -> t, (a, b) -> a));
    }

    List<Piece> split(String text) {
        List<Piece> pieces = new ArrayList<>();
        int start = 0;
        for (int i = 0; i < text.length() && !byLength.isEmpty(); ) {
            Token match = matchAt(text, i);
            if (match == null) {
                i++;
                continue;
            }
            if (i > start) {
                pieces.add(new Piece(text.substring(start, i), -1));
            }
            pieces.add(new Piece(match.content(), match.id()));
            i += match.content().length();
            start = i;
        }
        if (start < text.length()) {
            pieces.add(new Piece(text.substring(start), -1));
        }
        return pieces;
    }

    /** The added token with this id, or null. */
    Token byId(int id) {
        return byId.get(id);
    }

    /** One more than the largest added id (0 when there are none). */
    int idLimit() {
        return byId.keySet().stream().mapToInt(id -> id + 1).max().orElse(0);
    }

    Integer id(String content) {
        return byLength.stream().filter(t -> t.content().equals(content)).map(Token::id).findFirst().orElse(null);
    }

    private Token matchAt(String text, int i) {
        for (Token t : byLength) {
            if (text.startsWith(t.content(), i)) {
                return t;
            }
        }
        return null;
    }
}
