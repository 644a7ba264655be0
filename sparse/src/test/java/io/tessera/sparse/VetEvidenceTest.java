package io.tessera.sparse;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tessera.engine.HostStorage;
import io.tessera.engine.Tensor;
import io.tessera.engine.TensorScope;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Every evidence number of a vetting report against a plain float64 computation on dense arrays. */
class VetEvidenceTest {
    @TempDir
    Path dir;

    @AfterAll
    static void noLeaks() {
        assertEquals(0, HostStorage.liveBytes(), "native bytes still allocated");
    }

    private static final int ROWS = 6;
    private static final int COLS = 10;

    /** A model {w [ROWS, COLS], b [ROWS]} from flat values: w first, then b. */
    private static Map<String, Tensor> model(double[] flat) {
        float[] w = new float[ROWS * COLS];
        float[] b = new float[ROWS];
        for (int i = 0; i < w.length; i++) {
            w[i] = (float) flat[i];
        }
        for (int i = 0; i < b.length; i++) {
            b[i] = (float) flat[w.length + i];
        }
        Map<String, Tensor> m = new LinkedHashMap<>();
        m.put("w", Tensor.of(w, ROWS, COLS));
        m.put("b", Tensor.of(b, ROWS));
        return m;
    }

    /** The base with {@code count} random entries moved by up to {@code scale}, as float32 values. */
    private static double[] changed(double[] base, SplittableRandom rng, int count, double scale) {
        double[] out = base.clone();
        for (int k = 0; k < count; k++) {
            int i = rng.nextInt(out.length);
            out[i] = (float) (out[i] + scale * (rng.nextDouble() * 2 - 1));
        }
        return out;
    }

    private Path patch(String name, double[] base, double[] tuned) throws Exception {
        Path file = dir.resolve(name);
        Patch.diff(model(base), model(tuned), name).save(file, Compression.NONE);
        return file;
    }

    private static double dot(double[] a, double[] b) {
        double s = 0;
        for (int i = 0; i < a.length; i++) {
            s += a[i] * b[i];
        }
        return s;
    }

    private static double[] minus(double[] a, double[] b) {
        double[] d = new double[a.length];
        for (int i = 0; i < d.length; i++) {
            d[i] = a[i] - b[i];
        }
        return d;
    }

