package io.tessera.engine;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.MemorySegment;
import java.util.SplittableRandom;
import java.util.function.BiConsumer;
import org.junit.jupiter.api.Test;

/**
 * The fused ops that {@link Backend} also defines as composites of its core ops (adamw, sgd,
 * kahanAccumulate, fisherMerge): a backend that implements only the core ops ({@link CoreOnly}, the CPU
 * backend's kernels for everything else) gives the fused kernels' results, up to the roundings the fused
 * forms skip, on random inputs of awkward sizes.
 */
class CompositeDefaultsTest {
    private static final CpuBackend CPU = CpuBackend.INSTANCE;

    /** The CPU backend without its fused optimizer and Fisher kernels. */
    static final class CoreOnly extends Backend {
        @Override
        public Device device() {
            return Device.CPU;
        }

        @Override
        protected Storage allocateImpl(long bytes) {
            return CPU.allocateImpl(bytes);
        }

        @Override
        protected void writeImpl(Tensor dst, MemorySegment src) {
            CPU.writeImpl(dst, src);
        }

        @Override
        protected void readImpl(Tensor src, MemorySegment dst) {
            CPU.readImpl(src, dst);
        }

        @Override
        protected void copyImpl(Tensor src, Tensor dst) {
            CPU.copyImpl(src, dst);
        }

        @Override
        protected void fillImpl(Tensor dst, double value) {
            CPU.fillImpl(dst, value);
        }

        @Override
        protected void unaryImpl(Ops.Unary op, float alpha, Tensor x, Tensor y) {
            CPU.unaryImpl(op, alpha, x, y);
        }

        @Override
        protected void binaryImpl(Ops.Binary op, Tensor a, Tensor b, Tensor y) {
            CPU.binaryImpl(op, a, b, y);
        }

        @Override
        protected void compareImpl(Ops.Compare op, Tensor a, Tensor b, Tensor y) {
            CPU.compareImpl(op, a, b, y);
        }

        @Override
        protected void whereImpl(Tensor cond, Tensor a, Tensor b, Tensor y) {
            CPU.whereImpl(cond, a, b, y);
        }

        @Override
        protected void reduceImpl(Ops.Reduce op, Tensor x, int[] dims, Tensor y) {
            CPU.reduceImpl(op, x, dims, y);
        }

        @Override
        protected void matmulImpl(Tensor a, Tensor b, Tensor y) {
            CPU.matmulImpl(a, b, y);
        }

        @Override
        protected void sampledMatmulImpl(Tensor a, Tensor b, Tensor indices, Tensor y) {
            CPU.sampledMatmulImpl(a, b, indices, y);
        }

        @Override
        protected void softmaxImpl(Tensor x, Tensor y, boolean log) {
            CPU.softmaxImpl(x, y, log);
        }

        @Override
        protected void softmaxBackwardImpl(Tensor y, Tensor gy, Tensor gx, boolean log) {
            CPU.softmaxBackwardImpl(y, gy, gx, log);
        }

        @Override
        protected void layerNormImpl(Tensor x, Tensor w, Tensor b, float eps, Tensor y, Tensor mean, Tensor rstd) {
            CPU.layerNormImpl(x, w, b, eps, y, mean, rstd);
        }

        @Override
        protected void layerNormBackwardImpl(Tensor x, Tensor w, Tensor mean, Tensor rstd, Tensor gy, Tensor gx, Tensor gw, Tensor gb) {
            CPU.layerNormBackwardImpl(x, w, mean, rstd, gy, gx, gw, gb);
        }

        @Override
        protected void rmsNormImpl(Tensor x, Tensor w, float eps, Tensor y, Tensor rstd) {
            CPU.rmsNormImpl(x, w, eps, y, rstd);
        }

        @Override
        protected void ropeImpl(Tensor x, Tensor cos, Tensor sin, Tensor pos, boolean inverse, Tensor y) {
            CPU.ropeImpl(x, cos, sin, pos, inverse, y);
        }

        @Override
        protected void rmsNormBackwardImpl(Tensor x, Tensor w, Tensor rstd, Tensor gy, Tensor gx, Tensor gw) {
            CPU.rmsNormBackwardImpl(x, w, rstd, gy, gx, gw);
        }

