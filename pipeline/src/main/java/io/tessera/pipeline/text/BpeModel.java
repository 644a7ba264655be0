package io.tessera.pipeline.text;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.PriorityQueue;
import java.util.concurrent.ConcurrentHashMap;

/**
 * A BPE vocabulary with ranked merges: splits a pre-tokenized word into characters and applies the lowest-ranked merge
 * until none applies, as GPT-2's {@code bpe()} and Hugging Face's {@code BPE} model do; with {@code ignore_merges}
 * (LLaMA-3), a word that is itself a token is that token. Characters missing from the vocabulary become their UTF-8
 * bytes' {@code <0xNN>} tokens ({@code byteFallback}) or the unknown token.
 */
final class BpeModel {
    /** Words cached before the cache is cleared, so a long stream of distinct words cannot grow it without bound. */
    private static final int CACHE_LIMIT = 100_000;

    private final Map<String, Integer> vocab;
    private final String[] tokens;
    /** (left id, right id) packed in a long -> (rank, merged id) packed in a long. */
    private final Map<Long, Long> merges;
    private final int[] byteIds;
    /** id -> the byte its {@code <0xNN>} token stands for, -1 for other ids; null without byte fallback. */
    private final int[] fallbackBytes;
    private final int unkId;
    private final boolean fuseUnk;
    private final boolean ignoreMerges;
    private final Map<String, int[]> cache = new ConcurrentHashMap<>();

    /**
     * @param merges   pairs in rank order; each pair and its concatenation must be in {@code vocab}
     * @param byteFallback map characters missing from the vocabulary to {@code <0x00>}..{@code <0xFF>}, which must exist
     * @param unkToken the token of other missing characters, or null to reject them
     * @param ignoreMerges a word found in {@code vocab} is that one token, whatever the merges would make of it
     * @param source   the file the vocabulary came from, for messages
     */
    BpeModel(Map<String, Integer> vocab, List<String[]> merges, boolean byteFallback, String unkToken, boolean fuseUnk,
            boolean ignoreMerges, String source) {
        this.vocab = Map.copyOf(vocab);
        int size = 0;
        for (var e : vocab.entrySet()) {
            if (e.getValue() < 0) {
                throw new IllegalArgumentException(source + ": token " + quote(e.getKey()) + " has negative id " + e.getValue());
            }
            size = Math.max(size, e.getValue() + 1);
        }
        this.tokens = new String[size];
        vocab.forEach((token, id) -> tokens[id] = token);
        this.merges = new HashMap<>(merges.size() * 2);
        for (int rank = 0; rank < merges.size(); rank++) {
            String[] pair = merges.get(rank);
            int left = id(pair[0], source, rank);
            int right = id(pair[1], source, rank);
            int merged = id(pair[0] + pair[1], source, rank);
            this.merges.putIfAbsent(pack(left, right), pack(rank, merged));
        }
        this.byteIds = byteFallback ? byteTokenIds(source) : null;
        this.fallbackBytes = byteFallback ? new int[size] : null;
        if (byteFallback) {
            Arrays.fill(fallbackBytes, -1);
            for (int b = 0; b < 256; b++) {
                fallbackBytes[byteIds[b]] = b;
            }
        }
        this.unkId = unkToken == null ? -1 : id(unkToken, source, -1);
        this.fuseUnk = fuseUnk;
        this.ignoreMerges = ignoreMerges;
    }

    /** The token ids of one pre-tokenized word. */
    int[] tokenize(String word) {
        int[] ids = cache.get(word);
        if (ids == null) {
            Integer whole = ignoreMerges ? vocab.get(word) : null;
            ids = whole != null ? new int[] {whole} : merge(symbols(word));
            if (cache.size() >= CACHE_LIMIT) {
                cache.clear();
            }
            cache.put(word, ids);
        }
        return ids;
    }

    /** The vocabulary string of {@code id}, or null if no token has that id. */
    String token(int id) {
        return id >= 0 && id < tokens.length ? tokens[id] : null;
    }

    Integer id(String token) {
        return vocab.get(token);
    }

    int size() {
        return tokens.length;
    }

