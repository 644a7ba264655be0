package io.tessera.sparse;

import io.tessera.engine.DType;
import io.tessera.engine.Tensor;
import io.tessera.engine.TensorScope;
import io.tessera.sparse.VetReport.Check;
import io.tessera.sparse.VetReport.TensorChange;
import io.tessera.sparse.VetReport.Verdict;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/** The evidence items of {@link Vetting}, one method per item, each turning its number into a {@link Check}. */
final class Evidence {
    private Evidence() {}

    /** A patch's change (new minus old value) at each patched entry, aligned with its tensors' indices. */
    record Delta(String source, Patch patch, Map<String, double[]> values) {

        /** The change against the patch's own recorded base values, else against {@code base}'s values. */
        static Delta of(String source, Patch patch, Map<String, Tensor> base) {
            Map<String, double[]> values = new LinkedHashMap<>();
            patch.tensors().forEach((name, t) -> {
                MemorySegment old = t.hasBaseValues() ? null : HostTensors.bytes(base.get(name), "tensor '" + name + "'");
                double[] d = new double[t.count()];
                for (int j = 0; j < d.length; j++) {
                    d[j] = t.value(j) - (old == null ? t.baseValue(j) : Elements.get(old, t.dtype(), t.index(j)));
                    if (!Double.isFinite(d[j])) {
                        throw new IllegalArgumentException(source + ": tensor '" + name + "' changes entry " + t.index(j)
                                + " by a non-finite amount");
                    }
                }
                values.put(name, d);
            });
            return new Delta(source, patch, values);
        }

        double dot(Delta other) {
            double sum = 0;
            for (Map.Entry<String, double[]> e : values.entrySet()) {
                double[] theirs = other.values.get(e.getKey());
                if (theirs == null) {
                    continue;
                }
                TensorPatch a = patch.tensors().get(e.getKey());
                TensorPatch b = other.patch.tensors().get(e.getKey());
                for (int i = 0, j = 0; i < a.count() && j < b.count();) { // both index lists ascend
                    long ia = a.index(i);
                    long ib = b.index(j);
                    if (ia == ib) {
                        sum += e.getValue()[i++] * theirs[j++];
                    } else if (ia < ib) {
                        i++;
                    } else {
                        j++;
                    }
                }
            }
            return sum;
        }

        double norm() {
            return Math.sqrt(dot(this));
        }

        /** (L2, max |d|) of the change to tensor {@code name}; zeros when the patch does not touch it. */
        double[] sizes(String name) {
            double[] d = values.get(name);
            double squares = 0;
            double max = 0;
            for (double v : d == null ? new double[0] : d) {
                squares += v * v;
                max = Math.max(max, Math.abs(v));
            }
            return new double[] {Math.sqrt(squares), max};
        }
    }

    /**
     * The modified z-score of Iglewicz and Hoaglin, 0.6745 (x - median) / MAD: a robust z that a few earlier
     * outliers do not mask. With MAD 0 (a history of equal values) any different x is infinitely far.
     */
    static double robustZ(double x, double[] history) {
        double median = median(history);
        double[] deviations = Arrays.stream(history).map(h -> Math.abs(h - median)).toArray();
        double mad = median(deviations);
        if (mad == 0) {
            return x == median ? 0 : Math.copySign(Double.POSITIVE_INFINITY, x - median);
        }
        return 0.6745 * (x - median) / mad;
    }

    private static double median(double[] values) {
        double[] v = values.clone();
        Arrays.sort(v);
        int n = v.length;
        return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
    }

    /** The changes with their z-scores against the accepted patches' changes to the same tensors. */
    static List<TensorChange> withZScores(List<TensorChange> changes, List<Delta> accepted, int minHistory) {
        if (accepted.size() < minHistory) {
            return changes;
        }
        List<TensorChange> out = new ArrayList<>();
        for (TensorChange c : changes) {
            double[][] sizes = accepted.stream().map(d -> d.sizes(c.name())).toArray(double[][]::new);
            double zL2 = robustZ(c.l2(), Arrays.stream(sizes).mapToDouble(s -> s[0]).toArray());
            double zMax = robustZ(c.maxAbs(), Arrays.stream(sizes).mapToDouble(s -> s[1]).toArray());
            out.add(new TensorChange(c.name(), c.entries(), c.numel(), c.l2(), c.maxAbs(), c.nonFinite(), zL2, zMax));
        }
        return out;
    }

