package io.tessera.fisher;

import io.tessera.engine.DType;
import io.tessera.engine.InPlace;
import io.tessera.engine.Tensor;
import io.tessera.engine.TensorScope;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Combining models parameter by parameter: Fisher-weighted averaging (Matena & Raffel 2022), plain
 * weighted averaging and task arithmetic (Ilharco et al. 2023), each one fused pass over the inputs; and
 * TIES and DARE, composed from engine ops (not fused yet). Models are maps from tensor names to
 * floating-point tensors (state dicts) of f32, bf16 or f16, mixed freely: every tensor is converted to f32
 * and merged in f32, and results are f32, allocated in the caller's scope ({@link MergeRunner} writes them in
 * the output dtype).
 */
public final class Merge {
    private Merge() {}

    /** The Fisher-merging paper's default floor on the Fisher, so parameters no model informs are averaged. */
    public static final double DEFAULT_FISHER_FLOOR = 1e-6;

    /**
     * A checked merge, computed one tensor at a time on request (allocated in the caller's scope), so a
     * result larger than memory can be written tensor by tensor ({@link MergeRunner}).
     */
    @FunctionalInterface
    interface PerTensor {
        Tensor merge(String name);
    }

    /** Which entries of each model's task vector TIES keeps: the largest of each tensor, or of the whole model. */
    public enum TrimScope { MODEL, TENSOR }

    static Map<String, Tensor> materialize(Iterable<String> names, PerTensor merge) {
        Map<String, Tensor> out = new LinkedHashMap<>();
        for (String name : names) {
            out.put(name, merge.merge(name));
        }
        return out;
    }

    /**
     * theta* = sum_i w_i F_i theta_i / sum_i w_i F_i, with each F_i floored at {@code floor} and, when
     * {@code normalize}, first divided by its global L2 norm (so models whose Fisher differs in scale
     * weigh equally).
     */
    public static Map<String, Tensor> fisherWeighted(List<Map<String, Tensor>> models, List<Map<String, Tensor>> fishers,
                                                     double[] weights, double floor, boolean normalize) {
        PerTensor merge = fisherWeightedPerTensor(models, fishers, weights, floor, normalize);
        return materialize(models.get(0).keySet(), merge);
    }

    static PerTensor fisherWeightedPerTensor(List<Map<String, Tensor>> models, List<Map<String, Tensor>> fishers,
                                             double[] weights, double floor, boolean normalize) {
        checkCompatible(models, "model");
        if (fishers.size() != models.size()) {
            throw new IllegalArgumentException("Fisher merge: " + models.size() + " models but " + fishers.size() + " Fishers");
        }
        List<Map<String, Tensor>> all = new ArrayList<>(models);
        all.addAll(fishers);
        checkCompatible(all, "model or Fisher");
        if (!(floor >= 0)) {
            throw new IllegalArgumentException("Fisher merge: floor must be >= 0, got " + floor);
        }
        float[] scales = new float[models.size()];
        for (int m = 0; m < scales.length; m++) {
            scales[m] = normalize ? (float) (1 / globalNorm(fishers.get(m), m)) : 1f;
        }
        float[] w = checkWeights(weights, models.size());
        return name -> combine(models, fishers, w, scales, (float) floor, name);
    }

    /** sum_i w_i theta_i / sum_i w_i. */
    public static Map<String, Tensor> average(List<Map<String, Tensor>> models, double[] weights) {
        PerTensor merge = averagePerTensor(models, weights);
        return materialize(models.get(0).keySet(), merge);
    }

    static PerTensor averagePerTensor(List<Map<String, Tensor>> models, double[] weights) {
        checkCompatible(models, "model");
        // the merge kernel with every Fisher scaled to 0 and floored at 1: d_i = 1 for all models
        float[] w = checkWeights(weights, models.size());
        return name -> combine(models, models, w, new float[models.size()], 1f, name);
    }

    /** theta_base + sum_i lambda_i (theta_i - theta_base). */
    public static Map<String, Tensor> taskArithmetic(Map<String, Tensor> base, List<Map<String, Tensor>> models, double[] lambdas) {
        return materialize(base.keySet(), taskArithmeticPerTensor(base, models, lambdas));
    }

    static PerTensor taskArithmeticPerTensor(Map<String, Tensor> base, List<Map<String, Tensor>> models, double[] lambdas) {
        List<Map<String, Tensor>> all = new ArrayList<>();
        all.add(base);
        all.addAll(models);
        checkCompatible(all, "model");
        if (lambdas.length != models.size()) {
            throw new IllegalArgumentException("task arithmetic: " + models.size() + " models but " + lambdas.length + " lambdas");
        }
        // = (1 - sum lambda) theta_base + sum lambda_i theta_i: an average whose weights sum to 1
        double[] weights = new double[all.size()];
        weights[0] = 1 - Arrays.stream(lambdas).sum();
        System.arraycopy(lambdas, 0, weights, 1, lambdas.length);
        float[] w = new float[weights.length];
        for (int i = 0; i < w.length; i++) {
            w[i] = (float) weights[i];
        }
        return name -> combine(all, all, w, new float[all.size()], 1f, name);
    }

