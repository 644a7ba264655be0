package io.tessera.fisher;

import io.tessera.engine.DType;
import io.tessera.engine.InPlace;
import io.tessera.engine.Tensor;
import io.tessera.engine.TensorScope;
import io.tessera.engine.autograd.GradMode;
import io.tessera.engine.nn.Linear;
import io.tessera.engine.nn.Mlp;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Input Gram matrices X^T X of every Linear layer of an MLP, summed over a data set: the statistics
 * RegMean merges with. Keyed by the layer's weight name (e.g. {@code 0.weight}), shape [in, in]; written
 * to and read from safetensors files under those names.
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

    /**
     * Checks that Gram sets fit their models, reporting every problem at once: each set names the same
     * layers as the first, each name is a 2-D weight [out, in] of its model, and its Gram is f32 [in, in].
     * {@code labels} name the sets in messages (e.g. their files).
     */
    public static void check(List<Map<String, Tensor>> models, List<Map<String, Tensor>> grams, List<String> labels) {
        if (grams.size() != models.size() || labels.size() != grams.size()) {
            throw new IllegalArgumentException("Grams: " + models.size() + " models but " + grams.size() + " Gram sets");
        }
        List<String> problems = new ArrayList<>();
        for (int m = 0; m < grams.size(); m++) {
            for (String name : grams.get(0).keySet()) {
                if (!grams.get(m).containsKey(name)) {
                    problems.add(labels.get(m) + " lacks " + name + ", which " + labels.get(0) + " has");
                }
            }
            for (var entry : grams.get(m).entrySet()) {
                String name = entry.getKey();
                Tensor gram = entry.getValue();
                Tensor weight = models.get(m).get(name);
                if (m > 0 && !grams.get(0).containsKey(name)) {
                    problems.add(labels.get(m) + " has " + name + ", which " + labels.get(0) + " lacks");
                } else if (weight == null || weight.rank() != 2) {
                    problems.add(labels.get(m) + ": " + name + " is not a weight [out, in] of the model"
                            + (weight == null ? "" : " (it is " + weight.describe() + ")"));
                } else if (gram.dtype() != DType.F32 || !Arrays.equals(gram.shape(), new long[] {weight.dim(1), weight.dim(1)})) {
                    problems.add(labels.get(m) + ": " + name + " is " + gram.describe() + ", expected f32[" + weight.dim(1) + ", "
                            + weight.dim(1) + "] for the weight " + weight.describe());
                }
            }
        }
        if (!problems.isEmpty()) {
            throw new IllegalArgumentException("RegMean: " + problems.size() + " problem(s) with the Gram matrices:\n  "
                    + String.join("\n  ", problems));
        }
    }
}
