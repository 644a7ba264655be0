package io.tessera.ffi;

import static io.tessera.ffi.KernelTestSupport.assertAllClose;
import static io.tessera.ffi.KernelTestSupport.get;
import static io.tessera.ffi.KernelTestSupport.put;
import static io.tessera.ffi.KernelTestSupport.select;
import static io.tessera.ffi.KernelTestSupport.uniform;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * ts_adamw_f32 and ts_sgd_f32 on every ISA tier, five consecutive steps each: every step starts from the
 * kernel's own float state and is compared with a float64 Java reimplementation of PyTorch's
 * torch.optim.AdamW / torch.optim.SGD update for that step (so the tolerance is one step's rounding, not
 * an accumulated drift). SGD covers plain, weight decay, momentum with and without dampening, Nesterov,
 * and the first step that initialises the momentum buffer.
 */
class OptimKernelTest {
    private static final long[] SIZES = {0, 1, 7, 13, 1023, 100_003};
    private static final int STEPS = 5;

    static Stream<Arguments> sizes() {
        List<Object[]> cases = new ArrayList<>();
        for (long n : SIZES) {
            cases.add(new Object[] {n});
        }
        return KernelTestSupport.withTiers(cases);
    }

    /** SGD settings: momentum, dampening, weight decay, nesterov. */
    record Sgd(float momentum, float dampening, float weightDecay, int nesterov) {
        @Override
        public String toString() {
            return "momentum " + momentum + ", dampening " + dampening + ", wd " + weightDecay
                    + (nesterov != 0 ? ", nesterov" : "");
        }
    }

    static Stream<Arguments> sgdCases() {
        Sgd[] settings = {
            new Sgd(0, 0, 0, 0), new Sgd(0, 0, 1e-2f, 0), new Sgd(0.9f, 0, 0, 0), new Sgd(0.9f, 0.1f, 1e-2f, 0),
            new Sgd(0.9f, 0, 1e-2f, 1), new Sgd(0.5f, 0.5f, 0, 1),
        };
        List<Object[]> cases = new ArrayList<>();
        for (long n : SIZES) {
            for (Sgd s : settings) {
                cases.add(new Object[] {n, s});
            }
        }
        return KernelTestSupport.withTiers(cases);
    }

    @AfterAll
    static void restoreBestTier() {
        KernelTestSupport.restoreBestTier();
    }

    /** Gradients of mixed scales, with exact zeros (AdamW's v = 0 then makes the step 0/eps = 0). */
    private static float[] gradient(SplittableRandom random, long n) {
        float[] g = uniform(random, n, -1, 1);
        for (int i = 0; i < n; i++) {
            switch (random.nextInt(8)) {
                case 0 -> g[i] = 0f;
                case 1 -> g[i] *= 1e-4f;
                case 2 -> g[i] *= 100f;
                default -> { }
            }
        }
        return g;
    }

