package io.tessera.fisher;

import io.tessera.engine.InPlace;
import io.tessera.engine.Tensor;
import io.tessera.engine.TensorScope;
import io.tessera.engine.autograd.GradMode;
import io.tessera.engine.nn.Linear;
import io.tessera.engine.nn.Mlp;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Input Gram matrices X^T X of every Linear layer of an MLP, summed over a data set: the statistics
 * RegMean merges with. Keyed by the layer's weight name (e.g. {@code 0.weight}), shape [in, in].
 */
public final class Grams {
    private Grams() {}

    public static Map<String, Tensor> ofMlp(Mlp model, Tensor inputs, int batchSize) {
        if (batchSize < 1 || inputs.rank() != 2) {
            throw new IllegalArgumentException("Grams: need inputs [n, features] and a positive batch size, got " + inputs.describe()
                    + " and " + batchSize);
        }
        List<Linear> layers = model.layers();
        Map<String, Tensor> grams = new LinkedHashMap<>();
        for (int l = 0; l < layers.size(); l++) {
            long in = layers.get(l).inFeatures();
            grams.put(2 * l + ".weight", TensorScope.outside(() -> Tensor.zeros(in, in)));
        }
        long n = inputs.dim(0);
        try (GradMode off = GradMode.noGrad()) {
            for (long from = 0; from < n; from += batchSize) {
                try (TensorScope scope = TensorScope.open()) {
                    Tensor h = inputs.slice(0, from, Math.min(n, from + batchSize));
                    for (int l = 0; l < layers.size(); l++) {
                        Tensor gram = grams.get(2 * l + ".weight");
                        InPlace.copy(gram.add(h.t().matmul(h)), gram);
                        h = layers.get(l).forward(h);
                        h = l + 1 < layers.size() ? h.relu() : h;
                    }
                }
            }
        }
        return grams;
    }
}
