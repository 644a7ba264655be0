package io.tessera.engine;

import static io.tessera.engine.ConformanceTargets.ACCUMULATED;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import java.util.stream.LongStream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The masked optimizer steps (adamwIndexed, adamwMasked, sgdIndexed, sgdMasked) on every device of
 * {@link ConformanceTargets}: updated entries against float64 re-implementations of torch.optim's AdamW and
 * SGD rules, every other entry of p and of the state bit for bit as it was. Sizes 0, 1 and primes (one
 * above the CPU index form's parallel threshold), masks empty, partial and full, int32 and int64 lists,
 * full-size and compact gradients; for the u8 mask also p one element into its buffer (off the 16-byte boundary
 * of the CUDA kernel's vector accesses).
 */
class BackendConformanceMaskedOptimTest {
    private static final int[] SIZES = {0, 1, 7, 1031, 10007};
    private static final double[] DENSITIES = {0, 0.3, 1};
    private static final float LR = 1e-2f;
    private static final float WD = 0.01f;

    static List<ConformanceTargets> targets() {
        return ConformanceTargets.all();
    }

    /**
     * How a step names its entries: an index list of either width, or a u8 mask; and its gradient: full-size,
     * or compact (one value per listed entry, as a restricted backward leaves it).
     */
    private enum Form {
        INDEXED_I32, INDEXED_I64, INDEXED_COMPACT_GRADIENT, MASKED;

        boolean indexed() {
            return this != MASKED;
        }

        Tensor selection(long[] entries, int n) {
            return switch (this) {
                case INDEXED_I32, INDEXED_COMPACT_GRADIENT ->
                        Tensor.of(LongStream.of(entries).mapToInt(Math::toIntExact).toArray(), entries.length);
                case INDEXED_I64 -> Tensor.of(entries, entries.length);
                case MASKED -> {
                    byte[] mask = new byte[n];
                    for (long e : entries) {
                        mask[(int) e] = 1;
                    }
                    yield Tensor.ofBytes(mask, DType.U8, n);
                }
            };
        }

        /** The gradient as this form passes it. */
        Ref gradient(Ref g, long[] entries) {
            if (this != INDEXED_COMPACT_GRADIENT) {
                return g;
            }
            return new Ref(new long[] {entries.length}, LongStream.of(entries).mapToDouble(i -> g.data()[(int) i]).toArray());
        }

        /** The state slot of the j-th listed entry, i. */
        int slot(int j, int i) {
            return indexed() ? j : i;
        }
    }

    /**
     * One step's inputs: which entries it updates, p and g (n long) and a state of the form's length; p starts
     * {@code offset} elements into its device buffer.
     */
    private record Case(String name, Form form, int n, long[] entries, Ref p, Ref g, Ref[] state, int offset) {
        static void forEach(int stateBuffers, CaseBody body) {
            int seed = 0;
            for (int n : SIZES) {
                for (double density : DENSITIES) {
                    SplittableRandom rng = new SplittableRandom(++seed);
                    long[] entries = LongStream.range(0, n).filter(i -> rng.nextDouble() < density).toArray();
                    Ref p = Ref.random(rng, -1, 1, n).rounded();
                    Ref g = Ref.random(rng, -1, 1, n).rounded();
                    for (Form form : Form.values()) {
                        int length = form.indexed() ? entries.length : n;
                        Ref[] state = new Ref[stateBuffers];
                        for (int b = 0; b < stateBuffers; b++) {
                            state[b] = Ref.random(rng, b == 1 ? 0 : -0.1, 0.1, length).rounded(); // AdamW's v >= 0
                        }
                        for (int offset = 0; offset <= (form == Form.MASKED ? 1 : 0); offset++) {
                            body.run(new Case(form + " n=" + n + " density=" + density + " offset=" + offset, form, n, entries, p, g,
                                    state, offset));
                        }
                    }
                }
            }
        }
    }

    private interface CaseBody {
        void run(Case c);
    }

    @ParameterizedTest
    @MethodSource("targets")
    @Covers({"adamwIndexed", "adamwMasked"})
    void adamwIndexedAndMaskedFollowPyTorchOnTheSelectedEntriesOnly(ConformanceTargets t) {
        float b1 = 0.9f;
        float b2 = 0.999f;
        float eps = 1e-8f;
        float bc1 = 1 - (float) Math.pow(b1, 3);
        float bc2 = 1 - (float) Math.pow(b2, 3);
        t.run(() -> Case.forEach(2, c -> {
            double[] pe = c.p.data().clone();
            double[] me = c.state[0].data().clone();
            double[] ve = c.state[1].data().clone();
            for (int j = 0; j < c.entries.length; j++) {
                int i = (int) c.entries[j];
                int s = c.form.slot(j, i);
                double decayed = pe[i] * (1 - (double) LR * WD);
                double gi = c.g.data()[i];
                me[s] = b1 * me[s] + (1 - (double) b1) * gi;
                ve[s] = b2 * ve[s] + (1 - (double) b2) * gi * gi;
                pe[i] = decayed - LR / (double) bc1 * me[s] / (Math.sqrt(ve[s]) / Math.sqrt(bc2) + eps);
            }
            Tensor selection = t.on(c.form.selection(c.entries, c.n));
            Tensor p = t.on(c.p, c.offset);
            Tensor m = t.on(c.state[0]);
            Tensor v = t.on(c.state[1]);
            if (c.form.indexed()) {
                t.backend().adamwIndexed(selection, p, t.on(c.form.gradient(c.g, c.entries)), m, v, LR, b1, b2, eps, WD, bc1, bc2);
            } else {
                t.backend().adamwMasked(selection, p, t.on(c.form.gradient(c.g, c.entries)), m, v, LR, b1, b2, eps, WD, bc1, bc2);
            }
            assertStep("adamw " + c.name + " p", c.p, pe, p, updatedEntries(c));
            assertStep("adamw " + c.name + " m", c.state[0], me, m, updatedSlots(c));
            assertStep("adamw " + c.name + " v", c.state[1], ve, v, updatedSlots(c));
        }));
    }

    @ParameterizedTest
    @MethodSource("targets")
    @Covers({"sgdIndexed", "sgdMasked"})
    void sgdIndexedAndMaskedFollowPyTorchOnTheSelectedEntriesOnly(ConformanceTargets t) {
        record Settings(float momentum, float dampening, boolean nesterov, boolean firstStep) {}
        List<Settings> settings = List.of(new Settings(0.9f, 0.1f, false, false), new Settings(0.9f, 0, true, false),
                new Settings(0.9f, 0.1f, false, true), new Settings(0, 0, false, false));
        t.run(() -> Case.forEach(1, c -> {
            for (Settings s : settings) {
                boolean hasBuffer = s.momentum != 0;
                double[] pe = c.p.data().clone();
                double[] be = c.state[0].data().clone();
                for (int j = 0; j < c.entries.length; j++) {
                    int i = (int) c.entries[j];
                    int slot = c.form.slot(j, i);
                    double d = c.g.data()[i] + WD * pe[i];
                    if (hasBuffer) {
                        be[slot] = s.firstStep ? d : s.momentum * be[slot] + (1 - (double) s.dampening) * d;
                        d = s.nesterov ? d + s.momentum * be[slot] : be[slot];
                    }
                    pe[i] -= LR * d;
                }
                Tensor selection = t.on(c.form.selection(c.entries, c.n));
                Tensor p = t.on(c.p, c.offset);
                Tensor buf = hasBuffer ? t.on(c.state[0]) : null;
                if (c.form.indexed()) {
                    t.backend().sgdIndexed(selection, p, t.on(c.form.gradient(c.g, c.entries)), buf, LR, s.momentum, s.dampening, WD,
                            s.nesterov, s.firstStep);
                } else {
                    t.backend().sgdMasked(selection, p, t.on(c.form.gradient(c.g, c.entries)), buf, LR, s.momentum, s.dampening, WD,
                            s.nesterov, s.firstStep);
                }
                String what = "sgd " + c.name + " " + s;
                assertStep(what + " p", c.p, pe, p, updatedEntries(c));
                if (hasBuffer) {
                    assertStep(what + " buf", c.state[0], be, buf, updatedSlots(c));
                }
            }
        }));
    }

    private static boolean[] updatedEntries(Case c) {
        boolean[] updated = new boolean[c.n];
        for (long e : c.entries) {
            updated[(int) e] = true;
        }
        return updated;
    }

    private static boolean[] updatedSlots(Case c) {
        if (!c.form.indexed()) {
            return updatedEntries(c);
        }
        boolean[] all = new boolean[c.entries.length];
        Arrays.fill(all, true);
        return all;
    }

    /** Updated entries within ACCUMULATED of the float64 reference; the others still hold the input's bits. */
    private static void assertStep(String what, Ref before, double[] expected, Tensor actual, boolean[] updated) {
        float[] got = actual.to(Device.CPU).toFloatArray();
        assertEquals(expected.length, got.length, what + ": size");
        for (int i = 0; i < got.length; i++) {
            if (updated[i]) {
                double e = expected[i];
                assertTrue(Math.abs(got[i] - e) <= ACCUMULATED * (1 + Math.abs(e)),
                        what + "[" + i + "]: expected " + e + ", got " + got[i]);
            } else {
                assertEquals(Float.floatToRawIntBits((float) before.data()[i]), Float.floatToRawIntBits(got[i]),
                        what + "[" + i + "] is not selected and must keep its bits");
            }
        }
    }
}
