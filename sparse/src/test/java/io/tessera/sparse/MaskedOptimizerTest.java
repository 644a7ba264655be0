package io.tessera.sparse;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tessera.engine.HostStorage;
import io.tessera.engine.Tensor;
import io.tessera.engine.TensorScope;
import io.tessera.engine.nn.Mlp;
import io.tessera.engine.optim.AdamW;
import io.tessera.ffi.TesseraCpu;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.function.Function;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

/**
 * Masked AdamW and SGD: unmasked entries keep every bit; masked entries follow float64 re-implementations
 * of torch.optim's rules, and the index form, the dense masked form and engine's dense AdamW agree bit
 * for bit on them (they share kernels/include/tessera/ts_optim_math.h).
 */
class MaskedOptimizerTest {
    private static final double LR = 0.01;
    private static final double B1 = 0.9;
    private static final double B2 = 0.95;
    private static final double EPS = 1e-8;
    private static final double WD = 0.1;

    @AfterAll
    static void noLeaks() {
        assertEquals(0, HostStorage.liveBytes(), "native bytes still allocated");
    }

    private static float[] random(SplittableRandom rng, int n) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = (float) (rng.nextDouble() * 2 - 1);
        }
        return v;
    }

    /** A batch of 11 inputs for the Mlp(7, 23, 17, 5) the training tests use, and its labels. */
    private static Tensor randomImages(SplittableRandom rng) {
        return Tensor.of(random(rng, 11 * 23), 11, 23);
    }

    private static Tensor randomLabels(SplittableRandom rng) {
        int[] labels = new int[11];
        for (int i = 0; i < labels.length; i++) {
            labels[i] = rng.nextInt(5);
        }
        return Tensor.of(labels, 11);
    }

    private static long[] randomIndices(SplittableRandom rng, long n, double density) {
        return SparseMaskTest.indicesOf(SparseMaskTest.randomSet(rng, (int) n, density));
    }

    /** torch.optim.AdamW on the listed entries only, in float64. */
    private static final class AdamWReference {
        final double[] p;
        final double[] m;
        final double[] v;
        final long[] entries;
        int step;

        AdamWReference(float[] initial, long[] entries) {
            this.entries = entries;
            p = new double[initial.length];
            for (int i = 0; i < initial.length; i++) {
                p[i] = initial[i];
            }
            m = new double[initial.length];
            v = new double[initial.length];
        }

        void step(float[] g) {
            step++;
            for (long e : entries) {
                int i = (int) e;
                p[i] -= LR * WD * p[i];
                m[i] = B1 * m[i] + (1 - B1) * g[i];
                v[i] = B2 * v[i] + (1 - B2) * g[i] * g[i];
                double mHat = m[i] / (1 - Math.pow(B1, step));
                double vHat = v[i] / (1 - Math.pow(B2, step));
                p[i] -= LR * mHat / (Math.sqrt(vHat) + EPS);
            }
        }
    }

    /** Runs {@code steps} masked AdamW steps on one parameter with the given form; returns its final values. */
    private static float[] trainOne(float[] initial, long[] entries, UpdateForm form, List<float[]> grads) {
        Tensor p = TensorScope.outside(() -> Tensor.of(initial, initial.length)).requiresGrad(true);
        SparseMask mask = SparseMask.fromIndices(Map.of("p", new long[] {initial.length}), Map.of("p", entries));
        try (MaskedAdamW opt = new MaskedAdamW(Map.of("p", p), mask, LR, B1, B2, EPS, WD, m -> form)) {
            assertEquals(Map.of("p", form), opt.forms());
            for (float[] g : grads) {
                try (TensorScope _ = TensorScope.open()) {
                    p.setGrad(Tensor.of(g, g.length));
                    opt.step();
                    p.setGrad(null);
                }
            }
            return p.toFloatArray();
        } finally {
            p.close();
        }
    }

    /** On every ISA tier this CPU runs (the tiers differ from each other: only x86-64-v3 and up fuse multiply-adds). */
    @Test
    void adamwFormsAgreeWithEachOtherWithEngineAndWithTorchsRuleOnEveryTier() {
        int active = TesseraCpu.ts_isa_active();
        try {
            for (int tier : new int[] {TesseraCpu.ISA_BASE, TesseraCpu.ISA_AVX2, TesseraCpu.ISA_AVX512}) {
                if (TesseraCpu.ts_isa_select(tier) == TesseraCpu.TS_OK) {
                    adamwFormsAgree("tier " + tier + ": ");
                }
            }
        } finally {
            TesseraCpu.ts_isa_select(active);
        }
    }

    private static void adamwFormsAgree(String tier) {
        SplittableRandom rng = new SplittableRandom(1);
        int n = 40_009; // above the kernels' parallel thresholds, not a multiple of any vector width
        float[] initial = random(rng, n);
        long[] entries = randomIndices(rng, n, 0.15); // ~6000: above the index form's parallel threshold, a partial last block
        List<float[]> grads = List.of(random(rng, n), random(rng, n), random(rng, n), random(rng, n));

        float[] indexed = trainOne(initial, entries, UpdateForm.INDEXED, grads);
        float[] dense = trainOne(initial, entries, UpdateForm.DENSE, grads);
        float[] engine;
        Tensor full = TensorScope.outside(() -> Tensor.of(initial, n)).requiresGrad(true);
        try (AdamW adamw = new AdamW(List.of(full), LR, B1, B2, EPS, WD)) {
            for (float[] g : grads) {
                try (TensorScope _ = TensorScope.open()) {
                    full.setGrad(Tensor.of(g, n));
                    adamw.step();
                    full.setGrad(null);
                }
            }
            engine = full.toFloatArray();
        } finally {
            full.close();
        }
        AdamWReference reference = new AdamWReference(initial, entries);
        grads.forEach(reference::step);

        boolean[] masked = new boolean[n];
        for (long e : entries) {
            masked[(int) e] = true;
        }
        for (int i = 0; i < n; i++) {
            assertEquals(Float.floatToRawIntBits(indexed[i]), Float.floatToRawIntBits(dense[i]), tier + "indexed vs dense at " + i);
            if (masked[i]) {
                assertEquals(Float.floatToRawIntBits(engine[i]), Float.floatToRawIntBits(indexed[i]), tier + "engine AdamW at " + i);
                assertEquals(reference.p[i], indexed[i], 1e-6, tier + "torch AdamW (float64) at " + i);
            } else {
                assertEquals(Float.floatToRawIntBits(initial[i]), Float.floatToRawIntBits(indexed[i]), tier + "unmasked entry " + i);
            }
        }
    }

    @Test
    void trainingAnMlpWithAMaskLeavesEveryUnmaskedBitAlone() {
        SplittableRandom rng = new SplittableRandom(2);
        try (Mlp model = new Mlp(7, 23, 17, 5)) {
            Map<String, Tensor> params = model.namedParameters();
            Map<String, byte[]> initial = new HashMap<>();
            params.forEach((name, t) -> initial.put(name, t.toByteArray()));
            long[] weightEntries = randomIndices(rng, 17 * 23, 0.05);
            long[] biasEntries = new long[17];
            for (int i = 0; i < 17; i++) {
                biasEntries[i] = i;
            }
            SparseMask mask = SparseMask.fromIndices(Map.of("0.weight", new long[] {17, 23}, "0.bias", new long[] {17}),
                    Map.of("0.weight", weightEntries, "0.bias", biasEntries));
            Map<String, AdamWReference> references = Map.of(
                    "0.weight", new AdamWReference(params.get("0.weight").toFloatArray(), weightEntries),
                    "0.bias", new AdamWReference(params.get("0.bias").toFloatArray(), biasEntries));
            try (MaskedAdamW opt = new MaskedAdamW(params, mask, LR, B1, B2, EPS, WD, UpdateForm::byDensity)) {
                assertEquals(Map.of("0.weight", UpdateForm.INDEXED, "0.bias", UpdateForm.DENSE), opt.forms(),
                        "5% is indexed, 100% is dense");
                assertTrue(opt.describe().contains("0.weight indexed") && opt.describe().contains("0.bias dense"), opt.describe());
                for (int step = 0; step < 5; step++) {
                    try (TensorScope _ = TensorScope.open()) {
                        opt.zeroGrad();
                        model.forward(randomImages(rng)).crossEntropy(randomLabels(rng)).backward();
                        references.forEach((name, ref) -> ref.step(params.get(name).grad().toFloatArray()));
                        opt.step();
                    }
                }
                opt.zeroGrad();
            }
            params.forEach((name, t) -> {
                byte[] before = initial.get(name);
                byte[] after = t.toByteArray();
                AdamWReference ref = references.get(name);
                boolean[] masked = new boolean[(int) t.numel()];
                if (ref != null) {
                    for (long e : ref.entries) {
                        masked[(int) e] = true;
                    }
                }
                float[] values = t.toFloatArray();
                for (int i = 0; i < masked.length; i++) {
                    if (masked[i]) {
                        assertEquals(ref.p[i], values[i], 1e-6, name + "[" + i + "] against torch's AdamW in float64");
                    } else {
                        assertArrayEquals(Arrays.copyOfRange(before, 4 * i, 4 * i + 4),
                                Arrays.copyOfRange(after, 4 * i, 4 * i + 4), name + "[" + i + "] must keep its bits");
                    }
                }
            });
        }
    }

    @Test
    void compactGradientsTrainTheMaskedEntriesAsFullGradientsDoAndLeaveTheRestAlone() {
        SplittableRandom rng = new SplittableRandom(5);
        try (Mlp full = new Mlp(7, 23, 17, 5); Mlp compact = new Mlp(7, 23, 17, 5)) {
            Map<String, byte[]> initial = new HashMap<>();
            full.namedParameters().forEach((name, t) -> initial.put(name, t.toByteArray()));
            SparseMask mask = SparseMask.fromIndices(
                    Map.of("0.weight", new long[] {17, 23}, "2.weight", new long[] {5, 17}, "2.bias", new long[] {5}),
                    Map.of("0.weight", randomIndices(rng, 17 * 23, 0.05), "2.weight", randomIndices(rng, 5 * 17, 0.1),
                            "2.bias", new long[] {2}));
            try (MaskedAdamW fullOpt = new MaskedAdamW(full.namedParameters(), mask, LR, B1, B2, EPS, WD, m -> UpdateForm.INDEXED);
                 MaskedAdamW compactOpt = new MaskedAdamW(compact.namedParameters(), mask, LR, B1, B2, EPS, WD, m -> UpdateForm.INDEXED)) {
                compactOpt.compactGradients();
                compactOpt.compactGradients(); // a second call changes nothing
                for (int step = 0; step < 5; step++) {
                    try (TensorScope _ = TensorScope.open()) {
                        Tensor x = randomImages(rng);
                        Tensor y = randomLabels(rng);
                        for (var pair : List.of(Map.entry(full, fullOpt), Map.entry(compact, compactOpt))) {
                            pair.getValue().zeroGrad();
                            pair.getKey().forward(x).crossEntropy(y).backward();
                            pair.getValue().step();
                        }
                        assertArrayEquals(new long[] {mask.tensors().get("0.weight").count()},
                                compact.namedParameters().get("0.weight").grad().shape(), "the masked weight's gradient is compact");
                        assertArrayEquals(new long[] {0}, compact.namedParameters().get("0.bias").grad().shape(),
                                "a frozen parameter's gradient is restricted to no entries");
                    }
                }
                fullOpt.zeroGrad();
            }
            compact.namedParameters().forEach((name, p) -> assertTrue(p.gradIndices() == null
                    && (p.grad() == null || !mask.tensors().containsKey(name)), name + ": closing the optimizer drops compact"
                    + " gradients and lifts the restriction"));
            compact.namedParameters().forEach((name, t) -> {
                float[] expected = full.namedParameters().get(name).toFloatArray();
                float[] got = t.toFloatArray();
                TensorMask m = mask.tensors().get(name);
                boolean[] masked = new boolean[got.length];
                if (m != null) {
                    m.forEachIndex(i -> masked[(int) i] = true);
                }
                byte[] before = initial.get(name);
                byte[] after = t.toByteArray();
                for (int i = 0; i < got.length; i++) {
                    if (masked[i]) {
                        assertEquals(expected[i], got[i], 1e-5 * (1 + Math.abs(expected[i])), name + "[" + i + "]");
                    } else {
                        assertArrayEquals(Arrays.copyOfRange(before, 4 * i, 4 * i + 4),
                                Arrays.copyOfRange(after, 4 * i, 4 * i + 4), name + "[" + i + "] must keep its bits");
                    }
                }
            });
        }
    }

    @Test
    void sgdWithMomentumAndNesterovFollowsTorchOnMaskedEntriesOnly() {
        for (boolean nesterov : new boolean[] {false, true}) {
            for (UpdateForm form : UpdateForm.values()) {
                SplittableRandom rng = new SplittableRandom(3);
                int n = 5003;
                float[] initial = random(rng, n);
                long[] entries = randomIndices(rng, n, 0.1);
                double momentum = 0.9;
                double dampening = nesterov ? 0 : 0.1;
                double wd = 0.01;
                double lr = 0.05;
                double[] p = new double[n];
                double[] buf = new double[n];
                for (int i = 0; i < n; i++) {
                    p[i] = initial[i];
                }
                Tensor param = TensorScope.outside(() -> Tensor.of(initial, n)).requiresGrad(true);
                SparseMask mask = SparseMask.fromIndices(Map.of("p", new long[] {n}), Map.of("p", entries));
                try (MaskedSgd sgd = new MaskedSgd(Map.of("p", param), mask, lr, momentum, dampening, wd, nesterov, m -> form)) {
                    for (int step = 1; step <= 4; step++) {
                        float[] g = random(rng, n);
                        try (TensorScope _ = TensorScope.open()) {
                            param.setGrad(Tensor.of(g, n));
                            sgd.step();
                            param.setGrad(null);
                        }
                        for (long e : entries) {
                            int i = (int) e;
                            double d = g[i] + wd * p[i];
                            buf[i] = step == 1 ? d : momentum * buf[i] + (1 - dampening) * d;
                            d = nesterov ? d + momentum * buf[i] : buf[i];
                            p[i] -= lr * d;
                        }
                    }
                    float[] actual = param.toFloatArray();
                    boolean[] masked = new boolean[n];
                    for (long e : entries) {
                        masked[(int) e] = true;
                    }
                    for (int i = 0; i < n; i++) {
                        String where = form + " nesterov=" + nesterov + " p[" + i + "]";
                        if (masked[i]) {
                            assertEquals(p[i], actual[i], 1e-5, where);
                        } else {
                            assertEquals(Float.floatToRawIntBits(initial[i]), Float.floatToRawIntBits(actual[i]), where);
                        }
                    }
                } finally {
                    param.close();
                }
            }
        }
    }

    /** Tensors of 2^31 or more elements take int64 indices; the kernel must read them as it reads int32 ones. */
    @Test
    void int64IndexListsUpdateTheSameEntries() {
        SplittableRandom rng = new SplittableRandom(4);
        int n = 9001;
        float[] initial = random(rng, n);
        float[] grad = random(rng, n);
        long[] entries = randomIndices(rng, n, 0.6);
        int[] narrow = Arrays.stream(entries).mapToInt(Math::toIntExact).toArray();
        float[][] results = new float[2][];
        for (int wide = 0; wide < 2; wide++) {
            try (TensorScope _ = TensorScope.open()) {
                Tensor indices = wide == 1 ? Tensor.of(entries, entries.length) : Tensor.of(narrow, narrow.length);
                Tensor p = Tensor.of(initial, n);
                MaskedKernels.adamwIndexed(indices, p, Tensor.of(grad, n), Tensor.zeros(entries.length),
                        Tensor.zeros(entries.length), (float) LR, (float) B1, (float) B2, (float) EPS, (float) WD, 1);
                results[wide] = p.toFloatArray();
            }
        }
        assertArrayEquals(results[0], results[1]);
        assertTrue(results[0][(int) entries[0]] != initial[(int) entries[0]], "the listed entries moved");
    }

    @Test
    void theFormFollowsTheDensityThreshold() {
        long n = 1000;
        long at = Math.round(n * UpdateForm.DENSE_ABOVE_DENSITY);
        long[] atThreshold = new long[(int) at];
        long[] above = new long[(int) at + 1];
        for (int i = 0; i < above.length; i++) {
            above[i] = i;
            if (i < atThreshold.length) {
                atThreshold[i] = i;
            }
        }
        assertEquals(UpdateForm.INDEXED, UpdateForm.byDensity(TensorMask.ofIndices(new long[] {n}, atThreshold)));
        assertEquals(UpdateForm.DENSE, UpdateForm.byDensity(TensorMask.ofIndices(new long[] {n}, above)));
    }

    @Test
    void refusesAMaskThatDoesNotFitTheParameters() {
        Map<String, Tensor> params = new LinkedHashMap<>();
        params.put("w", TensorScope.outside(() -> Tensor.zeros(4, 3)).requiresGrad(true));
        try {
            SparseMask mask = SparseMask.fromIndices(Map.of("w", new long[] {3, 4}, "ghost", new long[] {2}),
                    Map.of("w", new long[] {1}, "ghost", new long[] {0}));
            Function<TensorMask, UpdateForm> byDensity = UpdateForm::byDensity;
            String message = assertThrows(IllegalArgumentException.class,
                    () -> new MaskedAdamW(params, mask, 0.1, 0.9, 0.999, 1e-8, 0, byDensity)).getMessage();
            assertTrue(message.contains("'ghost' is masked but is not a parameter")
                    && message.contains("'w' has mask shape [3, 4] but is f32[4, 3]"), message);
        } finally {
            params.values().forEach(Tensor::close);
        }
    }
}
