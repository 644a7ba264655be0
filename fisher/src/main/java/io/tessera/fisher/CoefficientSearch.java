package io.tessera.fisher;

import io.tessera.engine.Tensor;
import io.tessera.engine.TensorScope;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.function.Function;
import java.util.function.ToDoubleFunction;

/**
 * Chooses merge coefficients lambda (one per model, summing to 1) as the Fisher-merging paper does: merge
 * with each candidate, score the merged model with a caller-supplied evaluation on held-out data, keep the
 * best. Candidates are a grid for two models or seeded Dirichlet samples for more.
 * <pre>
 * Table t = CoefficientSearch.search(CoefficientSearch.grid(10),
 *         lambda -> Merge.fisherWeighted(models, fishers, lambda, Merge.DEFAULT_FISHER_FLOOR, false),
 *         merged -> accuracy(merged, heldOut));
 * t.best().lambdas();
 * </pre>
 */
public final class CoefficientSearch {
    private CoefficientSearch() {}

    /** One candidate and its score. */
    public record Row(double[] lambdas, double score) {}

    /** Every candidate, best score first (ties keep the candidates' order). */
    public record Table(List<Row> rows) {
        public Row best() {
            return rows.get(0);
        }

        /** One line per candidate: its coefficients and score. */
        public String format() {
            StringBuilder out = new StringBuilder();
            for (Row row : rows) {
                out.append(String.format(Locale.ROOT, "lambda %s  score %.6g%n", Arrays.stream(row.lambdas())
                        .mapToObj(l -> String.format(Locale.ROOT, "%.4f", l)).toList(), row.score()));
            }
            return out.toString();
        }
    }

    /** Two models: lambda = (1 - i/steps, i/steps) for i = 0..steps, both endpoints included. */
    public static List<double[]> grid(int steps) {
        if (steps < 1) {
            throw new IllegalArgumentException("coefficient grid: steps must be >= 1, got " + steps);
        }
        List<double[]> out = new ArrayList<>();
        for (int i = 0; i <= steps; i++) {
            double second = (double) i / steps;
            out.add(new double[] {1 - second, second});
        }
        return out;
    }

    /**
     * {@code samples} draws from the symmetric Dirichlet(concentration) over {@code models} coefficients,
     * reproducible from {@code seed}: concentration 1 is uniform over the simplex, larger values crowd
     * towards the plain average.
     */
    public static List<double[]> dirichlet(int models, int samples, long seed, double concentration) {
        if (models < 2 || samples < 1) {
            throw new IllegalArgumentException("Dirichlet coefficients: need >= 2 models and >= 1 sample, got " + models
                    + " and " + samples);
        }
        if (!(concentration > 0 && Double.isFinite(concentration))) {
            throw new IllegalArgumentException("Dirichlet coefficients: concentration must be > 0, got " + concentration);
        }
        SplittableRandom rng = new SplittableRandom(seed);
        List<double[]> out = new ArrayList<>();
        for (int s = 0; s < samples; s++) {
            double[] lambda = new double[models];
            double sum = 0;
            for (int m = 0; m < models; m++) {
                lambda[m] = gamma(rng, concentration);
                sum += lambda[m];
            }
            for (int m = 0; m < models; m++) {
                lambda[m] /= sum;
            }
            out.add(lambda);
        }
        return out;
    }

    /**
     * Merges with each candidate, scores the result (higher is better: negate a loss), and frees it before
     * the next; a NaN score is an error naming the candidate.
     */
    public static Table search(List<double[]> candidates, Function<double[], Map<String, Tensor>> merge,
                               ToDoubleFunction<Map<String, Tensor>> evaluate) {
        if (candidates.isEmpty()) {
            throw new IllegalArgumentException("coefficient search: no candidates");
        }
        List<Row> rows = new ArrayList<>();
        for (double[] lambda : candidates) {
            double score;
            try (TensorScope scope = TensorScope.open()) {
                score = evaluate.applyAsDouble(merge.apply(lambda.clone()));
            }
            if (Double.isNaN(score)) {
                throw new IllegalArgumentException("coefficient search: the evaluation of lambda " + Arrays.toString(lambda) + " is NaN");
            }
            rows.add(new Row(lambda.clone(), score));
        }
        rows.sort(Comparator.comparingDouble(Row::score).reversed());
        return new Table(List.copyOf(rows));
    }

    /** A Gamma(shape, 1) draw (Marsaglia and Tsang 2000; shape < 1 boosted by U^(1/shape)). */
    private static double gamma(SplittableRandom rng, double shape) {
        if (shape < 1) {
            return gamma(rng, shape + 1) * Math.pow(rng.nextDouble(), 1 / shape);
        }
        double d = shape - 1.0 / 3;
        double c = 1 / Math.sqrt(9 * d);
        while (true) {
            double x = rng.nextGaussian();
            double v = 1 + c * x;
            if (v <= 0) {
                continue;
            }
            v = v * v * v;
            double u = rng.nextDouble();
            if (Math.log(u) < 0.5 * x * x + d - d * v + d * Math.log(v)) {
                return d * v;
            }
        }
    }
}
