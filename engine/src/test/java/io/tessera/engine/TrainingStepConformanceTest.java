package io.tessera.engine;

import static io.tessera.engine.ConformanceTargets.GEMM;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tessera.engine.nn.Mlp;
import io.tessera.engine.nn.Module;
import io.tessera.engine.optim.AdamW;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Autograd on every device of {@link ConformanceTargets}: an MLP built on the device, data there too, two
 * rounds of forward + cross-entropy + backward + AdamW step, against the same computation written out in
 * float64 ({@link Float64Mlp}) from the model's initial weights. Two steps, so AdamW's moments and bias
 * correction carry over. Every activation, gradient and optimizer state must stay on the device (the
 * Functions layer allocates on its inputs' device).
 */
class TrainingStepConformanceTest {
    private static final long[] SIZES = {37, 19, 5};
    private static final int BATCH = 11;
    private static final int STEPS = 2;
    // eps well above float32 noise in the gradients: an update g / (|g| + eps) then depends smoothly on g
    private static final double LR = 1e-2;
    private static final double BETA1 = 0.9;
    private static final double BETA2 = 0.999;
    private static final double EPS = 1e-3;
    private static final double WEIGHT_DECAY = 0.01;

    static List<ConformanceTargets> targets() {
        return ConformanceTargets.all();
    }

    @ParameterizedTest
    @MethodSource("targets")
    void mlpTrainingStepsMatchFloat64(ConformanceTargets t) {
        Ref x = Ref.random(new SplittableRandom(4), -0.5, 0.5, BATCH, SIZES[0]).rounded();
        long[] labels = new long[BATCH];
        for (int i = 0; i < BATCH; i++) {
            labels[i] = (i * 7L) % SIZES[SIZES.length - 1];
        }
        t.run(() -> {
            try (Mlp model = Module.on(t.device(), () -> new Mlp(3, SIZES));
                    AdamW optimizer = new AdamW(model.parameters(), LR, BETA1, BETA2, EPS, WEIGHT_DECAY)) {
                Map<String, Ref> initial = new LinkedHashMap<>();
                model.namedParameters().forEach((name, p) -> initial.put(name, Ref.of(p)));
                Float64Mlp reference = new Float64Mlp(initial);
                Tensor input = t.on(x);
                Tensor target = t.on(Tensor.of(labels, BATCH));
                for (int step = 1; step <= STEPS; step++) {
                    String at = " at step " + step + " on " + t;
                    double expectedLoss = reference.lossAndGradients(x, labels);
                    reference.adamwStep(step);
                    model.zeroGrad();
                    Tensor loss = model.forward(input).crossEntropy(target);
                    assertEquals(t.device(), loss.device());
                    loss.backward();
                    assertClose("loss" + at, new double[] {expectedLoss}, new float[] {(float) loss.item()});
                    model.namedParameters().forEach((name, p) -> {
                        assertEquals(t.device(), p.grad().device(), "gradient of " + name);
                        assertClose("gradient of " + name + at, reference.gradients.get(name), p.grad().toFloatArray());
                    });
                    optimizer.step();
                    model.namedParameters().forEach((name, p) -> {
                        assertEquals(t.device(), p.device(), name);
                        assertClose(name + " after AdamW" + at, reference.parameters.get(name).data(), p.toFloatArray());
                    });
                }
            }
        });
    }

    @Test
    void anOpOnTwoDevicesNamesBothTensors() {
        ConformanceTargets cuda = ConformanceTargets.cuda();
        cuda.run(() -> {
            Tensor host = Tensor.ones(3);
            Tensor device = cuda.on(Tensor.ones(3));
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> host.add(device));
            assertTrue(e.getMessage().contains("f32[3] on cpu") && e.getMessage().contains("f32[3] on " + cuda.device()), e.getMessage());
            Tensor labels = Tensor.of(new long[] {0, 1, 2}, 3);
            e = assertThrows(IllegalArgumentException.class, () -> cuda.on(Tensor.ones(3, 4)).crossEntropy(labels));
            assertTrue(e.getMessage().contains("crossEntropy") && e.getMessage().contains("i64[3] on cpu"), e.getMessage());
        });
    }

    /**
     * The MLP (Linear, ReLU, ..., Linear), mean cross-entropy, its gradients and PyTorch's AdamW, in float64
     * with obvious loops, over parameters named as {@link Mlp} names them.
     */
    private static final class Float64Mlp {
        final Map<String, Ref> parameters;
        final Map<String, double[]> gradients = new LinkedHashMap<>();
        private final Map<String, double[]> m = new LinkedHashMap<>();
        private final Map<String, double[]> v = new LinkedHashMap<>();
        private final int depth;

        Float64Mlp(Map<String, Ref> parameters) {
            this.parameters = new LinkedHashMap<>(parameters);
            this.depth = parameters.size() / 2;
        }

        private Ref weight(int layer) {
            return parameters.get(2 * layer + ".weight");
        }

        private Ref bias(int layer) {
            return parameters.get(2 * layer + ".bias");
        }

        /** The mean cross-entropy of x against labels; fills {@link #gradients}. */
        double lossAndGradients(Ref x, long[] labels) {
            List<Ref> inputs = new ArrayList<>(); // each layer's input
            List<Ref> outputs = new ArrayList<>(); // each layer's output before the ReLU
            Ref h = x;
            for (int l = 0; l < depth; l++) {
                inputs.add(h);
                Ref z = Ref.zip(Ref.matmul(h, weight(l).transposeRef()), bias(l), Double::sum);
                outputs.add(z);
                h = z.map(value -> Math.max(value, 0));
            }
            Ref logits = outputs.get(depth - 1);
            int batch = labels.length;
            int classes = (int) logits.shape()[1];
            double loss = 0;
            double[] dz = new double[batch * classes];
            for (int i = 0; i < batch; i++) {
                double max = Double.NEGATIVE_INFINITY;
                for (int c = 0; c < classes; c++) {
                    max = Math.max(max, logits.data()[i * classes + c]);
                }
                double sum = 0;
                for (int c = 0; c < classes; c++) {
                    sum += Math.exp(logits.data()[i * classes + c] - max);
                }
                loss += max + Math.log(sum) - logits.data()[i * classes + (int) labels[i]];
                for (int c = 0; c < classes; c++) {
                    double p = Math.exp(logits.data()[i * classes + c] - max) / sum;
                    dz[i * classes + c] = (p - (c == labels[i] ? 1 : 0)) / batch;
                }
            }
            Ref gz = new Ref(logits.shape(), dz);
            for (int l = depth - 1; l >= 0; l--) {
                gradients.put(2 * l + ".weight", Ref.matmul(gz.transposeRef(), inputs.get(l)).data());
                gradients.put(2 * l + ".bias", gz.reduce(new int[] {0}, false, 0, Double::sum).data());
                if (l > 0) {
                    Ref gh = Ref.matmul(gz, weight(l));
                    gz = Ref.zip(gh, outputs.get(l - 1), (g, z) -> z > 0 ? g : 0);
                }
            }
            return loss / batch;
        }

        /** torch.optim.AdamW's step number {@code step} (from 1) with {@link #gradients}. */
        void adamwStep(int step) {
            double correction1 = 1 - Math.pow(BETA1, step);
            double correction2 = 1 - Math.pow(BETA2, step);
            parameters.replaceAll((name, p) -> {
                double[] g = gradients.get(name);
                double[] mi = m.computeIfAbsent(name, k -> new double[g.length]);
                double[] vi = v.computeIfAbsent(name, k -> new double[g.length]);
                double[] updated = p.data().clone();
                for (int i = 0; i < g.length; i++) {
                    updated[i] -= LR * WEIGHT_DECAY * updated[i];
                    mi[i] = BETA1 * mi[i] + (1 - BETA1) * g[i];
                    vi[i] = BETA2 * vi[i] + (1 - BETA2) * g[i] * g[i];
                    updated[i] -= LR * (mi[i] / correction1) / (Math.sqrt(vi[i] / correction2) + EPS);
                }
                return p.withData(updated);
            });
        }
    }

    private static void assertClose(String what, double[] expected, float[] got) {
        assertEquals(expected.length, got.length, what);
        for (int i = 0; i < expected.length; i++) {
            assertTrue(Math.abs(got[i] - expected[i]) <= GEMM * (1 + Math.abs(expected[i])),
                    what + "[" + i + "]: expected " + expected[i] + ", got " + got[i]);
        }
    }
}
