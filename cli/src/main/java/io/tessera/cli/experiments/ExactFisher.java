package io.tessera.cli.experiments;

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
 * The exact diagonal Fisher of an MLP classifier, as the Fisher-merging paper (Matena and Raffel 2022)
 * computes it: the expectation over the model's own predictive distribution instead of one true or sampled
 * label, F = mean_i sum_c p(c | x_i) (d log p(c | x_i))^2. Per class c, one backward pass of
 * sum_i sqrt(p_ic) (-log p_ic) leaves at each layer output every example's gradient scaled by sqrt(p_ic)
 * (an MLP's examples do not interact), and the squares of a Linear layer's per-example gradients sum to
 * one GEMM, (G∘G)^T (X∘X), as in {@link io.tessera.fisher.DiagonalFisher}: a batch costs one backward per class.
 */
final class ExactFisher {
    private ExactFisher() {}

    /** The exact Fisher of every parameter over the rows of {@code inputs} [n, features], named as the model's state dict. */
    static Map<String, Tensor> ofMlp(Mlp model, Tensor inputs, int batchSize) {
        List<Linear> layers = model.layers();
        Map<String, Tensor> sums = new LinkedHashMap<>();
        model.namedParameters().forEach((name, p) -> sums.put(name, TensorScope.outside(() -> Tensor.zeros(p.shape()))));
        long n = inputs.dim(0);
        for (long from = 0; from < n; from += batchSize) {
            try (TensorScope scope = TensorScope.open()) {
                Tensor x = inputs.slice(0, from, Math.min(n, from + batchSize));
                int rows = (int) x.dim(0);
                float[] p;
                try (GradMode off = GradMode.noGrad()) {
                    p = model.forward(x).softmax(-1).contiguous().toFloatArray();
                }
                int classes = p.length / rows;
                for (int c = 0; c < classes; c++) {
                    float[] weights = new float[p.length];
                    for (int i = 0; i < rows; i++) {
                        weights[i * classes + c] = (float) Math.sqrt(p[i * classes + c]);
                    }
                    accumulate(layers, x, Tensor.of(weights, rows, classes), sums);
                }
            }
        }
        sums.values().forEach(sum -> InPlace.scale(sum, 1.0 / n));
        return sums;
    }

    /** Adds the squared per-example gradients of sum_i,c weights_ic (-log p_ic) to {@code sums}. */
    private static void accumulate(List<Linear> layers, Tensor x, Tensor weights, Map<String, Tensor> sums) {
        Tensor[] layerInputs = new Tensor[layers.size()];
        Tensor[] layerOutputs = new Tensor[layers.size()];
        Tensor h = x;
        for (int l = 0; l < layers.size(); l++) {
            layerInputs[l] = h;
            // weights cut from the tape: backward computes the layer outputs' gradients only
            Linear layer = layers.get(l);
            Tensor z = h.matmul(layer.weight().detach().t()).add(layer.bias().detach());
            layerOutputs[l] = l == 0 ? z.detach().requiresGrad(true) : z.retainGrad();
            h = l + 1 < layers.size() ? layerOutputs[l].relu() : layerOutputs[l];
        }
        h.logSoftmax(-1).mul(weights).sum().neg().backward();
        try (GradMode off = GradMode.noGrad()) {
            for (int l = 0; l < layers.size(); l++) {
                Tensor g = layerOutputs[l].grad();
                Tensor in = layerInputs[l];
                add(sums.get(2 * l + ".weight"), g.mul(g).t().matmul(in.mul(in)));
                add(sums.get(2 * l + ".bias"), g.sumSquares(false, 0));
            }
        }
    }

    private static void add(Tensor sum, Tensor term) {
        InPlace.copy(sum.add(term), sum);
    }
}
