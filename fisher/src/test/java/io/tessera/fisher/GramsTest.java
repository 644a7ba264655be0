package io.tessera.fisher;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.tessera.engine.HostStorage;
import io.tessera.engine.Tensor;
import io.tessera.engine.TensorScope;
import io.tessera.engine.nn.Mlp;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

class GramsTest {

    @AfterAll
    static void noLeaks() {
        assertEquals(0, HostStorage.liveBytes(), "native bytes still allocated");
    }

    @Test
    void gramsSumEveryLayerInputsOuterProducts() {
        int n = 11;
        int in = 5;
        SplittableRandom rng = new SplittableRandom(2);
        float[] x = new float[n * in];
        for (int i = 0; i < x.length; i++) {
            x[i] = (float) (rng.nextDouble() * 2 - 1);
        }
        try (Mlp model = new Mlp(3, in, 4, 3); TensorScope scope = TensorScope.open()) {
            Tensor inputs = Tensor.of(x, n, in);
            Map<String, Tensor> grams = Grams.ofMlp(model, inputs, 4);
            float[] g0 = grams.get("0.weight").toFloatArray();
            for (int r = 0; r < in; r++) {
                for (int c = 0; c < in; c++) {
                    double expected = 0;
                    for (int e = 0; e < n; e++) {
                        expected += (double) x[e * in + r] * x[e * in + c];
                    }
                    assertEquals(expected, g0[r * in + c], 1e-5 * (1 + Math.abs(expected)));
                }
            }
            // the second layer's inputs are relu(layer 0's outputs)
            float[] h = model.layers().get(0).forward(inputs).relu().toFloatArray();
            float[] g2 = grams.get("2.weight").toFloatArray();
            for (int r = 0; r < 4; r++) {
                for (int c = 0; c < 4; c++) {
                    double expected = 0;
                    for (int e = 0; e < n; e++) {
                        expected += (double) h[e * 4 + r] * h[e * 4 + c];
                    }
                    assertEquals(expected, g2[r * 4 + c], 1e-5 * (1 + Math.abs(expected)));
                }
            }
            grams.values().forEach(Tensor::close);
        }
    }
}
