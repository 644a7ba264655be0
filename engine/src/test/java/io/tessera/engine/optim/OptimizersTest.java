package io.tessera.engine.optim;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.tessera.engine.HostStorage;
import io.tessera.engine.Tensor;
import io.tessera.engine.TensorScope;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

/** AdamW and SGD against float64 re-implementations of torch.optim's update rules. */
class OptimizersTest {

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

    /** Runs 5 steps with fresh random gradients; the reference sees the same gradients. */
    private static void runSteps(Tensor p, Optimizer optimizer, SplittableRandom rng,
            java.util.function.BiConsumer<float[], Integer> reference) {
        for (int step = 1; step <= 5; step++) {
            float[] g = random(rng, (int) p.numel());
            try (TensorScope scope = TensorScope.open()) {
                Tensor grad = Tensor.of(g, p.shape());
                p.setGrad(grad);
                optimizer.step();
                reference.accept(g, step);
                p.setGrad(null);
            }
        }
    }

    @Test
    void adamwMatchesTorchSemantics() {
        SplittableRandom rng = new SplittableRandom(1);
        int n = 1031;
        float[] initial = random(rng, n);
        double[] p = new double[n];
        double[] m = new double[n];
        double[] v = new double[n];
        for (int i = 0; i < n; i++) {
            p[i] = initial[i];
        }
        double lr = 0.01;
        double b1 = 0.9;
        double b2 = 0.95;
        double eps = 1e-8;
        double wd = 0.1;
        Tensor param = TensorScope.outside(() -> Tensor.of(initial, n)).requiresGrad(true);
        try (AdamW adamw = new AdamW(List.of(param), lr, b1, b2, eps, wd)) {
            runSteps(param, adamw, rng, (g, step) -> {
                for (int i = 0; i < n; i++) {
                    p[i] -= lr * wd * p[i];
                    m[i] = b1 * m[i] + (1 - b1) * g[i];
                    v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i];
                    double mHat = m[i] / (1 - Math.pow(b1, step));
                    double vHat = v[i] / (1 - Math.pow(b2, step));
                    p[i] -= lr * mHat / (Math.sqrt(vHat) + eps);
                }
            });
            assertEquals(5, adamw.steps());
            float[] actual = param.toFloatArray();
            for (int i = 0; i < n; i++) {
                assertEquals(p[i], actual[i], 1e-5, "p[" + i + "]");
            }
        } finally {
            param.close();
        }
    }

    @Test
    void sgdWithMomentumAndNesterovMatchesTorchSemantics() {
        for (boolean nesterov : new boolean[] {false, true}) {
            SplittableRandom rng = new SplittableRandom(2);
            int n = 257;
            float[] initial = random(rng, n);
            double[] p = new double[n];
            double[] buf = new double[n];
            for (int i = 0; i < n; i++) {
                p[i] = initial[i];
            }
            double lr = 0.05;
            double momentum = 0.9;
            double dampening = nesterov ? 0 : 0.1;
            double wd = 0.01;
            Tensor param = TensorScope.outside(() -> Tensor.of(initial, n)).requiresGrad(true);
            try (Sgd sgd = new Sgd(List.of(param), lr, momentum, dampening, wd, nesterov)) {
                runSteps(param, sgd, rng, (g, step) -> {
                    for (int i = 0; i < n; i++) {
                        double d = g[i] + wd * p[i];
                        buf[i] = step == 1 ? d : momentum * buf[i] + (1 - dampening) * d;
                        d = nesterov ? d + momentum * buf[i] : buf[i];
                        p[i] -= lr * d;
                    }
                });
                float[] actual = param.toFloatArray();
                for (int i = 0; i < n; i++) {
                    assertEquals(p[i], actual[i], 1e-5, "nesterov=" + nesterov + " p[" + i + "]");
                }
            } finally {
                param.close();
            }
        }
    }

    @Test
    void clipGradNormScalesToTheBound() {
        Tensor a = TensorScope.outside(() -> Tensor.of(new float[] {3, 0}, 2)).requiresGrad(true);
        Tensor b = TensorScope.outside(() -> Tensor.of(new float[] {0, 0, 4}, 3)).requiresGrad(true);
        try (TensorScope scope = TensorScope.open()) {
            a.setGrad(Tensor.of(new float[] {3, 0}, 2));
            b.setGrad(Tensor.of(new float[] {0, 0, 4}, 3));
            assertEquals(5, Optimizer.clipGradNorm(List.of(a, b), 1.0), 1e-6);
            assertEquals(0.6, a.grad().toFloatArray()[0], 1e-5);
            assertEquals(0.8, b.grad().toFloatArray()[2], 1e-5);
            assertEquals(1.0, Optimizer.clipGradNorm(List.of(a, b), 2.0), 1e-5, "under the bound: unchanged");
            a.setGrad(null);
            b.setGrad(null);
        } finally {
            a.close();
            b.close();
        }
        try (TensorScope scope = TensorScope.open()) {
            assertThrows(IllegalArgumentException.class, () -> new AdamW(List.of(Tensor.zeros()), 0.1).close(),
                    "a tensor that does not require grad is not a parameter");
        }
    }
}