    /**
     * TIES merging (Yadav et al. 2023): each task vector tau_i = theta_i - theta_base is trimmed to its
     * k entries of largest magnitude, a sign is elected per entry (the sign of sum_i tau_i; negative when
     * the sum is 0), and the result is theta_base + lambda * (mean of the trimmed tau_i that agree with the
     * elected sign). k = floor(density * n), computed in double as PEFT's {@code magnitude_based_pruning} and
     * mergekit's {@code sparsify} do ({@code int(density * numel)}), with n the entries of each tensor
     * ({@link TrimScope#TENSOR}, their rule) or of the whole model ({@link TrimScope#MODEL}, one budget whose
     * entries go to the largest magnitudes wherever they are). Exactly k entries are kept: ties at the
     * threshold go to the earlier tensor (map order) and the lower index, so a tensor with density * n < 1
     * keeps none and stays at the base.
     */
    public static Map<String, Tensor> ties(Map<String, Tensor> base, List<Map<String, Tensor>> models, double density, double lambda,
                                           TrimScope scope) {
        return materialize(base.keySet(), tiesPerTensor(base, models, density, lambda, scope));
    }

    /**
     * TIES per tensor; with {@link TrimScope#MODEL}, how many entries of each tensor a model keeps is found
     * over the whole model first, one model at a time.
     */
    static PerTensor tiesPerTensor(Map<String, Tensor> base, List<Map<String, Tensor>> models, double density, double lambda,
                                   TrimScope scope) {
        List<Map<String, Tensor>> all = new ArrayList<>();
        all.add(base);
        all.addAll(models);
        checkCompatible(all, "model");
        if (!(density > 0 && density <= 1)) {
            throw new IllegalArgumentException("TIES: density must be in (0, 1], got " + density);
        }
        List<Map<String, Long>> kept = new ArrayList<>();
        for (Map<String, Tensor> model : models) {
            kept.add(keptPerTensor(base, model, density, scope));
        }
        return name -> {
            Tensor theta = f32(base.get(name));
            Tensor[] trimmed = new Tensor[models.size()];
            Tensor sum = Tensor.zeros(theta.shape());
            for (int m = 0; m < trimmed.length; m++) {
                Tensor tau = f32(models.get(m).get(name)).sub(theta);
                trimmed[m] = Tensor.where(largest(name, tau.abs(), kept.get(m).get(name)), tau, Tensor.zeros());
                sum = sum.add(trimmed[m]);
            }
            Tensor elected = sum.gt(Tensor.zeros());
            Tensor agreeSum = Tensor.zeros(base.get(name).shape());
            Tensor agreeCount = Tensor.zeros(base.get(name).shape());
            for (Tensor v : trimmed) {
                Tensor agrees = Tensor.where(elected, v.gt(Tensor.zeros()).to(DType.F32), v.lt(Tensor.zeros()).to(DType.F32));
                agreeSum = agreeSum.add(v.mul(agrees));
                agreeCount = agreeCount.add(agrees);
            }
            Tensor mean = agreeSum.div(agreeCount.maximum(Tensor.ones()));
            return theta.add(mean.mul(lambda));
        };
    }

    /** How many entries of each tensor of {@code model}'s task vector TIES keeps ({@link #ties}). */
    private static Map<String, Long> keptPerTensor(Map<String, Tensor> base, Map<String, Tensor> model, double density, TrimScope scope) {
        Map<String, Long> kept = new LinkedHashMap<>();
        if (scope == TrimScope.TENSOR) {
            base.forEach((name, t) -> kept.put(name, (long) (density * t.numel())));
            return kept;
        }
        try (TensorScope tensors = TensorScope.open()) {
            Map<String, Tensor> magnitude = new LinkedHashMap<>();
            base.forEach((name, theta) -> magnitude.put(name, f32(model.get(name)).sub(f32(theta)).abs()));
            long total = magnitude.values().stream().mapToLong(Tensor::numel).sum();
            TopK.global(magnitude, (long) (density * total)).forEach((name, indices) -> kept.put(name, (long) indices.length));
        }
        return kept;
    }

    /** The {@code k} largest entries of {@code magnitude} (ties: lower index first), as a BOOL mask. */
    private static Tensor largest(String name, Tensor magnitude, long k) {
        byte[] mask = new byte[Math.toIntExact(magnitude.numel())];
        for (long i : TopK.global(Map.of(name, magnitude), k).get(name)) {
            mask[(int) i] = 1;
        }
        return Tensor.ofBytes(mask, DType.BOOL, magnitude.shape());
    }

