package io.tessera.engine;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.SplittableRandom;
import java.util.function.Function;

/**
 * Checks one op: its forward against a float64 reference, and its backward (and the forward values of the path that
 * records it) against central finite differences of that float64 reference (so the gradient is checked against ground
 * truth, not against the engine's own float32 forward).
 */
final class OpCheck {
    /** For the forward values that {@link #gradient} checks on its way: float32 ops against the float64 reference. */
    private static final double FORWARD_WITH_GRAD_TOLERANCE = 1e-4;

    private OpCheck() {}

    static void forward(String name, Ref[] inputs, Function<Tensor[], Tensor> op, Function<Ref[], Ref> reference, double tolerance) {
        Ref[] rounded = round(inputs);
        try (TensorScope scope = TensorScope.open()) {
            Tensor[] tensors = tensors(rounded, false);
            Ref expected = reference.apply(rounded);
            Tensor actual = op.apply(tensors);
            assertClose(name + " forward", expected, actual, tolerance);
        }
    }

    static void gradient(String name, Ref[] inputs, Function<Tensor[], Tensor> op, Function<Ref[], Ref> reference,
                         double tolerance, SplittableRandom rng) {
        Ref[] rounded = round(inputs);
        try (TensorScope scope = TensorScope.open()) {
            Tensor[] tensors = tensors(rounded, true);
            Tensor out = op.apply(tensors);
            // inputs that need a gradient may take another path than forward()'s (fused kernels have no backward)
            assertClose(name + " forward of the differentiable path", reference.apply(rounded), out, FORWARD_WITH_GRAD_TOLERANCE);
            Ref weights = Ref.random(rng, -1, 1, out.shape()).rounded();
            out.backward(weights.tensor());
            for (int j = 0; j < rounded.length; j++) {
                Tensor grad = tensors[j].grad();
                assertNotNull(grad, name + ": input " + j + " got no gradient");
                float[] analytic = grad.toFloatArray();
                double[] x = rounded[j].data();
                for (int i = 0; i < x.length; i++) {
                    double saved = x[i];
                    double h = 1e-6 * Math.max(1, Math.abs(saved));
                    x[i] = saved + h;
                    double plus = reference.apply(rounded).dot(weights);
                    x[i] = saved - h;
                    double minus = reference.apply(rounded).dot(weights);
                    x[i] = saved;
                    double numeric = (plus - minus) / (2 * h);
                    assertTrue(Math.abs(analytic[i] - numeric) <= tolerance * (1 + Math.abs(numeric)),
                            name + ": d/dinput" + j + "[" + i + "] analytic " + analytic[i] + " vs finite difference " + numeric);
                }
                grad.close();
            }
        }
    }

    static void assertClose(String what, Ref expected, Tensor actual, double tolerance) {
        assertArrayEquals(expected.shape(), actual.shape(), what + ": shape");
        float[] values = actual.toFloatArray();
        for (int i = 0; i < values.length; i++) {
            double e = expected.data()[i];
            boolean ok = Double.isNaN(e) ? Float.isNaN(values[i])
                    : Double.isInfinite(e) ? values[i] == e
                    : Math.abs(values[i] - e) <= tolerance * (1 + Math.abs(e));
            assertTrue(ok, what + "[" + i + "]: expected " + e + ", got " + values[i]);
        }
    }

    private static Ref[] round(Ref[] inputs) {
        Ref[] out = new Ref[inputs.length];
        for (int i = 0; i < inputs.length; i++) {
            out[i] = inputs[i].rounded();
        }
        return out;
    }

    private static Tensor[] tensors(Ref[] inputs, boolean requiresGrad) {
        Tensor[] t = new Tensor[inputs.length];
        for (int i = 0; i < inputs.length; i++) {
            t[i] = inputs[i].tensor().requiresGrad(requiresGrad);
        }
        return t;
    }
}
