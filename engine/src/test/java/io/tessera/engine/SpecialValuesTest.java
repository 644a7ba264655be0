package io.tessera.engine;

import io.tessera.engine.ElementwiseOpsTest.BinaryCase;
import io.tessera.engine.ElementwiseOpsTest.UnaryCase;
import java.util.List;
import java.util.function.BinaryOperator;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * NaN, +-inf and +-0 through every elementwise op of Tensor on the CPU and on CUDA, against the float64
 * references of ElementwiseOpsTest (PyTorch's formulas): NaN propagates (relu(NaN), maximum(NaN, x) and
 * gelu(NaN) are NaN). Backward follows PyTorch too: relu's gradient is threshold_backward's (0 where
 * x <= 0, else the upstream gradient, so at a NaN input it passes), and maximum and minimum give each
 * operand the whole gradient where either is NaN. NaN and infinities must match exactly.
 */
class SpecialValuesTest {
    private static final double[] VALUES = {Double.NaN, Double.POSITIVE_INFINITY, Double.NEGATIVE_INFINITY, -0.0, 0.0, 1, -2.5, 0.75};
    private static final int N = VALUES.length;
    private static final double TOLERANCE = 1e-5;

    static List<ConformanceTargets> targets() {
        return ConformanceTargets.all();
    }

    @ParameterizedTest
    @MethodSource("targets")
    void everyUnaryOpFollowsPyTorchAtSpecialValues(ConformanceTargets t) {
        t.run(() -> {
            Ref x = new Ref(new long[] {N}, VALUES);
            for (UnaryCase c : ElementwiseOpsTest.unaryCases()) {
                OpCheck.assertClose(c.name() + " on " + t, x.map(c.ref()), c.op().apply(t.on(x)), TOLERANCE);
            }
        });
    }

    /** Every pair of values, by broadcasting a column against a row. */
    @ParameterizedTest
    @MethodSource("targets")
    void everyBinaryOpFollowsPyTorchAtSpecialValues(ConformanceTargets t) {
        t.run(() -> {
            Ref column = new Ref(new long[] {N, 1}, VALUES);
            Ref row = new Ref(new long[] {N}, VALUES);
            for (BinaryCase c : ElementwiseOpsTest.binaryCases()) {
                OpCheck.assertClose(c.name() + " on " + t, Ref.zip(column, row, c.ref()), c.op().apply(t.on(column), t.on(row)),
                        TOLERANCE);
            }
        });
    }

    /** Upstream gradients 1, 2, ..., so each element's gradient is told apart. */
    private static Ref upstream(int n) {
        double[] g = new double[n];
        for (int i = 0; i < n; i++) {
            g[i] = i + 1;
        }
        return new Ref(new long[] {n}, g);
    }

    @ParameterizedTest
    @MethodSource("targets")
    void reluBackwardPassesTheGradientAtNaNAsPyTorchDoes(ConformanceTargets t) {
        t.run(() -> {
            Ref x = new Ref(new long[] {N}, VALUES);
            Ref g = upstream(N);
            Tensor leaf = t.on(x).requiresGrad(true);
            leaf.relu().backward(t.on(g));
            // threshold_backward(grad, relu(x), 0)
            OpCheck.assertClose("relu backward on " + t, Ref.zip(x, g, (v, gv) -> Math.max(v, 0) <= 0 ? 0 : gv), leaf.grad(), 0);
            leaf.zeroGrad(); // gradients outlive the scope
        });
    }

    @ParameterizedTest
    @MethodSource("targets")
    void maximumAndMinimumBackwardGiveBothOperandsTheGradientAtNaN(ConformanceTargets t) {
        t.run(() -> {
            double[] first = new double[N * N];
            double[] second = new double[N * N];
            for (int i = 0; i < N * N; i++) {
                first[i] = VALUES[i / N];
                second[i] = VALUES[i % N];
            }
            Ref a = new Ref(new long[] {N * N}, first);
            Ref b = new Ref(new long[] {N * N}, second);
            Ref g = upstream(N * N);
            for (boolean maximum : new boolean[] {true, false}) {
                String name = (maximum ? "maximum" : "minimum") + " backward on " + t;
                BinaryOperator<Tensor> op = maximum ? Tensor::maximum : Tensor::minimum;
                Tensor ta = t.on(a).requiresGrad(true);
                Tensor tb = t.on(b).requiresGrad(true);
                op.apply(ta, tb).backward(t.on(g));
                // torch: where(a == b, g / 2, g), zeroed where the operand loses
                double[] ga = new double[N * N];
                double[] gb = new double[N * N];
                for (int i = 0; i < N * N; i++) {
                    double share = first[i] == second[i] ? g.data()[i] / 2 : g.data()[i];
                    boolean aLoses = maximum ? first[i] < second[i] : first[i] > second[i];
                    boolean bLoses = maximum ? first[i] > second[i] : first[i] < second[i];
                    ga[i] = aLoses ? 0 : share;
                    gb[i] = bLoses ? 0 : share;
                }
                OpCheck.assertClose(name + ", first operand", new Ref(a.shape(), ga), ta.grad(), 0);
                OpCheck.assertClose(name + ", second operand", new Ref(b.shape(), gb), tb.grad(), 0);
                ta.zeroGrad(); // gradients outlive the scope
                tb.zeroGrad();
            }
        });
    }
}