    /**
     * DARE (Yu et al. 2024): each task vector keeps every entry with probability 1 - p (seeded Philox
     * draws, a different stream per model and tensor) rescaled by 1 / (1 - p); the sparse task vectors are
     * then added to the base with weights {@code lambdas} (task arithmetic).
     */
    public static Map<String, Tensor> dare(Map<String, Tensor> base, List<Map<String, Tensor>> models, double dropProbability,
                                           double[] lambdas, long seed) {
        return materialize(base.keySet(), darePerTensor(base, models, dropProbability, lambdas, seed));
    }

    static PerTensor darePerTensor(Map<String, Tensor> base, List<Map<String, Tensor>> models, double dropProbability,
                                   double[] lambdas, long seed) {
        List<Map<String, Tensor>> all = new ArrayList<>();
        all.add(base);
        all.addAll(models);
        checkCompatible(all, "model");
        if (!(dropProbability >= 0 && dropProbability < 1)) {
            throw new IllegalArgumentException("DARE: drop probability must be in [0, 1), got " + dropProbability);
        }
        if (lambdas.length != models.size()) {
            throw new IllegalArgumentException("DARE: " + models.size() + " models but " + lambdas.length + " lambdas");
        }
        Map<String, Long> offsets = new LinkedHashMap<>();
        long offset = 0;
        for (var entry : base.entrySet()) {
            offsets.put(entry.getKey(), offset);
            offset += (entry.getValue().numel() + 3) / 4; // disjoint Philox blocks per tensor
        }
        return name -> {
            Tensor origin = f32(base.get(name));
            Tensor theta = origin;
            for (int m = 0; m < models.size(); m++) {
                Tensor tau = f32(models.get(m).get(name)).sub(origin);
                Tensor keep = Tensor.rand(seed + m, offsets.get(name), tau.shape()).ge(Tensor.scalar((float) dropProbability));
                Tensor rescaled = Tensor.where(keep, tau.mul(1 / (1 - dropProbability)), Tensor.zeros());
                theta = theta.add(rescaled.mul(lambdas[m]));
            }
            return theta;
        };
    }

    /**
     * RegMean (Jin et al. 2023): for each Linear weight with input Gram matrices G_i = X_i^T X_i, the
     * weight that best reproduces every model's outputs on its own inputs,
     * W*^T = (sum_i G'_i)^-1 sum_i G'_i W_i^T, where G'_i keeps G_i's diagonal and scales its off-diagonal
     * by {@code alpha} (the paper's regulariser). Weights are torch-style [out, in]; tensors without a
     * Gram matrix (biases, norms) are averaged. An input no model ever sees nonzero (a zero diagonal, e.g. a
     * pixel that is always black) leaves its weight column free and the system singular: it gets the
     * average column.
     */
    public static Map<String, Tensor> regMean(List<Map<String, Tensor>> models, List<Map<String, Tensor>> grams, double alpha) {
        PerTensor merge = regMeanPerTensor(models, grams, alpha);
        return materialize(models.get(0).keySet(), merge);
    }

    static PerTensor regMeanPerTensor(List<Map<String, Tensor>> models, List<Map<String, Tensor>> grams, double alpha) {
        checkCompatible(models, "model");
        List<String> labels = new ArrayList<>();
        for (int m = 0; m < grams.size(); m++) {
            labels.add("Gram set " + m);
        }
        Grams.check(models, grams, labels);
        if (!(alpha >= 0 && alpha <= 1)) {
            throw new IllegalArgumentException("RegMean: alpha must be in [0, 1], got " + alpha);
        }
        double[] equal = new double[models.size()];
        java.util.Arrays.fill(equal, 1);
        PerTensor average = averagePerTensor(models, equal);
        return name -> grams.get(0).containsKey(name)
                ? regMeanWeight(models, grams, alpha, name, average.merge(name)) : average.merge(name);
    }

