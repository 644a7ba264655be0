package io.tessera.pipeline.text;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.stream.IntStream;

/**
 * LLaMA's tokenizer as Hugging Face converts SentencePiece models: spaces become {@code ▁} (U+2581), a {@code ▁} is
 * prepended, the piece is one BPE word (or one per {@code ▁} with Metaspace's {@code split}), and characters missing
 * from the vocabulary fall back to {@code <0xNN>} byte tokens. Decoding turns {@code ▁} back into spaces, joins byte
 * tokens into UTF-8 (malformed bytes become U+FFFD) and drops the prepended space.
 */
public final class SentencePieceBpeTokenizer extends BpeTokenizer {
    static final String METASPACE = "\u2581";

    /** When a {@code ▁} is prepended to a piece of text between added tokens. */
    enum Prepend {
        /** The {@code Prepend} normalizer: to every non-empty piece. */
        EVERY_PIECE,
        /** Metaspace {@code always}: to every piece not already starting with {@code ▁}. */
        ALWAYS,
        /** Metaspace {@code first}: only to the piece at the start of the text. */
        FIRST,
        NEVER
    }

    private final Prepend prepend;
    private final boolean split;

    SentencePieceBpeTokenizer(BpeModel model, AddedTokens added, Prepend prepend, boolean split, Template template) {
        super(model, added, template);
        this.prepend = prepend;
        this.split = split;
    }

    @Override
    public int[] encode(String text) {
        IntStream.Builder ids = IntStream.builder();
        List<AddedTokens.Piece> pieces = added.split(text);
        for (int p = 0; p < pieces.size(); p++) {
            AddedTokens.Piece piece = pieces.get(p);
            if (piece.id() >= 0) {
                ids.add(piece.id());
                continue;
            }
            String word = piece.text().replace(" ", METASPACE);
            boolean prepended = switch (prepend) {
                case EVERY_PIECE -> true;
                case ALWAYS -> !word.startsWith(METASPACE);
                case FIRST -> p == 0 && !word.startsWith(METASPACE);
                case NEVER -> false;
            };
            if (prepended) {
                word = METASPACE + word;
            }
            int start = 0;
            for (int i = 1; i <= word.length(); i++) {
                if (i == word.length() || (split && word.startsWith(METASPACE, i))) {
                    for (int id : model.tokenize(word.substring(start, i))) {
                        ids.add(id);
                    }
                    start = i;
                }
            }
        }
        return ids.build().toArray();
    }

    @Override
    public String decode(int[] ids, boolean skipSpecialTokens) {
        var bytes = new ByteArrayOutputStream();
        for (int id : ids) {
            AddedTokens.Token t = added.byId(id);
            if (t != null && skipSpecialTokens && t.special()) {
                continue;
            }
            int b = model.fallbackByte(id);
            if (b >= 0) {
                bytes.write(b);
                continue;
            }
            String token = t != null ? t.content() : model.token(id);
            if (token == null) {
                throw unknownId(id);
            }
            bytes.writeBytes(token.replace(METASPACE, " ").getBytes(StandardCharsets.UTF_8));
        }
        String text = bytes.toString(StandardCharsets.UTF_8);
        return prepend != Prepend.NEVER && text.startsWith(" ") ? text.substring(1) : text;
    }
}
