package io.tessera.pipeline.text;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.IntStream;

/**
 * Byte-level BPE, GPT-2's and its descendants' (Qwen2's, LLaMA-3's): the text between added tokens, normalized by
 * {@link AddedTokens} (Qwen2: NFC), is split by each pre-tokenization pattern in turn (GPT-2's own, or a {@code Split}
 * regex such as Qwen2's), each piece's UTF-8 bytes are written as {@link ByteLevel} characters and merged by rank.
 * Decoding maps the characters back to bytes, so it is lossless for any text (the bytes of a Java string are always
 * valid UTF-8, unpaired surrogates aside).
 */
public final class ByteLevelBpeTokenizer extends BpeTokenizer {
    /**
     * GPT-2's pattern. {@code \s} is Unicode White_Space, as in the Python {@code regex} module GPT-2 used and in Hugging
     * Face's tokenizers: it includes U+0085 and excludes U+FEFF, where JavaScript's {@code \s} does the opposite.
     */
    static final Pattern PRE_TOKENIZER = splitPattern("'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+");

    private final List<Pattern> splits;
    private final boolean addPrefixSpace;
    private final boolean useRegex;

    /**
     * @param splits         the patterns that cut the text into pieces before ByteLevel, in order; each match is a piece,
     *                       and so is the text between two matches (a {@code Split} with behaviour {@code Isolated})
     * @param addPrefixSpace ByteLevel's option: a space before every piece that does not start with one
     * @param useRegex       ByteLevel's option: then cut every piece by GPT-2's pattern
     */
    ByteLevelBpeTokenizer(BpeModel model, AddedTokens added, List<Pattern> splits, boolean addPrefixSpace, boolean useRegex,
            Template template) {
        super(model, added, template);
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
            for (String word : preTokenize(piece.text())) {
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

    /**
     * As Hugging Face's ByteLevel decoder: every token's characters are read as bytes, an added token's too when all its
     * characters are {@link ByteLevel} ones ({@code Ångstr} gives the lone byte 0xC5 and so U+FFFD); an added token with
     * any other character is written as its UTF-8.
     */
    @Override
    public String decode(int[] ids, boolean skipSpecialTokens) {
        var bytes = new ByteArrayOutputStream();
        for (int id : ids) {
            AddedTokens.Token t = added.byId(id);
            if (t != null) {
                if (!(skipSpecialTokens && t.special())) {
                    byte[] b = byteLevelBytes(t.content());
                    bytes.writeBytes(b != null ? b : t.content().getBytes(StandardCharsets.UTF_8));
                }
                continue;
            }
            String token = model.token(id);
            if (token == null) {
                throw unknownId(id);
            }
            byte[] b = byteLevelBytes(token);
            if (b == null) {
                throw new IllegalArgumentException("token " + id + " " + BpeModel.quote(token) + " is not a byte-level token");
            }
            bytes.writeBytes(b);
        }
        return bytes.toString(StandardCharsets.UTF_8);
    }

    /** The bytes {@code token}'s characters stand for, or null if one of them is not a {@link ByteLevel} character. */
    private static byte[] byteLevelBytes(String token) {
        byte[] bytes = new byte[token.length()];
        for (int i = 0; i < token.length(); i++) {
            int b = ByteLevel.decode(token.charAt(i));
            if (b < 0) {
                return null;
            }
            bytes[i] = (byte) b;
        }
        return bytes;
    }
}