    /** The RegMean solution for one Linear weight [out, in]; {@code average} is the weights' plain average. */
    private static Tensor regMeanWeight(List<Map<String, Tensor>> models, List<Map<String, Tensor>> grams, double alpha, String name,
                                        Tensor average) {
        Tensor w0 = models.get(0).get(name);
        long in = w0.dim(1);
        Tensor diagonal = Tensor.arange(in).reshape(in, 1).eq(Tensor.arange(in).reshape(1, in));
        Tensor lhs = Tensor.zeros(in, in);
        Tensor rhs = Tensor.zeros(in, w0.dim(0));
        for (int m = 0; m < models.size(); m++) {
            Tensor g = grams.get(m).get(name);
            Tensor regularised = Tensor.where(diagonal, g, g.mul(alpha));
            lhs = lhs.add(regularised);
            rhs = rhs.add(regularised.matmul(f32(models.get(m).get(name)).t()));
        }
        // a zero diagonal entry means a zero row and column (the Grams are positive semi-definite): pin
        // that unknown to the average with an equation of its own, M x_j = M avg_j
        Tensor unseen = lhs.mul(diagonal.to(DType.F32)).sum(true, 1).eq(Tensor.zeros()).to(DType.F32).mul(models.size());
        lhs = lhs.add(unseen.mul(diagonal.to(DType.F32)));
        rhs = rhs.add(unseen.mul(average.t()));
        Tensor solution = rhs.contiguous();
        Tensor factor = lhs.contiguous();
        InPlace.solvePositiveDefinite(factor, solution);
        average.close();
        return solution.t().contiguous();
    }

    /**
     * Checks that every model has the same tensor names and shapes as the first, all floating point (of any
     * dtypes, which may differ between models), and reports every mismatch at once.
     */
    public static void checkCompatible(List<Map<String, Tensor>> models, String what) {
        if (models.isEmpty()) {
            throw new IllegalArgumentException("merge: no " + what + "s given");
        }
        Map<String, Tensor> first = models.get(0);
        List<String> problems = new ArrayList<>();
        for (int m = 0; m < models.size(); m++) {
            for (var entry : models.get(m).entrySet()) {
                if (!entry.getValue().dtype().isFloatingPoint()) {
                    problems.add(entry.getKey() + ": " + what + " " + m + " has " + entry.getValue().describe() + ", not floating point");
                }
            }
        }
        for (int m = 1; m < models.size(); m++) {
            Map<String, Tensor> other = models.get(m);
            for (String name : first.keySet()) {
                Tensor a = first.get(name);
                Tensor b = other.get(name);
                if (b == null) {
                    problems.add(what + " " + m + " lacks " + name);
                } else if (!Arrays.equals(a.shape(), b.shape())) {
                    problems.add(name + ": " + what + " 0 has " + a.describe() + ", " + what + " " + m + " has " + b.describe());
                }
            }
            for (String name : other.keySet()) {
                if (!first.containsKey(name)) {
                    problems.add(what + " " + m + " has " + name + ", which " + what + " 0 lacks");
                }
            }
        }
        if (!problems.isEmpty()) {
            throw new IllegalArgumentException("cannot merge: " + problems.size() + " mismatch(es):\n  " + String.join("\n  ", problems));
        }
    }

    private static float[] checkWeights(double[] weights, int models) {
        if (weights.length != models) {
            throw new IllegalArgumentException("merge: " + models + " models but " + weights.length + " weights");
        }
        float[] w = new float[models];
        double sum = 0;
        for (int i = 0; i < models; i++) {
            if (!(weights[i] >= 0)) {
                throw new IllegalArgumentException("merge: weight " + i + " is " + weights[i] + "; weights must be >= 0");
            }
            w[i] = (float) weights[i];
            sum += weights[i];
        }
        if (sum == 0) {
            throw new IllegalArgumentException("merge: the weights sum to 0");
        }
        return w;
    }

    private static double globalNorm(Map<String, Tensor> fisher, int index) {
        double squares = 0;
        try (TensorScope scope = TensorScope.open()) {
            for (Tensor f : fisher.values()) {
                squares += f32(f).sumSquares(false).item();
            }
        }
        if (!(squares > 0) || !Double.isFinite(squares)) {
            throw new IllegalArgumentException("Fisher merge: Fisher " + index + " has norm " + Math.sqrt(squares)
                    + " and cannot be normalised");
        }
        return Math.sqrt(squares);
    }

    private static Tensor combine(List<Map<String, Tensor>> thetas, List<Map<String, Tensor>> fishers, float[] weights,
                                  float[] scales, float floor, String name) {
        Tensor[] t = new Tensor[weights.length];
        Tensor[] f = new Tensor[weights.length];
        for (int m = 0; m < weights.length; m++) {
            t[m] = f32(thetas.get(m).get(name)).contiguous();
            // average and task arithmetic pass the models as Fishers (scaled to 0): convert them once
            f[m] = fishers == thetas ? t[m] : f32(fishers.get(m).get(name)).contiguous();
        }
        Tensor merged = Tensor.empty(DType.F32, t[0].shape());
        merged.backend().fisherMerge(t, f, weights, scales, floor, merged);
        return merged;
    }

    /** The kernels and ops compute in f32: bf16 and f16 inputs are widened (exactly) first. */
    private static Tensor f32(Tensor t) {
        return t.dtype() == DType.F32 ? t : t.to(DType.F32);
    }
}
