package io.tessera.pipeline.text;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Reads a Hugging Face {@code tokenizer.json} with a {@code BPE} model in one of the two shapes this package implements:
 * GPT-2's (ByteLevel pre-tokenizer and decoder) and LLaMA's (spaces to {@code ▁} by a Prepend + Replace normalizer or a
 * Metaspace pre-tokenizer, byte fallback, the matching decoder). Any other component is rejected by name, not ignored.
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
            AddedTokens added = addedTokens(root.path("added_tokens"));
            Template template = template(root.path("post_processor"));
            JsonNode pre = root.path("pre_tokenizer");
            if ("ByteLevel".equals(type(pre))) {
                expectNull(root, "normalizer");
                expectType(root.path("decoder"), "decoder", "ByteLevel");
                return new Gpt2Tokenizer(bpe, added, pre.path("add_prefix_space").asBoolean(false),
                        pre.path("use_regex").asBoolean(true), template);
            }
            SentencePieceBpeTokenizer.Prepend prepend = isNull(pre) ? prependNormalizer(root.path("normalizer")) : metaspace(pre);
            if (!isNull(pre)) {
                expectNull(root, "normalizer");
            }
            checkSentencePieceDecoder(root.path("decoder"));
            // Metaspace splits before every ▁ unless told not to; the normalizer form keeps the text one word
            boolean split = !isNull(pre) && pre.path("split").asBoolean(true);
            return new SentencePieceBpeTokenizer(bpe, added, prepend, split, template);
        }

        private BpeModel model(JsonNode model) {
            if (!model.path("type").asText("BPE").equals("BPE")) {
                throw new IllegalArgumentException(source + ": model.type " + model.path("type").asText() + " is not supported (only BPE)");
            }
            if (model.path("ignore_merges").asBoolean(false)) {
                throw new IllegalArgumentException(source + ": model.ignore_merges true (LLaMA-3 style) is not supported");
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
                    model.path("fuse_unk").asBoolean(false), source);
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

        private AddedTokens addedTokens(JsonNode list) {
            List<AddedTokens.Token> tokens = new ArrayList<>();
            for (JsonNode t : list) {
                for (String flag : List.of("single_word", "lstrip", "rstrip")) {
                    if (t.path(flag).asBoolean(false)) {
                        throw new IllegalArgumentException(source + ": added token " + t.path("content") + " sets " + flag
                                + ", which is not supported");
                    }
                }
                tokens.add(new AddedTokens.Token(t.path("content").asText(), t.path("id").asInt(), t.path("special").asBoolean(false)));
            }
            return new AddedTokens(tokens);
        }

        /** {@code TemplateProcessing}'s {@code single} template: special tokens before and after sequence A. */
        private Template template(JsonNode post) {
            if (isNull(post) || "ByteLevel".equals(type(post))) {
                return Template.NONE;
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

        /** LLaMA's normalizer: {@code Sequence[Prepend("▁"), Replace(" ", "▁")]}. */
        private SentencePieceBpeTokenizer.Prepend prependNormalizer(JsonNode normalizer) {
            JsonNode steps = normalizer.path("normalizers");
            boolean llama = "Sequence".equals(type(normalizer)) && steps.size() == 2
                    && "Prepend".equals(type(steps.get(0))) && steps.get(0).path("prepend").asText().equals(METASPACE)
                    && isReplace(steps.get(1), " ", METASPACE);
            if (!llama) {
                throw new IllegalArgumentException(source + ": normalizer " + normalizer + " is not supported (GPT-2's ByteLevel or"
                        + " LLaMA's Prepend + Replace normalizer or Metaspace pre-tokenizer are)");
            }
            return SentencePieceBpeTokenizer.Prepend.EVERY_PIECE;
        }

        private SentencePieceBpeTokenizer.Prepend metaspace(JsonNode pre) {
            expectType(pre, "pre_tokenizer", "Metaspace");
            if (!pre.path("replacement").asText().equals(METASPACE)) {
                throw new IllegalArgumentException(source + ": pre_tokenizer.replacement " + pre.path("replacement") + " is not supported");
            }
            String scheme = pre.has("prepend_scheme") ? pre.path("prepend_scheme").asText()
                    : pre.path("add_prefix_space").asBoolean(true) ? "always" : "never";
            return switch (scheme) {
                case "always" -> SentencePieceBpeTokenizer.Prepend.ALWAYS;
                case "first" -> SentencePieceBpeTokenizer.Prepend.FIRST;
                case "never" -> SentencePieceBpeTokenizer.Prepend.NEVER;
                default -> throw new IllegalArgumentException(source + ": pre_tokenizer.prepend_scheme " + scheme + " is unknown");
            };
        }

        /** LLaMA's decoder: {@code Sequence[Replace("▁", " "), ByteFallback, Fuse, Strip(" ", 1, 0)]} or {@code Metaspace}. */
        private void checkSentencePieceDecoder(JsonNode decoder) {
            if ("Metaspace".equals(type(decoder))) {
                return;
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
