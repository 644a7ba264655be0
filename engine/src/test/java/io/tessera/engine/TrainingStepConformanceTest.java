package io.tessera.engine;

import static io.tessera.engine.ConformanceTargets.GEMM;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tessera.engine.nn.Mlp;
import io.tessera.engine.nn.Module;
import io.tessera.engine.optim.AdamW;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Autograd on every device of {@link ConformanceTargets}: an MLP built on the device, data there too, one
 * forward + cross-entropy + backward + AdamW step, against the same step on the CPU. Every activation,
 * gradient and optimizer state must stay on the device (the Functions layer allocates on its inputs'
 * device), and the loss, gradients and updated parameters agree within the GEMM tolerance.
 */
class TrainingStepConformanceTest {
    private static final long[] SIZES = {37, 19, 5};
    private static final long BATCH = 11;

    static List<ConformanceTargets> targets() {
        return ConformanceTargets.all();
    }

    /** What one step produced, read back to the host. */
    private record Step(float loss, Map<String, float[]> gradients, Map<String, float[]> parameters) {}

    @ParameterizedTest
    @MethodSource("targets")
    void mlpTrainingStepMatchesTheCpu(ConformanceTargets t) {
        t.backend(); // skips (or fails) when the device is unavailable
        Step expected = step(Device.CPU);
        Step[] got = new Step[1];
        t.run(() -> got[0] = step(t.device()));
        assertClose("loss", new float[] {expected.loss()}, new float[] {got[0].loss()});
        expected.gradients().forEach((name, g) -> assertClose("gradient of " + name, g, got[0].gradients().get(name)));
        expected.parameters().forEach((name, p) -> assertClose(name + " after AdamW", p, got[0].parameters().get(name)));
    }

    @ParameterizedTest
    @MethodSource("targets")
    void anOpOnTwoDevicesNamesBothTensors(ConformanceTargets t) {
        t.run(() -> {
            if (!t.isCuda()) {
                return;
            }
            Tensor host = Tensor.ones(3);
            Tensor device = t.on(Tensor.ones(3));
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> host.add(device));
            assertTrue(e.getMessage().contains("f32[3] on cpu") && e.getMessage().contains("f32[3] on " + t.device()), e.getMessage());
            Tensor labels = Tensor.of(new long[] {0, 1, 2}, 3);
            e = assertThrows(IllegalArgumentException.class, () -> t.on(Tensor.ones(3, 4)).crossEntropy(labels));
            assertTrue(e.getMessage().contains("crossEntropy") && e.getMessage().contains("i64[3] on cpu"), e.getMessage());
        });
    }

    private static Step step(Device device) {
        try (Mlp model = Module.on(device, () -> new Mlp(3, SIZES));
                AdamW optimizer = new AdamW(model.parameters(), 1e-2);
                TensorScope scope = TensorScope.open()) {
            Tensor x = Tensor.rand(device, 4, 0, BATCH, SIZES[0]).sub(0.5);
            long[] classes = new long[(int) BATCH];
            for (int i = 0; i < classes.length; i++) {
                classes[i] = (i * 7L) % SIZES[SIZES.length - 1];
            }
            Tensor labels = Tensor.of(classes, BATCH).to(device);
            Tensor loss = model.forward(x).crossEntropy(labels);
            assertEquals(device, loss.device());
            loss.backward();
            Map<String, float[]> gradients = new LinkedHashMap<>();
            model.namedParameters().forEach((name, p) -> {
                assertEquals(device, p.device(), name);
                assertEquals(device, p.grad().device(), "gradient of " + name);
                gradients.put(name, p.grad().toFloatArray());
            });
            optimizer.step();
            Map<String, float[]> parameters = new LinkedHashMap<>();
            model.namedParameters().forEach((name, p) -> parameters.put(name, p.toFloatArray()));
            return new Step((float) loss.item(), gradients, parameters);
        }
    }

    private static void assertClose(String what, float[] expected, float[] got) {
        assertEquals(expected.length, got.length, what);
        for (int i = 0; i < expected.length; i++) {
            assertTrue(Math.abs(got[i] - expected[i]) <= GEMM * (1 + Math.abs(expected[i])),
                    what + "[" + i + "]: expected " + expected[i] + ", got " + got[i]);
        }
    }
}
