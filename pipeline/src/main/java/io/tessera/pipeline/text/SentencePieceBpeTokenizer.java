package io.tessera.pipeline.text;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.stream.IntStream;

/**
 * LLaMA's tokenizer as Hugging Face converts SentencePiece models: spaces become {@code ▁} (U+2581), a {@code ▁} is
 * prepended, the piece is one BPE word (or one per {@code ▁} with Metaspace's {@code split}), and characters missing
 * from the vocabulary fall back to {@code <0xNN>} byte tokens. Decoding turns {@code ▁} back into spaces, joins byte
 * tokens into UTF-8 (malformed bytes become U+FFFD; LLaMA's ByteFallback decoder) or keeps them as their text (a
 * Metaspace decoder alone), and drops the prepended space.
 */
public final class SentencePieceBpeTokenizer extends BpeTokenizer {
    static final String METASPACE = "\u2581";

    /**
     * When the Metaspace pre-tokenizer prepends a {@code ▁} to a piece of text between added tokens ({@code NEVER} with
     * LLaMA's {@code Prepend} normalizer, which {@link AddedTokens} has applied already).
     */
    enum Prepend {
        /** Metaspace {@code always}: to every piece not already starting with {@code ▁}. */
        ALWAYS,
        /** Metaspace {@code first}: only to the piece at the start of the text. */
        FIRST,
        NEVER
    }

    /** The {@code decoder} of the file. */
    enum Decoder {
        /** LLaMA's {@code Sequence[Replace("▁", " "), ByteFallback, Fuse, Strip(" ", 1, 0)]}. */
        BYTE_FALLBACK,
        /** {@code Metaspace} with {@code prepend_scheme} {@code first} or {@code always}: the first token's ▁ are dropped. */
        METASPACE,
        /** {@code Metaspace} with {@code prepend_scheme} {@code never}: every ▁ is a space. */
        METASPACE_NEVER_PREPENDED
    }

    private final Prepend prepend;
    private final boolean split;
    private final Decoder decoder;

    SentencePieceBpeTokenizer(BpeModel model, AddedTokens added, Prepend prepend, boolean split, Decoder decoder,
            Template template) {
        super(model, added, template);
        this.prepend = prepend;
        this.split = split;
        this.decoder = decoder;
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

    /**
     * As Hugging Face's decoders do: LLaMA's sequence fuses the tokens (▁ as spaces, byte tokens as bytes) and strips one
     * leading space; a Metaspace decoder drops every ▁ of the first token (unless its own {@code prepend_scheme}, which
     * may differ from the pre-tokenizer's, is {@code never}) and keeps byte tokens as their text.
     */
    @Override
    public String decode(int[] ids, boolean skipSpecialTokens) {
        boolean decodeBytes = decoder == Decoder.BYTE_FALLBACK;
        var bytes = new ByteArrayOutputStream();
        boolean first = true;
        for (int id : ids) {
            AddedTokens.Token t = added.byId(id);
            if (t != null && skipSpecialTokens && t.special()) {
                continue;
            }
            int b = decodeBytes ? model.fallbackByte(id) : -1;
            if (b >= 0) {
                bytes.write(b);
            } else {
                String token = t != null ? t.content() : model.token(id);
                if (token == null) {
                    throw unknownId(id);
                }
                boolean dropSpaces = first && decoder == Decoder.METASPACE;
                String spaced = token.replace(METASPACE, dropSpaces ? "" : " ");
                bytes.writeBytes(spaced.getBytes(StandardCharsets.UTF_8));
            }
            first = false;
        }
        String text = bytes.toString(StandardCharsets.UTF_8);
        return decodeBytes && text.startsWith(" ") ? text.substring(1) : text;
    }
}