    /** The largest z-score (only a change larger than usual is suspicious, so signed). */
    static Check normZ(List<TensorChange> scored, int accepted, VetPolicy policy) {
        String item = "norm z-score";
        if (accepted < policy.minHistory()) {
            return skipped(item, "needs at least " + policy.minHistory() + " accepted patches, got " + accepted);
        }
        TensorChange worst = null;
        double z = Double.NEGATIVE_INFINITY;
        for (TensorChange c : scored) {
            double own = Math.max(c.zL2(), c.zMax());
            if (own > z) {
                z = own;
                worst = c;
            }
        }
        if (worst == null) {
            return skipped(item, "the patch changes nothing");
        }
        return check(item, policy.normZ(), z, String.format(Locale.ROOT, "largest at tensor '%s': L2 %.4g (z %.3g), max |d| %.4g"
                + " (z %.3g), against %d accepted patches", worst.name(), worst.l2(), worst.zL2(), worst.maxAbs(), worst.zMax(),
                accepted));
    }

    /** The largest cosine to another pending patch: a resubmission or a sybil's copy is near 1. */
    static Check duplicates(Delta patch, List<Delta> pending, VetPolicy policy) {
        String item = "cosine to pending";
        if (pending.isEmpty()) {
            return skipped(item, "no other pending patches given");
        }
        double best = Double.NEGATIVE_INFINITY;
        String closest = null;
        for (Delta other : pending) {
            double norms = patch.norm() * other.norm();
            double cosine = norms == 0 ? 0 : patch.dot(other) / norms;
            if (cosine > best) {
                best = cosine;
                closest = other.source();
            }
        }
        return check(item, policy.duplicateCosine(), best, String.format(Locale.ROOT, "closest of %d: %s", pending.size(), closest));
    }

    /**
     * The cosine between the patch and the root set's descent direction -g on the patched entries (FLTrust's
     * reference update, restricted to where the patch acts: a sparse patch is orthogonal to most of any dense one).
     */
    static Check referenceCosine(Delta patch, Map<String, Tensor> gradient, VetPolicy policy) {
        String item = "cosine to reference";
        if (gradient == null) {
            return skipped(item, "no root-set gradient (give --data)");
        }
        double[] sums = weighted(patch, gradient, (d, g) -> -g * d, (d, g) -> g * g);
        double norms = patch.norm() * Math.sqrt(sums[1]);
        if (norms == 0) {
            return check(item, policy.referenceCosine(), 0, "the root-set gradient is zero on every patched entry");
        }
        return check(item, policy.referenceCosine(), sums[0] / norms, "the patch against the root set's descent direction -g,"
                + " on the patch's entries");
    }

    /**
     * The share of the patch's squared norm on entries whose root Fisher is below {@code nearZeroFisher} times
     * its mean: changes clean data cannot see, where backdoors hide (Fine-Pruning's observation, in Fisher terms).
     */
    static Check fisherFootprint(Delta patch, Map<String, Tensor> fisher, VetPolicy policy) {
        String item = "Fisher footprint";
        if (fisher == null) {
            return skipped(item, "no root-set Fisher (give --data or --root-fisher)");
        }
        double mean = 0;
        long count = 0;
        try (TensorScope _ = TensorScope.open()) {
            for (Tensor f : fisher.values()) {
                for (float v : f.to(DType.F32).toFloatArray()) {
                    mean += v;
                }
                count += f.numel();
            }
        }
        double floor = policy.nearZeroFisher() * mean / Math.max(1, count);
        double[] sums = weighted(patch, fisher, (d, f) -> f <= floor ? d * d : 0, (d, f) -> d * d);
        double share = sums[1] == 0 ? 0 : sums[0] / sums[1];
        return check(item, policy.fisherFootprint(), share, String.format(Locale.ROOT, "share of the squared change where the root"
                + " Fisher is <= %.3g (%.0e of its mean)", floor, policy.nearZeroFisher()));
    }

    /** g^T d + 1/2 sum F d^2: the root loss change a second-order model with the Fisher as Hessian predicts. */
    static Check predictedLoss(Delta patch, Map<String, Tensor> gradient, Map<String, Tensor> fisher, VetPolicy policy) {
        String item = "predicted loss change";
        if (gradient == null || fisher == null) {
            return skipped(item, "needs the root-set gradient and Fisher (give --data)");
        }
        double linear = weighted(patch, gradient, (d, g) -> g * d, (d, g) -> 0)[0];
        double curvature = weighted(patch, fisher, (d, f) -> 0.5 * f * d * d, (d, f) -> 0)[0];
        return check(item, policy.predictedLoss(), linear + curvature, String.format(Locale.ROOT,
                "nats on the root set: g^T d %.4g + 1/2 sum F d^2 %.4g", linear, curvature));
    }

    private interface Term {
        double of(double change, double statistic);
    }