        @Override
        protected void crossEntropyImpl(Tensor logits, Tensor labels, Tensor loss, Tensor lse) {
            CPU.crossEntropyImpl(logits, labels, loss, lse);
        }

        @Override
        protected void crossEntropyBackwardImpl(Tensor logits, Tensor labels, Tensor lse, Tensor gloss, Tensor glogits) {
            CPU.crossEntropyBackwardImpl(logits, labels, lse, gloss, glogits);
        }

        @Override
        protected void embeddingImpl(Tensor weight, Tensor idx, Tensor out) {
            CPU.embeddingImpl(weight, idx, out);
        }

        @Override
        protected void embeddingBackwardImpl(Tensor gout, Tensor idx, Tensor gweight) {
            CPU.embeddingBackwardImpl(gout, idx, gweight);
        }

        @Override
        protected void causalMaskImpl(Tensor x, long past, float value) {
            CPU.causalMaskImpl(x, past, value);
        }

        @Override
        protected void randomImpl(Tensor y, long seed, long offset, boolean normal) {
            CPU.randomImpl(y, seed, offset, normal);
        }

        @Override
        protected void adamwIndexedImpl(Tensor indices, Tensor p, Tensor g, Tensor m, Tensor v, float lr, float beta1, float beta2,
                                        float eps, float weightDecay, float biasCorrection1, float biasCorrection2) {
            CPU.adamwIndexedImpl(indices, p, g, m, v, lr, beta1, beta2, eps, weightDecay, biasCorrection1, biasCorrection2);
        }

        @Override
        protected void adamwMaskedImpl(Tensor mask, Tensor p, Tensor g, Tensor m, Tensor v, float lr, float beta1, float beta2, float eps,
                                       float weightDecay, float biasCorrection1, float biasCorrection2) {
            CPU.adamwMaskedImpl(mask, p, g, m, v, lr, beta1, beta2, eps, weightDecay, biasCorrection1, biasCorrection2);
        }

        @Override
        protected void sgdIndexedImpl(Tensor indices, Tensor p, Tensor g, Tensor buf, float lr, float momentum, float dampening,
                                      float weightDecay, boolean nesterov, boolean firstStep) {
            CPU.sgdIndexedImpl(indices, p, g, buf, lr, momentum, dampening, weightDecay, nesterov, firstStep);
        }

        @Override
        protected void sgdMaskedImpl(Tensor mask, Tensor p, Tensor g, Tensor buf, float lr, float momentum, float dampening,
                                     float weightDecay, boolean nesterov, boolean firstStep) {
            CPU.sgdMaskedImpl(mask, p, g, buf, lr, momentum, dampening, weightDecay, nesterov, firstStep);
        }

        @Override
        protected long radixHistogramImpl(Tensor x, long prefix, int prefixBits, int digitShift, int digitBits, long[] histogram) {
            return CPU.radixHistogramImpl(x, prefix, prefixBits, digitShift, digitBits, histogram);
        }

        @Override
        protected Selected selectAboveImpl(Tensor x, int thresholdKey, long equalQuota, Tensor indices, Tensor keys) {
            return CPU.selectAboveImpl(x, thresholdKey, equalQuota, indices, keys);
        }

        @Override
        protected void solvePositiveDefiniteImpl(Tensor a, Tensor b) {
            CPU.solvePositiveDefiniteImpl(a, b);
        }

        @Override
        protected void quantizeBlockwiseImpl(Tensor x, int block, Tensor codes, Tensor scales) {
            CPU.quantizeBlockwiseImpl(x, block, codes, scales);
        }

        @Override
        protected void dequantizeBlockwiseImpl(Tensor codes, Tensor scales, int block, Tensor y) {
            CPU.dequantizeBlockwiseImpl(codes, scales, block, y);
        }

        @Override
        protected long outlierColumnsImpl(Tensor x, float threshold, Tensor flags) {
            return CPU.outlierColumnsImpl(x, threshold, flags);
        }

        @Override
        protected void quantizeRowsImpl(Tensor x, Tensor exclude, Tensor codes, Tensor scales) {
            CPU.quantizeRowsImpl(x, exclude, codes, scales);
        }

