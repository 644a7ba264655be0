package io.tessera.pipeline.models;

import java.util.Arrays;
import java.util.SplittableRandom;

/**
 * Picks the next token from a row of logits, as Hugging Face's {@code generate} does: temperature, then top-k
 * (every token whose logit is below the k-th largest is dropped; ties with the k-th are kept), then top-p (the
 * smallest set of most likely tokens whose probability sums to at least p, never empty; among equal logits the
 * lower id comes first), then one draw from the renormalised distribution. Temperature 0 is greedy: the first
 * index of the maximum logit. Draws come from a {@link SplittableRandom} seeded once, so a seed fixes the ids.
 */
public final class Sampler {
    private final double temperature;
    private final int topK;
    private final double topP;
    private final SplittableRandom random;

    /**
     * @param temperature 0 for greedy, else > 0
     * @param topK        0 for no top-k, else > 0
     * @param topP        in (0, 1]; 1 keeps every token
     */
    public Sampler(double temperature, int topK, double topP, long seed) {
        if (!(temperature >= 0) || Double.isInfinite(temperature)) {
            throw new IllegalArgumentException("temperature must be a finite number >= 0, got " + temperature);
        }
        if (topK < 0) {
            throw new IllegalArgumentException("top-k must be >= 0 (0 = off), got " + topK);
        }
        if (!(topP > 0 && topP <= 1)) {
            throw new IllegalArgumentException("top-p must be in (0, 1], got " + topP);
        }
        this.temperature = temperature;
        this.topK = topK;
        this.topP = topP;
        this.random = new SplittableRandom(seed);
    }

    public static Sampler greedy() {
        return new Sampler(0, 0, 1, 0);
    }

    public boolean isGreedy() {
        return temperature == 0;
    }

    /** The next token for {@code logits} (one draw of this sampler's random stream unless greedy). */
    public long next(float[] logits) {
        if (isGreedy()) {
            return argmax(logits);
        }
        boolean[] kept = kept(logits);
        double max = Double.NEGATIVE_INFINITY;
        for (int i = 0; i < logits.length; i++) {
            if (kept[i]) {
                max = Math.max(max, logits[i]);
            }
        }
        double[] weights = new double[logits.length];
        double total = 0;
        for (int i = 0; i < logits.length; i++) {
            weights[i] = kept[i] ? Math.exp((logits[i] - max) / temperature) : 0;
            total += weights[i];
        }
        double u = random.nextDouble() * total;
        int last = 0;
        for (int i = 0; i < logits.length; i++) {
            if (kept[i]) {
                last = i;
                u -= weights[i];
                if (u < 0) {
                    return i;
                }
            }
        }
        return last; // u == total after rounding
    }

    /** The tokens top-k and top-p leave to draw from (the softmax of logits / temperature over them). */
    boolean[] kept(float[] logits) {
        for (float logit : logits) {
            rejectNaN(logit);
        }
        Integer[] order = new Integer[logits.length];
        Arrays.setAll(order, i -> i);
        Arrays.sort(order, (a, b) -> Float.compare(logits[b], logits[a])); // descending; stable, so ties by lower id
        int keep = logits.length;
        if (topK > 0 && topK < keep) {
            float kth = logits[order[topK - 1]];
            keep = topK;
            while (keep < logits.length && logits[order[keep]] == kth) {
                keep++;
            }
        }
        if (topP < 1) {
            double max = logits[order[0]];
            double total = 0;
            double[] weights = new double[keep];
            for (int r = 0; r < keep; r++) {
                weights[r] = Math.exp((logits[order[r]] - max) / temperature);
                total += weights[r];
            }
            double cumulative = 0;
            int r = 0;
            while (r < keep && cumulative < topP * total) {
                cumulative += weights[r++];
            }
            keep = Math.max(r, 1);
        }
        boolean[] kept = new boolean[logits.length];
        for (int r = 0; r < keep; r++) {
            kept[order[r]] = true;
        }
        return kept;
    }

    /** The first index of the maximum; a NaN anywhere throws, as sampling does (no comparison would ever pick it). */
    static long argmax(float[] row) {
        int best = 0;
        for (int i = 0; i < row.length; i++) {
            rejectNaN(row[i]);
            if (row[i] > row[best]) {
                best = i;
            }
        }
        return best;
    }

    private static void rejectNaN(float logit) {
        if (Float.isNaN(logit)) {
            throw new IllegalArgumentException("the logits contain NaN (a NaN or infinite weight, or activations that overflowed)");
        }
    }
}
