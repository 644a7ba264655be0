package io.tessera.pipeline.text;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.text.Normalizer;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.UnaryOperator;
import java.util.regex.Pattern;
import java.util.regex.PatternSyntaxException;

/**
 * Reads a Hugging Face {@code tokenizer.json} with a {@code BPE} model in one of the two shapes this package implements:
 * byte-level (a ByteLevel pre-tokenizer, after Split regexes in a Sequence for Qwen2 and LLaMA-3, a Unicode normalization
 * form or none, the ByteLevel decoder) and LLaMA's SentencePiece style (spaces to {@code ▁} by a Prepend + Replace
 * normalizer or a Metaspace pre-tokenizer, byte fallback, the matching decoder). Any other component is rejected by name,
 * not ignored.
 */
public final class TokenizerJson {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String METASPACE = SentencePieceBpeTokenizer.METASPACE;

    private TokenizerJson() {
    }

    public static BpeTokenizer load(Path file) {
        JsonNode root;
        try {
            root = JSON.readTree(file.toFile());
        } catch (IOException e) {
            throw new UncheckedIOException(file + ": cannot read tokenizer.json: " + e.getMessage(), e);
        }
        if (root == null || !root.isObject()) {
            throw new IllegalArgumentException(file + ": not a JSON object");
        }
        return new TokenizerJson.Reader(file.toString()).read(root);
    }

    /** Parses one file; {@code source} names it in every message. */
    private record Reader(String source) {
        BpeTokenizer read(JsonNode root) {
            JsonNode model = root.path("model");
            BpeModel bpe = model(model);
            JsonNode addedTokens = root.path("added_tokens");
            Template template = template(root.path("post_processor"));
            JsonNode pre = root.path("pre_tokenizer");
            JsonNode byteLevel = byteLevelStep(pre);
            if (byteLevel != null) {
                expectType(root.path("decoder"), "decoder", "ByteLevel");
                AddedTokens added = addedTokens(addedTokens, normalization(root.path("normalizer")));
                return new ByteLevelBpeTokenizer(bpe, added, splits(pre), byteLevel.path("add_prefix_space").asBoolean(false),
                        byteLevel.path("use_regex").asBoolean(true), template);
            }
            SentencePieceBpeTokenizer.Decoder decoder = sentencePieceDecoder(root.path("decoder"));
            if (isNull(pre)) {
                AddedTokens added = addedTokens(addedTokens, prependNormalizer(root.path("normalizer")));
                return new SentencePieceBpeTokenizer(bpe, added, SentencePieceBpeTokenizer.Prepend.NEVER, false, decoder, template);
            }
            expectNull(root, "normalizer");
            // Metaspace splits before every ▁ unless told not to
            return new SentencePieceBpeTokenizer(bpe, addedTokens(addedTokens, UnaryOperator.identity()), metaspace(pre, "pre_tokenizer"),
                    pre.path("split").asBoolean(true), decoder, template);
        }

        private BpeModel model(JsonNode model) {
            if (!model.path("type").asText("BPE").equals("BPE")) {
                throw new IllegalArgumentException(source + ": model.type " + model.path("type").asText() + " is not supported (only BPE)");
            }
            if (model.path("dropout").asDouble(0) != 0) {
                throw new IllegalArgumentException(source + ": model.dropout " + model.path("dropout") + " is not supported");
            }
            for (String key : List.of("continuing_subword_prefix", "end_of_word_suffix")) {
                if (!model.path(key).asText("").isEmpty()) {
                    throw new IllegalArgumentException(source + ": model." + key + " " + model.path(key) + " is not supported");
                }
            }
            JsonNode vocabNode = model.path("vocab");
            if (!vocabNode.isObject()) {
                throw new IllegalArgumentException(source + ": model.vocab is missing or not an object");
            }
            Map<String, Integer> vocab = new LinkedHashMap<>();
            vocabNode.properties().forEach(e -> vocab.put(e.getKey(), e.getValue().asInt()));
            List<String[]> merges = new ArrayList<>();
            for (JsonNode m : model.path("merges")) {
                merges.add(merge(m, merges.size()));
            }
            JsonNode unk = model.path("unk_token");
            return new BpeModel(vocab, merges, model.path("byte_fallback").asBoolean(false), isNull(unk) ? null : unk.asText(),
                    model.path("fuse_unk").asBoolean(false), model.path("ignore_merges").asBoolean(false), source);
        }

        /** A merge as {@code "a b"} (tokenizers before 0.20) or {@code ["a", "b"]}. */
        private String[] merge(JsonNode m, int rank) {
            String[] pair = m.isArray() && m.size() == 2 ? new String[] {m.get(0).asText(), m.get(1).asText()}
                    : m.isTextual() ? m.asText().split(" ", -1) : null;
            if (pair == null || pair.length != 2) {
                throw new IllegalArgumentException(source + ": model.merges[" + rank + "] " + m + " is not a pair of tokens");
            }
            return pair;
        }

