package io.tessera.fisher;

import io.tessera.engine.DType;
import io.tessera.engine.InPlace;
import io.tessera.engine.Tensor;
import io.tessera.engine.TensorScope;
import io.tessera.engine.autograd.GradMode;
import io.tessera.engine.autograd.GradientTap;
import io.tessera.engine.autograd.Node;
import io.tessera.engine.nn.Mlp;
import io.tessera.engine.nn.Module;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.Deque;
import java.util.HashSet;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.BiConsumer;
import java.util.function.Function;

/**
 * Input Gram matrices X^T X of every Linear weight [out, in] of a model, summed over all rows (tokens) of a data set:
 * the statistics RegMean merges with. Keyed by the weight's name (e.g. {@code 0.weight},
 * {@code layers.0.self_attn.q_proj.weight}), shape [in, in]; written to and read from safetensors files under those
 * names. The inputs are read off the tape of a forward pass, so any model works; weights stored [in, out] (GPT-2's
 * Conv1D) and weights also used otherwise than as a Linear's (a head tied to an embedding) get none, and RegMean
 * averages them.
 */
public final class Grams {
    private Grams() {}

    public static Map<String, Tensor> ofMlp(Mlp model, Tensor inputs, int batchSize) {
        if (inputs.rank() != 2) {
            throw new IllegalArgumentException("Grams: need inputs [n, features], got " + inputs.describe());
        }
        return of(model, model::forward, inputs, batchSize);
    }

    /** The Grams of {@code model}'s Linear weights over the rows that {@code forward} feeds them for {@code inputs} [n, ...]. */
    public static Map<String, Tensor> of(Module model, Function<Tensor, Tensor> forward, Tensor inputs, int batchSize) {
        if (batchSize < 1 || inputs.rank() < 1 || inputs.dim(0) == 0) {
            throw new IllegalArgumentException("Grams: need inputs [n >= 1, ...] and a positive batch size, got " + inputs.describe()
                    + " and " + batchSize);
        }
        Map<Tensor, String> names = new IdentityHashMap<>();
        model.namedParameters().forEach((name, p) -> names.put(p, name));
        Map<String, Tensor> grams = new LinkedHashMap<>();
        Set<String> otherUses = new HashSet<>();
        long n = inputs.dim(0);
        try {
            for (long from = 0; from < n; from += batchSize) {
                try (TensorScope scope = TensorScope.open()) {
                    Tensor output = forward.apply(inputs.slice(0, from, Math.min(n, from + batchSize)));
                    try (GradMode off = GradMode.noGrad()) {
                        forEachUse(output, (node, input) -> {
                            String name = names.get(node.inputs().get(input));
                            if (name == null) {
                                return;
                            }
                            if (!node.op().equals(GradientTap.LINEAR) || input != 1) {
                                otherUses.add(name);
                                return;
                            }
                            Tensor x = node.inputs().get(0);
                            Tensor rows = x.reshape(-1, x.dim(-1));
                            Tensor gram = grams.computeIfAbsent(name, k -> TensorScope.outside(() -> Tensor.zeros(x.dim(-1), x.dim(-1))));
                            InPlace.copy(gram.add(rows.t().matmul(rows)), gram);
                        });
                    }
                }
            }
        } catch (RuntimeException e) {
            grams.values().forEach(Tensor::close);
            throw e;
        }
        otherUses.forEach(name -> {
            Tensor dropped = grams.remove(name);
            if (dropped != null) {
                dropped.close();
            }
        });
        Map<String, Tensor> ordered = new LinkedHashMap<>();
        model.namedParameters().keySet().stream().filter(grams::containsKey).forEach(name -> ordered.put(name, grams.get(name)));
        return ordered;
    }

    /** Each (node, input index) of the tape behind {@code output}, every node once. */
    private static void forEachUse(Tensor output, BiConsumer<Node, Integer> action) {
        Set<Node> seen = Collections.newSetFromMap(new IdentityHashMap<>());
        Deque<Tensor> pending = new ArrayDeque<>(List.of(output));
        while (!pending.isEmpty()) {
            Node node = pending.pop().gradFn();
            if (node == null || !seen.add(node)) {
                continue;
            }
            for (int i = 0; i < node.inputs().size(); i++) {
                Tensor input = node.inputs().get(i);
                if (input != null) {
                    action.accept(node, i);
                    pending.push(input);
                }
            }
        }
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
