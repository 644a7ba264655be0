package io.tessera.pipeline.models;

import io.tessera.engine.Device;
import io.tessera.engine.Tensor;
import io.tessera.engine.TensorScope;
import io.tessera.engine.autograd.GradMode;
import io.tessera.fisher.DiagonalFisher;
import io.tessera.fisher.Grams;
import io.tessera.sparse.MaskedAdamW;
import io.tessera.sparse.SparseMask;
import io.tessera.sparse.TensorMask;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * The seed's chain on a causal LM: the diagonal Fisher of its next-token loss over token sequences, RegMean's Gram
 * matrices, and masked fine-tuning with compact gradients. Fisher diagonals and masks are named as in the model's Hugging Face files
 * ({@code transformer.h.0.attn.c_attn.weight}, {@code model.layers.0.self_attn.q_proj.weight}), so that masks made
 * from them apply to those files' tensors (diff, apply, revert); masks with the models' own names are read too.
 */
public final class CausalLmTraining {
    private CausalLmTraining() {}

    /** The mean next-token cross entropy of the given sequences, recorded on the tape. */
    public static Tensor loss(CausalLm model, TokenSequences data, int... rows) {
        Tensor logits = model.forward(onModelDevice(model, data.inputs(rows)), null);
        return logits.reshape(-1, logits.dim(-1)).crossEntropy(onModelDevice(model, data.targets(rows).reshape(-1)));
    }

    /** The mean next-token cross entropy over every sequence, in batches of {@code batch}. */
    public static double meanLoss(CausalLm model, TokenSequences data, int batch) {
        double sum = 0;
        try (GradMode off = GradMode.noGrad()) {
            for (int from = 0; from < data.count(); from += batch) {
                int to = Math.min(data.count(), from + batch);
                try (TensorScope scope = TensorScope.open()) {
                    sum += loss(model, data, TokenSequences.range(from, to)).item() * (to - from);
                }
            }
        }
        return sum / data.count();
    }

    /**
     * The diagonal Fisher of every parameter over the sequences (each sequence one example, its loss the mean over its
     * positions), under the parameters' Hugging Face names; batches of {@code batch} sequences.
     */
    public static Map<String, Tensor> fisher(CausalLm model, TokenSequences data, DiagonalFisher.Labels labels, long seed, int batch) {
        Map<String, Tensor> local;
        try (TensorScope scope = TensorScope.open()) {
            int[] all = TokenSequences.range(0, data.count());
            local = DiagonalFisher.of(model, ids -> model.forward(ids, null), onModelDevice(model, data.inputs(all)),
                    onModelDevice(model, data.targets(all)), labels, seed, batch);
        }
        return hfNames(model, local);
    }

    /**
     * The input Gram matrices of the model's Linear weights [out, in] over every token of the sequences (what RegMean
     * merges with; GPT-2's Conv1D weights get none), under Hugging Face names.
     */
    public static Map<String, Tensor> grams(CausalLm model, TokenSequences data, int batch) {
        Map<String, Tensor> local;
        try (TensorScope scope = TensorScope.open()) {
            local = Grams.of(model, ids -> model.forward(ids, null), onModelDevice(model, data.inputs(TokenSequences.range(0,
                    data.count()))), batch);
        }
        return hfNames(model, local);
    }

    private static Map<String, Tensor> hfNames(CausalLm model, Map<String, Tensor> local) {
        Map<String, Tensor> named = new LinkedHashMap<>();
        local.forEach((name, t) -> named.put(HfNames.hf(model.config(), name), t));
        return named;
    }

    /**
     * Trains the entries of {@code mask} (Hugging Face or the model's own names) with AdamW for {@code steps} steps on
     * batches of {@code batch} sequences drawn with {@code seed}, gradients computed at the masked entries only;
     * every other bit of every parameter stays as it is. Returns each step's loss.
     */
    public static double[] maskedFineTune(CausalLm model, SparseMask mask, TokenSequences data, int steps, double lr, int batch,
                                          long seed) {
        if (steps < 1 || batch < 1 || !(lr > 0)) {
            throw new IllegalArgumentException("fine-tuning needs steps >= 1, batch >= 1 and lr > 0, got " + steps + ", " + batch
                    + ", " + lr);
        }
        SplittableRandom rng = new SplittableRandom(seed);
        double[] losses = new double[steps];
        try (MaskedAdamW optimizer = new MaskedAdamW(model.namedParameters(), localNames(mask), lr)) {
            optimizer.compactGradients();
            for (int step = 0; step < steps; step++) {
                try (TensorScope scope = TensorScope.open()) {
                    Tensor loss = loss(model, data, sample(rng, data.count(), batch));
                    loss.backward();
                    losses[step] = loss.item();
                    optimizer.step();
                    optimizer.zeroGrad();
                }
            }
        }
        return losses;
    }

    /** {@code mask} with each Hugging Face name replaced by the model's own. */
    private static SparseMask localNames(SparseMask mask) {
        Map<String, TensorMask> local = new LinkedHashMap<>();
        mask.tensors().forEach((name, m) -> local.put(HfNames.local(name), m));
        return SparseMask.of(local);
    }

    /** {@code batch} distinct sequences (all of them when there are fewer), drawn by a partial Fisher-Yates shuffle. */
    private static int[] sample(SplittableRandom rng, int count, int batch) {
        int[] order = TokenSequences.range(0, count);
        int size = Math.min(batch, count);
        for (int i = 0; i < size; i++) {
            int j = i + rng.nextInt(count - i);
            int swap = order[i];
            order[i] = order[j];
            order[j] = swap;
        }
        return Arrays.copyOf(order, size);
    }

    private static Tensor onModelDevice(CausalLm model, Tensor t) {
        Device device = model.device();
        return t.device().equals(device) ? t : t.to(device);
    }
}
