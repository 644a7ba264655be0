package io.tessera.pipeline.text;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.IntStream;

/**
 * GPT-2's byte-level BPE: the text is split by GPT-2's pre-tokenization regex, each piece's UTF-8 bytes are written as
 * {@link ByteLevel} characters and merged by rank. Decoding maps the characters back to bytes, so it is lossless for
 * any text (the bytes of a Java string are always valid UTF-8, unpaired surrogates aside).
 */
public final class Gpt2Tokenizer extends BpeTokenizer {
    /**
     * GPT-2's pattern. {@code \s} is Unicode White_Space, as in the Python {@code regex} module GPT-2 used and in Hugging
     * Face's tokenizers: it includes U+0085 and excludes U+FEFF, where JavaScript's {@code \s} does the opposite.
     */
    static final Pattern PRE_TOKENIZER = Pattern.compile(
            "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+", Pattern.UNICODE_CHARACTER_CLASS);

    private final boolean addPrefixSpace;
    private final boolean useRegex;

    Gpt2Tokenizer(BpeModel model, AddedTokens added, boolean addPrefixSpace, boolean useRegex, Template template) {
        super(model, added, template);
        this.addPrefixSpace = addPrefixSpace;
        this.useRegex = useRegex;
    }

    @Override
    public int[] encode(String text) {
        IntStream.Builder ids = IntStream.builder();
        for (AddedTokens.Piece piece : added.split(text)) {
            if (piece.id() >= 0) {
                ids.add(piece.id());
                continue;
            }
            String s = addPrefixSpace && !piece.text().isEmpty() && piece.text().charAt(0) != ' '
                    ? " " + piece.text() : piece.text();
            if (useRegex) {
                Matcher m = PRE_TOKENIZER.matcher(s);
                while (m.find()) {
                    encodeWord(m.group(), ids);
                }
            } else {
                encodeWord(s, ids);
            }
        }
        return ids.build().toArray();
    }

    private void encodeWord(String word, IntStream.Builder ids) {
        for (int id : model.tokenize(ByteLevel.encode(word.getBytes(StandardCharsets.UTF_8)))) {
            ids.add(id);
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