    /** Two sums over the patched entries of terms in the change and a per-entry statistic (gradient or Fisher). */
    private static double[] weighted(Delta patch, Map<String, Tensor> statistic, Term first, Term second) {
        double[] sums = new double[2];
        patch.values().forEach((name, d) -> {
            Tensor s = statistic.get(name);
            TensorPatch t = patch.patch().tensors().get(name);
            if (s == null || !Arrays.equals(s.shape(), t.shape())) {
                throw new IllegalArgumentException("the root statistics have no tensor '" + name + "' of shape "
                        + Arrays.toString(t.shape()) + (s == null ? "" : ", got " + Arrays.toString(s.shape())));
            }
            try (TensorScope _ = TensorScope.open()) {
                MemorySegment values = HostTensors.bytes(s.to(DType.F32), "root statistic '" + name + "'");
                for (int j = 0; j < d.length; j++) {
                    double v = Elements.get(values, DType.F32, t.index(j));
                    sums[0] += first.of(d[j], v);
                    sums[1] += second.of(d[j], v);
                }
            }
        });
        return sums;
    }

    /** The largest drop of one class's held-out accuracy (recall) from the base to the patched model. */
    static Check classDrop(int[] labels, int classes, int[] before, int[] after, VetPolicy policy) {
        double[] accBefore = perClass(labels, classes, before);
        double[] accAfter = perClass(labels, classes, after);
        int worst = -1;
        for (int c = 0; c < classes; c++) {
            if (!Double.isNaN(accBefore[c]) && (worst < 0 || accBefore[c] - accAfter[c] > accBefore[worst] - accAfter[worst])) {
                worst = c;
            }
        }
        if (worst < 0) {
            return skipped("per-class accuracy", "no held-out examples");
        }
        return check("per-class accuracy", policy.classDrop(), accBefore[worst] - accAfter[worst], String.format(Locale.ROOT,
                "largest drop: class %d %.4f -> %.4f; overall %.4f -> %.4f; per class before %s after %s", worst, accBefore[worst],
                accAfter[worst], overall(labels, before), overall(labels, after), rounded(accBefore), rounded(accAfter)));
    }

    /**
     * The trigger probes: for each pattern p and class c, how much more often the patch makes stamping send an
     * example of another class to c than the base does, [r(patched, p) - r(patched, clean)] - [r(base, p) -
     * r(base, clean)] with r the share of examples not of class c predicted c. A patch that merely favours c
     * does so stamped or not, so only a response to the stamp itself counts.
     */
    static Check triggerPull(int[] labels, int classes, Map<String, int[]> before, Map<String, int[]> after, VetPolicy policy) {
        String item = "trigger probes";
        double pull = Double.NEGATIVE_INFINITY;
        String where = null;
        for (String pattern : before.keySet()) {
            if (pattern.equals(VetContext.Classifier.CLEAN)) {
                continue;
            }
            for (int c = 0; c < classes; c++) {
                double p = rate(labels, after.get(pattern), c) - rate(labels, after.get(VetContext.Classifier.CLEAN), c)
                        - rate(labels, before.get(pattern), c) + rate(labels, before.get(VetContext.Classifier.CLEAN), c);
                if (p > pull) {
                    pull = p;
                    where = String.format(Locale.ROOT, "pattern '%s' to class %d: %.4f of the stamped probes go there (%.4f"
                            + " unstamped; the base %.4f and %.4f)", pattern, c, rate(labels, after.get(pattern), c),
                            rate(labels, after.get(VetContext.Classifier.CLEAN), c), rate(labels, before.get(pattern), c),
                            rate(labels, before.get(VetContext.Classifier.CLEAN), c));
                }
            }
        }
        if (where == null) {
            return skipped(item, "no trigger patterns");
        }
        return check(item, policy.triggerPull(), pull, "strongest pull: " + where);
    }

    private static double rate(int[] labels, int[] predicted, int c) {
        long others = 0;
        long hits = 0;
        for (int i = 0; i < labels.length; i++) {
            if (labels[i] != c) {
                others++;
                hits += predicted[i] == c ? 1 : 0;
            }
        }
        return others == 0 ? 0 : (double) hits / others;
    }

    private static double[] perClass(int[] labels, int classes, int[] predicted) {
        double[] correct = new double[classes];
        double[] total = new double[classes];
        for (int i = 0; i < labels.length; i++) {
            total[labels[i]]++;
            correct[labels[i]] += predicted[i] == labels[i] ? 1 : 0;
        }
        for (int c = 0; c < classes; c++) {
            correct[c] = total[c] == 0 ? Double.NaN : correct[c] / total[c];
        }
        return correct;
    }