    private static double median(double[] v) {
        double[] s = v.clone();
        Arrays.sort(s);
        return s.length % 2 == 1 ? s[s.length / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
    }

    /** int8 code of entry i of a row-major [ROWS, COLS] matrix, per-row absmax, round half to even. */
    private static int code(double[] w, int i) {
        int row = i / COLS;
        double absmax = 0;
        for (int c = 0; c < COLS; c++) {
            absmax = Math.max(absmax, Math.abs((float) w[row * COLS + c]));
        }
        float scale = (float) absmax / 127f;
        return scale == 0 ? 0 : (int) Math.max(-127, Math.min(127, Math.rint((float) w[i] / scale)));
    }

    @Test
    void everyItemMatchesTheFloat64Reference() throws Exception {
        SplittableRandom rng = new SplittableRandom(7);
        int n = ROWS * COLS + ROWS;
        double[] base = new double[n];
        double[] gradient = new double[n];
        double[] fisher = new double[n];
        for (int i = 0; i < n; i++) {
            base[i] = (float) rng.nextGaussian();
            gradient[i] = (float) rng.nextGaussian();
            fisher[i] = i % 4 == 0 ? 0 : (float) rng.nextDouble(); // a quarter of the entries clean data cannot see
        }
        double[] tuned = changed(base, rng, 12, 0.5);
        double[] again = tuned.clone();
        for (int i = 0; i < n; i++) {
            again[i] = (float) (base[i] + 0.5 * (tuned[i] - base[i])); // the same direction: cosine 1
        }
        double[][] history = {changed(base, rng, 12, 0.1), changed(base, rng, 12, 0.2), changed(base, rng, 12, 0.3),
            changed(base, rng, 12, 0.15)};
        try (TensorScope _ = TensorScope.open()) {
            Path file = patch("p.patch", base, tuned);
            List<Path> accepted = List.of(patch("h0.patch", base, history[0]), patch("h1.patch", base, history[1]),
                    patch("h2.patch", base, history[2]), patch("h3.patch", base, history[3]));
            Path other = patch("q.patch", base, history[0]);
            Path copy = patch("again.patch", base, again);
            int[] labels = {0, 0, 1, 1, 2, 2, 0, 1};
            Map<String, int[]> before = Map.of(VetContext.Classifier.CLEAN, new int[] {0, 0, 1, 1, 2, 2, 0, 1},
                    "stamp", new int[] {0, 0, 1, 1, 2, 2, 0, 2});
            Map<String, int[]> after = Map.of(VetContext.Classifier.CLEAN, new int[] {0, 1, 1, 1, 2, 2, 0, 1},
                    "stamp", new int[] {2, 2, 2, 1, 2, 2, 0, 2});
            Map<String, Tensor> reference = model(base);
            VetContext.Classifier classifier = new VetContext.Classifier() {
                public int[] labels() {
                    return labels;
                }

                public int classes() {
                    return 3;
                }

                public Map<String, int[]> predict(Map<String, Tensor> weights) {
                    boolean patched = !Arrays.equals(weights.get("w").toFloatArray(), reference.get("w").toFloatArray())
                            || !Arrays.equals(weights.get("b").toFloatArray(), reference.get("b").toFloatArray());
                    return patched ? after : before;
                }
            };
            VetReport report = Vetting.report(model(base), file, null, VetPolicy.DEFAULT, new VetContext(accepted, List.of(other, copy),
                    model(gradient), model(fisher), classifier));
            Map<String, VetReport.Check> checks = new LinkedHashMap<>();
            report.checks().forEach(c -> checks.put(c.item(), c));

            double[] d = minus(tuned, base);
            double norm = Math.sqrt(dot(d, d));
            // z-scores per tensor: L2 of w's change against the accepted patches' L2s of w
            double l2w = Math.sqrt(dot(Arrays.copyOf(d, ROWS * COLS), Arrays.copyOf(d, ROWS * COLS)));
            double[] historyL2 = Arrays.stream(history).mapToDouble(h -> {
                double[] dw = Arrays.copyOf(minus(h, base), ROWS * COLS);
                return Math.sqrt(dot(dw, dw));
            }).toArray();
            double m = median(historyL2);
            double mad = median(Arrays.stream(historyL2).map(x -> Math.abs(x - m)).toArray());
            VetReport.TensorChange w = report.tensors().stream().filter(t -> t.name().equals("w")).findFirst().orElseThrow();
            assertEquals(0.6745 * (l2w - m) / mad, w.zL2(), 1e-9);

            double[] dq = minus(history[0], base);
            double[] da = minus(again, base);
            double cosine = Math.max(dot(d, dq) / (norm * Math.sqrt(dot(dq, dq))), dot(d, da) / (norm * Math.sqrt(dot(da, da))));
            assertEquals(cosine, checks.get("cosine to pending").value(), 1e-6);
            assertTrue(checks.get("cosine to pending").detail().contains("again.patch"));

            double gs = 0;
            double gd = 0;
            double hidden = 0;
            double curvature = 0;
            double meanFisher = Arrays.stream(fisher).sum() / n;
            for (int i = 0; i < n; i++) {
                if (d[i] != 0) {
                    gs += gradient[i] * gradient[i];
                    gd += gradient[i] * d[i];
                    hidden += fisher[i] <= 1e-4 * meanFisher ? d[i] * d[i] : 0;
                    curvature += 0.5 * fisher[i] * d[i] * d[i];
                }
            }
            assertEquals(-gd / (norm * Math.sqrt(gs)), checks.get("cosine to reference").value(), 1e-9);
            assertEquals(hidden / (norm * norm), checks.get("Fisher footprint").value(), 1e-9);
            assertTrue(hidden > 0, "some of the change is where the Fisher is zero");
            assertEquals(gd + curvature, checks.get("predicted loss change").value(), 1e-9);

            long changedEntries = 0;
            long survived = 0;
            for (int i = 0; i < n; i++) {
                if (d[i] != 0) {
                    changedEntries++;
                    survived += i >= ROWS * COLS || code(base, i) != code(tuned, i) ? 1 : 0; // b stays float
                }
            }
            assertEquals((double) survived / changedEntries, checks.get("int8 survival").value(), 1e-12);

            // class 0 falls from 3/3 to 2/3; stamped, 4 of the 6 examples not of class 2 go there after the patch and 1
            // before, unstamped none either way: a pull of (4/6 - 0) - (1/6 - 0) on class 2
            assertEquals(1 / 3.0, checks.get("per-class accuracy").value(), 1e-12);
            assertEquals(3 / 6.0, checks.get("trigger probes").value(), 1e-12);
            assertEquals(VetReport.Verdict.FAIL, checks.get("trigger probes").verdict());
            assertTrue(checks.get("trigger probes").detail().contains("pattern 'stamp' to class 2"), checks.get("trigger probes").detail());
        }
    }
}