        /** The {@code added_tokens}; {@code normalizer} is the file's, which the {@code normalized} ones are matched after. */
        private AddedTokens addedTokens(JsonNode list, UnaryOperator<String> normalizer) {
            List<AddedTokens.Token> tokens = new ArrayList<>();
            for (JsonNode t : list) {
                boolean special = t.path("special").asBoolean(false);
                tokens.add(new AddedTokens.Token(t.path("content").asText(), t.path("id").asInt(), special,
                        t.path("normalized").asBoolean(!special), t.path("single_word").asBoolean(false), t.path("lstrip").asBoolean(false),
                        t.path("rstrip").asBoolean(false)));
            }
            return new AddedTokens(tokens, normalizer);
        }

        /**
         * {@code TemplateProcessing}'s {@code single} template: special tokens before and after sequence A. ByteLevel's
         * post-processor only trims offsets, which this package does not report; LLaMA-3 puts it in a {@code Sequence}
         * before its template.
         */
        private Template template(JsonNode post) {
            if (isNull(post) || "ByteLevel".equals(type(post))) {
                return Template.NONE;
            }
            if ("Sequence".equals(type(post))) {
                JsonNode steps = post.path("processors");
                List<JsonNode> templates = new ArrayList<>();
                for (JsonNode step : steps) {
                    if (!"ByteLevel".equals(type(step))) {
                        templates.add(step);
                    }
                }
                if (templates.size() > 1) {
                    throw new IllegalArgumentException(source + ": post_processor Sequence with " + templates.size()
                            + " processors other than ByteLevel is not supported");
                }
                return templates.isEmpty() ? Template.NONE : template(templates.get(0));
            }
            expectType(post, "post_processor", "TemplateProcessing");
            List<Integer> prefix = new ArrayList<>();
            List<Integer> suffix = new ArrayList<>();
            boolean seenSequence = false;
            for (JsonNode item : post.path("single")) {
                if (item.has("Sequence")) {
                    seenSequence = true;
                } else {
                    String name = item.path("SpecialToken").path("id").asText();
                    JsonNode ids = post.path("special_tokens").path(name).path("ids");
                    if (!ids.isArray() || ids.isEmpty()) {
                        throw new IllegalArgumentException(source + ": post_processor special token " + name + " has no ids");
                    }
                    for (JsonNode id : ids) {
                        (seenSequence ? suffix : prefix).add(id.asInt());
                    }
                }
            }
            return new Template(prefix.stream().mapToInt(i -> i).toArray(), suffix.stream().mapToInt(i -> i).toArray());
        }

        /**
         * The ByteLevel pre-tokenizer, alone or last in a {@code Sequence} (Qwen2's and LLaMA-3's: a Split regex first), or
         * null if there is none.
         */
        private static JsonNode byteLevelStep(JsonNode pre) {
            JsonNode steps = pre.path("pretokenizers");
            JsonNode last = "Sequence".equals(type(pre)) && !steps.isEmpty() ? steps.get(steps.size() - 1) : pre;
            return "ByteLevel".equals(type(last)) ? last : null;
        }

        /** The {@code Split} steps before ByteLevel in a {@code Sequence} pre-tokenizer, as patterns; only {@code Isolated}. */
        private List<Pattern> splits(JsonNode pre) {
            List<Pattern> patterns = new ArrayList<>();
            JsonNode steps = pre.path("pretokenizers");
            for (int i = 0; i < steps.size() - 1; i++) {
                JsonNode step = steps.get(i);
                String where = "pre_tokenizer.pretokenizers[" + i + "]";
                if (!"Split".equals(type(step))) {
                    throw new IllegalArgumentException(source + ": " + where + " " + step.path("type") + " is not supported before"
                            + " ByteLevel (Split is)");
                }
                if (!step.path("behavior").asText().equals("Isolated") || step.path("invert").asBoolean(false)) {
                    throw new IllegalArgumentException(source + ": " + where + ": Split with behavior " + step.path("behavior")
                            + (step.path("invert").asBoolean(false) ? " inverted" : "") + " is not supported (Isolated is)");
                }
                JsonNode pattern = step.path("pattern");
                if (pattern.path("String").isTextual()) {
                    patterns.add(Pattern.compile(Pattern.quote(pattern.path("String").asText())));
                } else if (pattern.path("Regex").isTextual()) {
                    try {
                        patterns.add(ByteLevelBpeTokenizer.splitPattern(pattern.path("Regex").asText()));
                    } catch (PatternSyntaxException e) {
                        throw new IllegalArgumentException(source + ": " + where + ".pattern.Regex does not compile: " + e.getMessage(), e);
                    }
                } else {
                    throw new IllegalArgumentException(source + ": " + where + ".pattern " + pattern + " is neither a String nor a Regex");
                }
            }
            return patterns;
        }