    private static double overall(int[] labels, int[] predicted) {
        long correct = 0;
        for (int i = 0; i < labels.length; i++) {
            correct += labels[i] == predicted[i] ? 1 : 0;
        }
        return (double) correct / labels.length;
    }

    private static String rounded(double[] values) {
        return Arrays.stream(values).mapToObj(v -> String.format(Locale.ROOT, "%.3f", v)).toList().toString();
    }

    /** Rows quantized at once: bounds the scratch of a wide matrix. */
    private static final long INT8_CHUNK_ELEMENTS = 1 << 22;

    /**
     * The share of changed entries whose int8 code changes when base and patched model are both quantized as
     * the int8 path does ({@code Backend.quantizeRows}: absmax per row of a 2-D [out, in] weight, which a change
     * may also move). 2-D floating tensors count as Linear weights; other tensors stay in float, so their
     * changes all survive.
     */
    static Check int8Survival(Map<String, Tensor> base, Delta patch, VetPolicy policy) {
        long changed = 0;
        long survived = 0;
        for (Map.Entry<String, TensorPatch> e : patch.patch().tensors().entrySet()) {
            TensorPatch t = e.getValue();
            double[] d = patch.values().get(e.getKey());
            long[] shape = t.shape();
            if (!t.dtype().isFloatingPoint() || shape.length != 2) {
                long nonzero = Arrays.stream(d).filter(v -> v != 0).count();
                changed += nonzero;
                survived += nonzero;
                continue;
            }
            MemorySegment old = HostTensors.bytes(base.get(e.getKey()), "tensor '" + e.getKey() + "'");
            long cols = shape[1];
            int rowsPerChunk = (int) Math.max(1, INT8_CHUNK_ELEMENTS / cols);
            for (int from = 0; from < t.count();) {
                // the patched entries [from, to) of up to rowsPerChunk touched rows (indices ascend, so rows do too)
                List<Long> rows = new ArrayList<>();
                int to = from;
                for (; to < t.count(); to++) {
                    long row = t.index(to) / cols;
                    if (rows.isEmpty() || rows.getLast() != row) {
                        if (rows.size() == rowsPerChunk) {
                            break;
                        }
                        rows.add(row);
                    }
                }
                long[] counts = int8Changes(old, t, d, from, to, rows, cols);
                changed += counts[0];
                survived += counts[1];
                from = to;
            }
        }
        if (changed == 0) {
            return skipped("int8 survival", "the patch changes no value");
        }
        return check("int8 survival", policy.int8Survival(), (double) survived / changed, String.format(Locale.ROOT,
                "%d of %d changed entries change their int8 code (per-row absmax, 2-D tensors)", survived, changed));
    }

    /** (changed, code changed) over the patched entries [from, to) of {@code t}, which lie in the ascending {@code rows}. */
    private static long[] int8Changes(MemorySegment old, TensorPatch t, double[] d, int from, int to, List<Long> rows, long cols) {
        int n = rows.size();
        float[] before = new float[Math.toIntExact(n * cols)];
        for (int r = 0; r < n; r++) {
            for (long c = 0; c < cols; c++) {
                before[(int) (r * cols + c)] = (float) Elements.get(old, t.dtype(), rows.get(r) * cols + c);
            }
        }
        float[] after = before.clone();
        int[] at = new int[to - from]; // each entry's position in the chunk
        for (int j = from, r = 0; j < to; j++) {
            while (rows.get(r) != t.index(j) / cols) {
                r++;
            }
            at[j - from] = (int) (r * cols + t.index(j) % cols);
            after[at[j - from]] = (float) t.value(j);
        }
        byte[] codesBefore = codes(before, n, cols);
        byte[] codesAfter = codes(after, n, cols);
        long changed = 0;
        long survived = 0;
        for (int j = from; j < to; j++) {
            if (d[j] != 0) {
                changed++;
                survived += codesBefore[at[j - from]] != codesAfter[at[j - from]] ? 1 : 0;
            }
        }
        return new long[] {changed, survived};
    }

    private static byte[] codes(float[] rows, int n, long cols) {
        try (TensorScope _ = TensorScope.open()) {
            Tensor x = Tensor.of(rows, n, cols);
            Tensor codes = Tensor.empty(x.device(), DType.I8, n, cols);
            x.backend().quantizeRows(x, null, codes, Tensor.empty(x.device(), DType.F32, n));
            return codes.toByteArray();
        }
    }

    static Check check(String item, VetPolicy.Limits limits, double value, String detail) {
        return new Check(item, limits.verdict(value), value, detail);
    }

    static Check skipped(String item, String why) {
        return new Check(item, Verdict.SKIPPED, Double.NaN, why);
    }
}