    /** The byte a {@code <0xNN>} fallback token stands for, or -1 for any other id. */
    int fallbackByte(int id) {
        return fallbackBytes != null && id >= 0 && id < fallbackBytes.length ? fallbackBytes[id] : -1;
    }

    private int[] symbols(String word) {
        List<Integer> out = new ArrayList<>(word.length());
        boolean lastUnk = false;
        for (int i = 0; i < word.length(); ) {
            int cp = word.codePointAt(i);
            String ch = word.substring(i, i + Character.charCount(cp));
            i += ch.length();
            Integer id = vocab.get(ch);
            if (id != null) {
                out.add(id);
                lastUnk = false;
            } else if (byteIds != null) {
                for (byte b : ch.getBytes(StandardCharsets.UTF_8)) {
                    out.add(byteIds[b & 0xFF]);
                }
                lastUnk = false;
            } else if (unkId >= 0) {
                if (!(fuseUnk && lastUnk)) {
                    out.add(unkId);
                }
                lastUnk = true;
            } else {
                throw new IllegalArgumentException("character " + quote(ch) + " is not in the vocabulary, which has no unknown token");
            }
        }
        return out.stream().mapToInt(Integer::intValue).toArray();
    }

    /**
     * Applies merges lowest rank first, leftmost first among equal ranks, as Hugging Face's {@code Word::merge_all}: a
     * queue of (rank, position) over a linked list of symbols, so a long word (a CJK paragraph is one regex match) costs
     * O(n log n) instead of a rescan per merge. Equal to GPT-2's merge-every-occurrence loop, since a merge always ranks
     * after the merges that made its parts.
     */
    private int[] merge(int[] symbols) {
        int n = symbols.length;
        int[] ids = symbols.clone();
        int[] prev = new int[n];
        int[] next = new int[n];
        PriorityQueue<Long> queue = new PriorityQueue<>();
        for (int i = 0; i < n; i++) {
            prev[i] = i - 1;
            next[i] = i + 1 < n ? i + 1 : -1;
            enqueue(queue, ids, i, next[i]);
        }
        while (!queue.isEmpty()) {
            long entry = queue.poll();
            int pos = (int) entry;
            int right = next[pos];
            // stale entries: the symbol was merged away, or the pair at pos changed since it was queued
            if (ids[pos] < 0 || right < 0 || !(merges.get(pack(ids[pos], ids[right])) instanceof Long m) || m >>> 32 != entry >>> 32) {
                continue;
            }
            ids[pos] = (int) (long) m;
            ids[right] = -1;
            next[pos] = next[right];
            if (next[pos] >= 0) {
                prev[next[pos]] = pos;
            }
            if (prev[pos] >= 0) {
                enqueue(queue, ids, prev[pos], pos);
            }
            enqueue(queue, ids, pos, next[pos]);
        }
        return Arrays.stream(ids).filter(id -> id >= 0).toArray();
    }

    /** Queues the pair (left, right) as (rank, left) if it has a merge. */
    private void enqueue(PriorityQueue<Long> queue, int[] ids, int left, int right) {
        if (right >= 0 && merges.get(pack(ids[left], ids[right])) instanceof Long m) {
            queue.add(pack((int) (m >>> 32), left));
        }
    }

    private int[] byteTokenIds(String source) {
        int[] ids = new int[256];
        for (int b = 0; b < 256; b++) {
            ids[b] = id(String.format("<0x%02X>", b), source, -1);
        }
        return ids;
    }

    private int id(String token, String source, int mergeRank) {
        Integer id = vocab.get(token);
        if (id == null) {
            String where = mergeRank >= 0 ? " (merge " + mergeRank + ")" : "";
            throw new IllegalArgumentException(source + ": token " + quote(token) + where + " is not in the vocabulary");
        }
        return id;
    }

    private static long pack(int high, int low) {
        return ((long) high << 32) | (low & 0xFFFFFFFFL);
    }

    static String quote(String s) {
        return "\"" + s.codePoints().mapToObj(cp -> cp < 0x20 || cp == 0x7F ? String.format("\\u%04x", cp) : Character.toString(cp))
                .reduce("", String::concat) + "\"";
    }
}