    @ParameterizedTest(name = "tier {0}, n {1}")
    @MethodSource("sizes")
    void adamwFollowsPyTorchStepByStep(int tier, long n) {
        select(tier);
        SplittableRandom random = new SplittableRandom(71 * n + tier);
        int len = (int) n;
        float[] p = uniform(random, n, -2, 2);
        float[] m = new float[len];
        float[] v = new float[len];
        float beta1 = 0.9f;
        float beta2 = 0.999f;
        float eps = 1e-8f;
        float[] lrs = {1e-3f, 1e-3f, 5e-4f, 2e-2f, 1e-3f};
        float[] decays = {0.01f, 0.01f, 0f, 0.1f, 0.01f};
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment ps = put(arena, p);
            MemorySegment ms = put(arena, m);
            MemorySegment vs = put(arena, v);
            for (int step = 1; step <= STEPS; step++) {
                float[] g = gradient(random, n);
                float lr = lrs[step - 1];
                float wd = decays[step - 1];
                // the caller's bias corrections, as torch.optim.AdamW computes them (in float64, then passed on)
                float bc1 = (float) (1 - Math.pow(beta1, step));
                float bc2 = (float) (1 - Math.pow(beta2, step));
                float[] p0 = get(ps, n);
                float[] m0 = get(ms, n);
                float[] v0 = get(vs, n);
                assertEquals(TesseraCpu.TS_OK,
                        TesseraCpu.ts_adamw_f32(n, ps, put(arena, g), ms, vs, lr, beta1, beta2, eps, wd, bc1, bc2));

                double[] pe = new double[len];
                double[] me = new double[len];
                double[] ve = new double[len];
                double[] stepSize = new double[len];
                double[] stepError = new double[len];
                for (int i = 0; i < n; i++) {
                    // torch.optim.AdamW: decoupled decay, moments, bias-corrected step
                    double pi = p0[i] - (double) lr * wd * p0[i];
                    me[i] = beta1 * (double) m0[i] + (1 - (double) beta1) * g[i];
                    ve[i] = beta2 * (double) v0[i] + (1 - (double) beta2) * g[i] * (double) g[i];
                    stepSize[i] = lr * (me[i] / bc1) / (Math.sqrt(ve[i] / bc2) + eps);
                    pe[i] = pi - stepSize[i];
                    // m = b1 m + (1 - b1) g may cancel: its rounding is relative to the terms, not to m
                    double denom = Math.sqrt(ve[i] / bc2) + eps;
                    stepError[i] = 1e-6 * Math.abs(stepSize[i])
                            + lr / bc1 * 2e-7 * (Math.abs(m0[i]) + Math.abs(g[i])) / denom;
                }
                String at = "step " + step + " ";
                // two roundings of p (after the decay, after the step), a few of the step and of the decay term
                assertAllClose(pe, get(ps, n), i -> 0x1p-22 * Math.abs(pe[i]) + stepError[i]
                        + 1e-6 * Math.abs((double) lr * wd * p0[i]) + 1e-30, at + "p");
                assertAllClose(me, get(ms, n), i -> 2e-7 * (Math.abs(m0[i]) + Math.abs(g[i])) + 1e-30, at + "m");
                assertAllClose(ve, get(vs, n), i -> 2e-7 * (Math.abs(v0[i]) + (double) g[i] * g[i]) + 1e-30,
                        at + "v");
            }
        }
    }

    @ParameterizedTest(name = "tier {0}, n {1}, {2}")
    @MethodSource("sgdCases")
    void sgdFollowsPyTorchStepByStep(int tier, long n, Sgd s) {
        select(tier);
        SplittableRandom random = new SplittableRandom(73 * n + tier);
        int len = (int) n;
        boolean hasBuffer = s.momentum != 0;
        float[] lrs = {0.1f, 0.1f, 0.05f, 0.01f, 0.1f};
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment ps = put(arena, uniform(random, n, -2, 2));
            // the buffer's contents before the first step are garbage: first_step must ignore them
            MemorySegment bufs = hasBuffer ? put(arena, uniform(random, n, -100, 100)) : MemorySegment.NULL;
            for (int step = 1; step <= STEPS; step++) {
                float[] g = gradient(random, n);
                float lr = lrs[step - 1];
                int first = step == 1 ? 1 : 0;
                float[] p0 = get(ps, n);
                float[] b0 = hasBuffer ? get(bufs, n) : null;
                assertEquals(TesseraCpu.TS_OK, TesseraCpu.ts_sgd_f32(n, ps, put(arena, g), bufs, lr, s.momentum,
                        s.dampening, s.weightDecay, s.nesterov, first));

                double[] pe = new double[len];
                double[] be = new double[len];
                double[] scale = new double[len];
                double[] bScale = new double[len];
                for (int i = 0; i < n; i++) {
                    // torch.optim.SGD
                    double d = g[i] + (double) s.weightDecay * p0[i];
                    double dAbs = Math.abs(g[i]) + Math.abs((double) s.weightDecay * p0[i]);
                    if (hasBuffer) {
                        be[i] = first != 0 ? d : s.momentum * (double) b0[i] + (1 - (double) s.dampening) * d;
                        bScale[i] = first != 0 ? dAbs : Math.abs(s.momentum * (double) b0[i]) + dAbs;
                        d = s.nesterov != 0 ? d + s.momentum * be[i] : be[i];
                        dAbs = s.nesterov != 0 ? dAbs + Math.abs(s.momentum) * bScale[i] : bScale[i];
                    }
                    pe[i] = p0[i] - (double) lr * d;
                    scale[i] = Math.abs(lr) * dAbs;
                }
                String at = "step " + step + " ";
                assertAllClose(pe, get(ps, n), i -> 0x1p-22 * Math.abs(pe[i]) + 1e-6 * scale[i] + 1e-30, at + "p");
                if (hasBuffer) {
                    assertAllClose(be, get(bufs, n), i -> 4e-7 * bScale[i] + 1e-30, at + "momentum buffer");
                }
            }
        }
    }

    @ParameterizedTest(name = "tier {0}")
    @MethodSource("io.tessera.ffi.KernelTestSupport#tierArguments")
    void sgdWithoutWeightDecayKeepsAnInfiniteParameterInfinite(int tier) {
        select(tier);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment p = put(arena, new float[] {Float.POSITIVE_INFINITY, 1f});
            assertEquals(TesseraCpu.TS_OK, TesseraCpu.ts_sgd_f32(2, p, put(arena, new float[] {1f, 1f}),
                    MemorySegment.NULL, 0.5f, 0f, 0f, 0f, 0, 1));
            // PyTorch adds wd * p only when wd != 0; 0 * inf would have made it NaN
            assertArrayEquals(new float[] {Float.POSITIVE_INFINITY, 0.5f}, get(p, 2));
        }
    }
}
