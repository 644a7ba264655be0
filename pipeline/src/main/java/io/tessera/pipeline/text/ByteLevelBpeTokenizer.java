package io.tessera.pipeline.text;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.text.Normalizer;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.IntStream;

/**
 * Byte-level BPE, GPT-2's and its descendants' (Qwen2's, LLaMA-3's): the text between added tokens is normalized
 * (Qwen2: NFC), split by each pre-tokenization pattern in turn (GPT-2's own, or a {@code Split} regex such as Qwen2's),
 * each piece's UTF-8 bytes are written as {@link ByteLevel} characters and merged by rank. Decoding maps the characters
 * back to bytes, so it is lossless for any text (the bytes of a Java string are always valid UTF-8, unpaired surrogates
 * aside).
 */
public final class ByteLevelBpeTokenizer extends BpeTokenizer {
    /**
     * GPT-2's pattern. {@code \s} is Unicode White_Space, as in the Python {@code regex} module GPT-2 used and in Hugging
     * Face's tokenizers: it includes U+0085 and excludes U+FEFF, where JavaScript's {@code \s} does the opposite.
     */
    static final Pattern PRE_TOKENIZER = splitPattern("'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+");

    private final Normalizer.Form normalization;
    private final List<Pattern> splits;
    private final boolean addPrefixSpace;
    private final boolean useRegex;

    /**
     * @param normalization  the Unicode normalization of the text between added tokens, or null for none
     * @param splits         the patterns that cut the text into pieces before ByteLevel, in order; each match is a piece,
     *                       and so is the text between two matches (a {@code Split} with behaviour {@code Isolated})
     * @param addPrefixSpace ByteLevel's option: a space before every piece that does not start with one
     * @param useRegex       ByteLevel's option: then cut every piece by GPT-2's pattern
     */
    ByteLevelBpeTokenizer(BpeModel model, AddedTokens added, Normalizer.Form normalization, List<Pattern> splits,
            boolean addPrefixSpace, boolean useRegex, Template template) {
        super(model, added, template);
        this.normalization = normalization;
        this.splits = List.copyOf(splits);
        this.addPrefixSpace = addPrefixSpace;
        this.useRegex = useRegex;
    }

    /** A pre-tokenization regex as Hugging Face's tokenizers (Oniguruma) reads it: {@code \s}, {@code \p{L}} and case in Unicode. */
    static Pattern splitPattern(String regex) {
        return Pattern.compile(regex, Pattern.UNICODE_CHARACTER_CLASS);
    }

    @Override
    public int[] encode(String text) {
        IntStream.Builder ids = IntStream.builder();
        for (AddedTokens.Piece piece : added.split(text)) {
            if (piece.id() >= 0) {
                ids.add(piece.id());
                continue;
            }
            String s = normalization == null ? piece.text() : Normalizer.normalize(piece.text(), normalization);
            for (String word : preTokenize(s)) {
                for (int id : model.tokenize(ByteLevel.encode(word.getBytes(StandardCharsets.UTF_8)))) {
                    ids.add(id);
                }
            }
        }
        return ids.build().toArray();
    }

    /** The pieces of {@code text}: cut by every split pattern in turn, then ByteLevel's prefix space and pattern. */
    private List<String> preTokenize(String text) {
        List<String> pieces = text.isEmpty() ? List.of() : List.of(text);
        for (Pattern split : splits) {
            pieces = isolate(split, pieces);
        }
        if (addPrefixSpace) {
            pieces = pieces.stream().map(p -> p.charAt(0) == ' ' ? p : " " + p).toList();
        }
        return useRegex ? isolate(PRE_TOKENIZER, pieces) : pieces;
    }

    /** {@code Split}'s {@code Isolated} behaviour on each piece: every match and every gap between matches, in order. */
    private static List<String> isolate(Pattern split, List<String> pieces) {
        List<String> out = new ArrayList<>();
        for (String piece : pieces) {
            isolate(split, piece, out);
        }
        return out;
    }

    private static void isolate(Pattern split, String text, List<String> out) {
        Matcher m = split.matcher(text);
        int done = 0;
        while (m.find()) {
            if (m.start() > done) {
                out.add(text.substring(done, m.start()));
            }
            if (m.end() > m.start()) {
                out.add(m.group());
            }
            done = m.end();
        }
        if (done < text.length()) {
            out.add(text.substring(done));
        }
    }

    @Override
    public String decode(int[] ids, boolean skipSpecialTokens) {
        var bytes = new ByteArrayOutputStream();
        for (int id : ids) {
            AddedTokens.Token t = added.byId(id);
            if (t != null) {
                if (!(skipSpecialTokens && t.special())) {
                    bytes.writeBytes(t.content().getBytes(StandardCharsets.UTF_8));
                }
                continue;
            }
            String token = model.token(id);
            if (token == null) {
                throw unknownId(id);
            }
            for (int i = 0; i < token.length(); i++) {
                int b = ByteLevel.decode(token.charAt(i));
                if (b < 0) {
                    throw new IllegalArgumentException("token " + id + " " + BpeModel.quote(token) + " is not a byte-level token");
                }
                bytes.write(b);
            }
        }
        return bytes.toString(StandardCharsets.UTF_8);
    }
}