        /** A byte-level tokenizer's normalizer: none, or one Unicode normalization form (Qwen2's NFC). */
        private UnaryOperator<String> normalization(JsonNode normalizer) {
            if (isNull(normalizer)) {
                return UnaryOperator.identity();
            }
            String kind = type(normalizer);
            Normalizer.Form form = switch (kind == null ? "" : kind) {
                case "NFC" -> Normalizer.Form.NFC;
                case "NFD" -> Normalizer.Form.NFD;
                case "NFKC" -> Normalizer.Form.NFKC;
                case "NFKD" -> Normalizer.Form.NFKD;
                default -> throw new IllegalArgumentException(source + ": normalizer " + normalizer.path("type")
                        + " is not supported with a ByteLevel pre-tokenizer (none, NFC, NFD, NFKC and NFKD are)");
            };
            return s -> Normalizer.normalize(s, form);
        }

        /** LLaMA's normalizer: {@code Sequence[Prepend("▁"), Replace(" ", "▁")]}; Prepend leaves empty text empty. */
        private UnaryOperator<String> prependNormalizer(JsonNode normalizer) {
            JsonNode steps = normalizer.path("normalizers");
            boolean llama = "Sequence".equals(type(normalizer)) && steps.size() == 2
                    && "Prepend".equals(type(steps.get(0))) && steps.get(0).path("prepend").asText().equals(METASPACE)
                    && isReplace(steps.get(1), " ", METASPACE);
            if (!llama) {
                throw new IllegalArgumentException(source + ": normalizer " + normalizer + " is not supported (GPT-2's ByteLevel or"
                        + " LLaMA's Prepend + Replace normalizer or Metaspace pre-tokenizer are)");
            }
            return s -> s.isEmpty() ? s : METASPACE + s.replace(" ", METASPACE);
        }

        /** A Metaspace step's {@code prepend_scheme} ({@code add_prefix_space} in older files), checked; key names the step. */
        private SentencePieceBpeTokenizer.Prepend metaspace(JsonNode step, String key) {
            expectType(step, key, "Metaspace");
            if (!step.path("replacement").asText().equals(METASPACE)) {
                throw new IllegalArgumentException(source + ": " + key + ".replacement " + step.path("replacement") + " is not supported");
            }
            String scheme = step.has("prepend_scheme") ? step.path("prepend_scheme").asText()
                    : step.path("add_prefix_space").asBoolean(true) ? "always" : "never";
            return switch (scheme) {
                case "always" -> SentencePieceBpeTokenizer.Prepend.ALWAYS;
                case "first" -> SentencePieceBpeTokenizer.Prepend.FIRST;
                case "never" -> SentencePieceBpeTokenizer.Prepend.NEVER;
                default -> throw new IllegalArgumentException(source + ": " + key + ".prepend_scheme " + scheme + " is unknown");
            };
        }

        /** LLaMA's decoder sequence, or {@code Metaspace} with its own prepend scheme. */
        private SentencePieceBpeTokenizer.Decoder sentencePieceDecoder(JsonNode decoder) {
            if ("Metaspace".equals(type(decoder))) {
                return metaspace(decoder, "decoder") == SentencePieceBpeTokenizer.Prepend.NEVER
                        ? SentencePieceBpeTokenizer.Decoder.METASPACE_NEVER_PREPENDED : SentencePieceBpeTokenizer.Decoder.METASPACE;
            }
            JsonNode steps = decoder.path("decoders");
            boolean llama = "Sequence".equals(type(decoder)) && steps.size() == 4
                    && isReplace(steps.get(0), METASPACE, " ")
                    && "ByteFallback".equals(type(steps.get(1))) && "Fuse".equals(type(steps.get(2)))
                    && "Strip".equals(type(steps.get(3))) && steps.get(3).path("content").asText().equals(" ")
                    && steps.get(3).path("start").asInt() == 1 && steps.get(3).path("stop").asInt() == 0;
            if (!llama) {
                throw new IllegalArgumentException(source + ": decoder " + decoder + " is not supported"
                        + " (LLaMA's Replace, ByteFallback, Fuse, Strip sequence or Metaspace are)");
            }
            return SentencePieceBpeTokenizer.Decoder.BYTE_FALLBACK;
        }

        private static boolean isReplace(JsonNode step, String pattern, String content) {
            return "Replace".equals(type(step)) && step.path("pattern").path("String").asText().equals(pattern)
                    && step.path("content").asText().equals(content);
        }

        private void expectType(JsonNode node, String key, String expected) {
            if (!expected.equals(type(node))) {
                String problem = isNull(node) ? "is missing" : node.path("type") + " is not supported";
                throw new IllegalArgumentException(source + ": " + key + " " + problem + " with this model (expected " + expected + ")");
            }
        }

        private void expectNull(JsonNode root, String key) {
            if (!isNull(root.path(key))) {
                throw new IllegalArgumentException(source + ": " + key + " " + type(root.path(key)) + " is not supported with this model");
            }
        }

        private static String type(JsonNode node) {
            return node.path("type").asText(null);
        }

        private static boolean isNull(JsonNode node) {
            return node.isMissingNode() || node.isNull();
        }
    }
}