        @Override
        protected void matmulQ8Impl(Tensor xCodes, Tensor xScales, Tensor wCodes, Tensor wScales, Tensor bias, Tensor y) {
            CPU.matmulQ8Impl(xCodes, xScales, wCodes, wScales, bias, y);
        }

        @Override
        protected void matmulQ8OutliersImpl(Tensor x, Tensor columns, Tensor wCodes, Tensor wScales, Tensor y) {
            CPU.matmulQ8OutliersImpl(x, columns, wCodes, wScales, y);
        }
    }

    private static final Backend CORE = new CoreOnly();
    private static final long[] SIZES = {0, 1, 7, 4099};

    private static Tensor random(SplittableRandom rng, long n, double lo, double hi) {
        float[] v = new float[(int) n];
        for (int i = 0; i < n; i++) {
            v[i] = (float) (lo + (hi - lo) * rng.nextDouble());
        }
        return Tensor.of(v, n);
    }

    /** Runs op on a copy of each state tensor with the fused CPU kernels and with the composites; compares. */
    private static void assertSame(String what, Tensor[] state, BiConsumer<Backend, Tensor[]> op, double tol) {
        Tensor[] fused = new Tensor[state.length];
        Tensor[] composite = new Tensor[state.length];
        for (int i = 0; i < state.length; i++) {
            fused[i] = Tensor.of(state[i].toFloatArray(), state[i].shape());
            composite[i] = Tensor.of(state[i].toFloatArray(), state[i].shape());
        }
        op.accept(CPU, fused);
        op.accept(CORE, composite);
        for (int i = 0; i < state.length; i++) {
            float[] expected = fused[i].toFloatArray();
            float[] actual = composite[i].toFloatArray();
            for (int j = 0; j < expected.length; j++) {
                double err = Math.abs(expected[j] - actual[j]);
                assertTrue(err <= tol * (1 + Math.abs(expected[j])), what + " tensor " + i + "[" + j + "]: fused " + expected[j]
                        + ", composite " + actual[j]);
            }
        }
    }

    @Test
    void compositesMatchTheFusedKernels() {
        SplittableRandom rng = new SplittableRandom(5);
        for (long n : SIZES) {
            try (TensorScope _ = TensorScope.open()) {
                Tensor p = random(rng, n, -1, 1);
                Tensor g = random(rng, n, -1, 1);
                Tensor m = random(rng, n, -0.1, 0.1);
                Tensor v = random(rng, n, 0, 0.01);
                for (boolean first : new boolean[] {true, false}) {
                    assertSame("adamw n=" + n, new Tensor[] {p, g, m, v},
                            (b, t) -> b.adamw(t[0], t[1], t[2], t[3], 1e-2f, 0.9f, 0.999f, 1e-8f, 0.05f, first ? 0.1f : 0.5f, 0.02f),
                            2e-6);
                    for (boolean nesterov : new boolean[] {false, true}) {
                        assertSame("sgd n=" + n, new Tensor[] {p, g, m}, (b, t) -> b.sgd(t[0], t[1], t[2], 0.1f, 0.9f, 0.1f, 0.01f,
                                nesterov, first), 1e-6);
                    }
                }
                assertSame("sgd without momentum n=" + n, new Tensor[] {p, g}, (b, t) -> b.sgd(t[0], t[1], null, 0.1f, 0, 0, 0.01f,
                        false, false), 1e-6);
                for (boolean square : new boolean[] {false, true}) {
                    assertSame("kahan n=" + n, new Tensor[] {g, p, m}, (b, t) -> b.kahanAccumulate(t[0], square, t[1], t[2]), 1e-6);
                }
                Tensor f0 = random(rng, n, 0, 1);
                Tensor f1 = random(rng, n, 0, 1e-7);
                Tensor f2 = random(rng, n, 0, 3);
                assertSame("fisherMerge n=" + n, new Tensor[] {p, g, v, f0, f1, f2, m}, (b, t) -> b.fisherMerge(
                        new Tensor[] {t[0], t[1], t[2]}, new Tensor[] {t[3], t[4], t[5]}, new float[] {0.2f, 0.5f, 0.3f},
                        new float[] {1f, 2f, 0.5f}, 1e-6f, t[6]), 1e-6);
            }
        }
        assertEquals(0, HostStorage.liveBytes(), "native bytes still allocated");
    }
}
