package io.tessera.pipeline.text;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;

/**
 * Seeded random strings for tokenizer tests: words in many scripts, combining marks, emoji (ZWJ sequences, flags, skin
 * tones), CJK, numbers, punctuation, contractions and whitespace runs (tabs, newlines, no-break and ideographic spaces,
 * leading and trailing). Characters are from long-assigned Unicode blocks, so JDK and Node agree on their categories.
 * U+0085 and U+FEFF are left out: JavaScript's {@code \s} disagrees with Unicode White_Space on exactly these two.
 */
final class RandomText {
    private static final String PUNCTUATION = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~¡¿©®™€£¥§¶•…—–“”‘’«»∑∞≠°±×÷";
    private static final String WHITESPACE = "                \t\t\t\n\n\n\r\u000b\u000c\u00a0\u2003\u2009\u3000\u2028";
    private static final List<String> CONTRACTIONS = List.of("'s", "'t", "'re", "'ve", "'m", "'ll", "'d", "'S", "'LL", "n't", "'", "''");
    private static final List<String> EMOJI = List.of("\uD83D\uDC68\u200D\uD83D\uDC69\u200D\uD83D\uDC67", "\uD83D\uDC4D\uD83C\uDFFD",
            "\uD83C\uDDEF\uD83C\uDDF5", "\u2764\uFE0F", "\u263A", "\uD83E\uDD14");
    /** [first, last] code points of letter-like ranges: Latin-1, Greek, Cyrillic, Hebrew, Arabic, Devanagari, Hiragana, CJK, Hangul. */
    private static final int[][] SCRIPTS = {{0xC0, 0xFF}, {0x3B1, 0x3C9}, {0x410, 0x44F}, {0x5D0, 0x5EA}, {0x627, 0x64A},
        {0x905, 0x939}, {0x3041, 0x3096}, {0x4E00, 0x9FA5}, {0xAC00, 0xD7A3}};
    /** Digits and numbers outside ASCII: Arabic-Indic, Devanagari, fullwidth, superscripts, Roman numerals, fractions. */
    private static final String NUMBERS = "٠١٢٣٤٥٦٧٨٩०१२३४५६७८९０１２３４５６７８９²³¹ⅠⅡⅢⅫ½¼";
    private static final String COMBINING = "\u0300\u0301\u0302\u0303\u0308\u0323\u0327\u093E\u093F\u0940";

    private final Random random;

    RandomText(long seed) {
        this.random = new Random(seed);
    }

    /**
     * The strings the tokenizers are checked on against their references: fixed cases (contractions, whitespace runs,
     * scripts, emoji, combining marks, code), long single pieces (a CJK paragraph, a 300-space run), then {@code count}
     * random strings from {@code seed}.
     */
    static List<String> referenceStrings(long seed, int count) {
        List<String> strings = new ArrayList<>(List.of("", " ", "  ", "\n", " \n\n ", "\t\tx", "a  ", "I'm here, aren't you?",
                "I'M HERE'S", "it's 3.14159 o'clock", "ÅÄÖ naïve café", "日本語のテキスト", "👨‍👩‍👧 family 👍🏽", "e\u0301\u0301",
                "    def f(x):\n        return x  \n", "1,000,000 and 1000000", "!!!???...", "word\u00a0word\u3000end ",
                "x\r\n\r\ny  \n z", "Ａｂｃ ﬁ ½ ①"));
        // long words: a CJK paragraph is a single regex match, and whitespace runs are one piece
        var cjk = new StringBuilder();
        new Random(7).ints(1500, 0x4E00, 0x9FA6).forEach(cjk::appendCodePoint);
        strings.addAll(List.of(cjk.toString(), "ab".repeat(700), " ".repeat(300) + "x", "\n".repeat(50)));
        RandomText random = new RandomText(seed);
        for (int i = 0; i < count; i++) {
            strings.add(random.next());
        }
        return strings;
    }

    String next() {
        var s = new StringBuilder();
        int fragments = 1 + random.nextInt(12);
        for (int i = 0; i < fragments; i++) {
            appendFragment(s);
        }
        return s.toString();
    }

    private void appendFragment(StringBuilder s) {
        switch (random.nextInt(12)) {
            case 0, 1 -> s.append(asciiWord());
            case 2 -> s.append(' ').append(asciiWord());
            case 3 -> s.append(CONTRACTIONS.get(random.nextInt(CONTRACTIONS.size())));
            case 4 -> s.append(random.nextBoolean() ? "" + random.nextInt(1_000_000) : random.nextInt(100) + "." + random.nextInt(1000));
            case 5 -> s.append(run(PUNCTUATION, 1 + random.nextInt(4)));
            case 6 -> s.append(run(WHITESPACE, 1 + random.nextInt(5)));
            case 7 -> s.append(EMOJI.get(random.nextInt(EMOJI.size())))
                    .appendCodePoint(0x1F300 + random.nextInt(0x1F64F - 0x1F300 + 1));
            case 8 -> s.append(scriptWord());
            case 9 -> s.append(scriptWord()).append(COMBINING.charAt(random.nextInt(COMBINING.length())));
            case 10 -> s.append(run(NUMBERS, 1 + random.nextInt(4)));
            default -> s.appendCodePoint(random.nextInt(0x20)).append(random.nextBoolean() ? " " : "");
        }
    }

    private String asciiWord() {
        var w = new StringBuilder();
        int n = 1 + random.nextInt(10);
        boolean upper = random.nextInt(4) == 0;
        for (int i = 0; i < n; i++) {
            char c = (char) ('a' + random.nextInt(26));
            w.append(upper || random.nextInt(10) == 0 ? Character.toUpperCase(c) : c);
        }
        return w.toString();
    }

    private String scriptWord() {
        int[] range = SCRIPTS[random.nextInt(SCRIPTS.length)];
        var w = new StringBuilder(random.nextBoolean() ? " " : "");
        int n = 1 + random.nextInt(6);
        for (int i = 0; i < n; i++) {
            w.appendCodePoint(range[0] + random.nextInt(range[1] - range[0] + 1));
        }
        return w.toString();
    }

    private String run(String alphabet, int n) {
        int[] cps = alphabet.codePoints().toArray();
        var w = new StringBuilder();
        for (int i = 0; i < n; i++) {
            w.appendCodePoint(cps[random.nextInt(cps.length)]);
        }
        return w.toString();
    }
}
