package io.tessera.pipeline.text;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.function.UnaryOperator;
import java.util.regex.Pattern;
import java.util.stream.Collectors;

/**
 * Tokens matched before pre-tokenization ({@code <|endoftext|>}, {@code <s>}), as Hugging Face's tokenizers match them:
 * first the tokens not marked {@code normalized}, in the raw text; then each piece between them goes through the
 * file's normalizer, and the {@code normalized} tokens are matched in that normalized text, each by its own normalized
 * content (with LLaMA's normalizer, {@code <pad>} is looked for as {@code ▁<pad>}). At each position the longest token
 * wins; a {@code single_word} token is skipped where a word character touches it, an {@code lstrip} / {@code rstrip}
 * one takes the whitespace before / after it (Unicode {@code \w} and {@code \s}, as Hugging Face's regexes). Only the
 * pieces between tokens go on to BPE, already normalized.
 */
final class AddedTokens {
    /** One added token of a {@code tokenizer.json}'s {@code added_tokens}. */
    record Token(String content, int id, boolean special, boolean normalized, boolean singleWord, boolean lstrip, boolean rstrip) {
        /** A token with none of the matching options: matched wherever its content is. */
        Token(String content, int id, boolean special, boolean normalized) {
            this(content, id, special, normalized, false, false, false);
        }
    }

    /** A piece of the input: either text, normalized ({@code id} -1), or an added token. */
    record Piece(String text, int id) {
    }

    /** A token as it is looked for: its content, or its normalized content. */
    private record Target(String text, Token token) {
    }

    private static final Pattern WORD = Pattern.compile("\\w", Pattern.UNICODE_CHARACTER_CLASS);
    private static final Pattern SPACE = Pattern.compile("\\s", Pattern.UNICODE_CHARACTER_CLASS);

    static final AddedTokens NONE = new AddedTokens(List.of(), UnaryOperator.identity());

    private final List<Target> raw;
    private final List<Target> normalized;
    private final UnaryOperator<String> normalizer;
    private final Map<Integer, Token> byId;

    /** @param normalizer the file's normalizer, applied to each piece of text between two tokens */
    AddedTokens(List<Token> tokens, UnaryOperator<String> normalizer) {
        this.raw = longestFirst(tokens.stream().filter(t -> !t.normalized()).map(t -> new Target(t.content(), t)).toList());
        this.normalized = longestFirst(tokens.stream().filter(Token::normalized)
                .map(t -> new Target(normalizer.apply(t.content()), t)).toList());
        this.normalizer = normalizer;
        this.byId = tokens.stream().collect(Collectors.toUnmodifiableMap(Token::id, t -> t, (a, b) -> a));
    }

    private static List<Target> longestFirst(List<Target> patterns) {
        return patterns.stream().filter(p -> !p.text().isEmpty())
                .sorted(Comparator.comparingInt((Target p) -> p.text().length()).reversed()).toList();
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

    private static List<Piece> split(String text, List<Target> patterns) {
        List<Piece> pieces = new ArrayList<>();
        int start = 0;
        for (int i = 0; i < text.length() && !patterns.isEmpty(); ) {
            Target match = matchAt(text, i, patterns);
            if (match == null) {
                i++;
                continue;
            }
            Token token = match.token();
            int from = i;
            int to = i + match.text().length();
            if (token.singleWord() && touchesWord(text, from, to)) {
                i = to; // as Hugging Face's matcher, the search goes on after a token skipped for touching a word
                continue;
            }
            while (token.lstrip() && from > start && isSpace(text.codePointBefore(from))) {
                from -= Character.charCount(text.codePointBefore(from));
            }
            while (token.rstrip() && to < text.length() && isSpace(text.codePointAt(to))) {
                to += Character.charCount(text.codePointAt(to));
            }
            if (from > start) {
                pieces.add(new Piece(text.substring(start, from), -1));
            }
            pieces.add(new Piece(text.substring(from, to), token.id()));
            i = to;
            start = to;
        }
        if (start < text.length()) {
            pieces.add(new Piece(text.substring(start), -1));
        }
        return pieces;
    }

    /** Whether a word character is just before {@code from} or at {@code to}. */
    private static boolean touchesWord(String text, int from, int to) {
        return from > 0 && isWord(text.codePointBefore(from)) || to < text.length() && isWord(text.codePointAt(to));
    }

    private static boolean isWord(int codePoint) {
        return WORD.matcher(Character.toString(codePoint)).matches();
    }

    private static boolean isSpace(int codePoint) {
        return SPACE.matcher(Character.toString(codePoint)).matches();
    }

    private static Target matchAt(String text, int i, List<Target> patterns) {
        for (Target p : patterns) {
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
