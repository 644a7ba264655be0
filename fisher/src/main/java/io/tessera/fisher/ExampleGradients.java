package io.tessera.fisher;

import io.tessera.engine.InPlace;
import io.tessera.engine.Tensor;
import io.tessera.engine.TensorScope;
import io.tessera.engine.autograd.GradientTap;
import io.tessera.engine.autograd.Node;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.BiConsumer;
import java.util.function.Predicate;

/**
 * The squared per-example gradients of a batch's summed loss, from one batched backward pass, for any model
 * whose examples stay apart along dim 0 of every activation (no op mixes examples). As a {@link GradientTap} it
 * takes over every use of a parameter by an op whose output depends on the batch's input: the backward pass does
 * not form the batch-summed gradient there, and the op's output gradient is kept. Afterwards each kept use is
 * split by example: a Linear's weight gradient of example i is g_i^T x_i over that example's rows (one batched GEMM,
 * or (G∘G)^T (X∘X) when an example is one row), a broadcast bias's is g_i summed over its rows, and any other
 * use (embeddings, norms, a tied head's embedding, parameters reached through parameter-only ops such as GPT-2's
 * position embedding) replays the op's own backward on g with every other example's rows zeroed. A parameter's
 * uses are summed per example before squaring, so the result is exact per example, never a square of a sum.
 */
final class ExampleGradients implements GradientTap {
    /** Floats of per-example gradients held at once for one parameter (64 MB). */
    private static final long CHUNK_FLOATS = 1L << 24;

    private final Tensor data;
    private final long batch;
    private final Map<Tensor, String> names;
    private final Map<Tensor, Boolean> dependsOnData = new IdentityHashMap<>();
    private final Map<Tensor, Boolean> reachesParameter = new IdentityHashMap<>();
    private final List<Use> uses = new ArrayList<>();

    /** One use of parameter-side input {@code input} of {@code node}, whose output gradient was {@code gradient}. */
    private record Use(Node node, int input, Tensor gradient) {
        Tensor in() {
            return node.inputs().get(input);
        }
    }

    /**
     * A tap for the backward pass of a loss computed from {@code data}, the batch's input [batch, ...], for the
     * parameters {@code names} names.
     */
    ExampleGradients(Tensor data, Map<Tensor, String> names) {
        this.data = data;
        this.batch = data.dim(0);
        this.names = names;
    }

    @Override
    public boolean take(Tensor output, Node node, int input, Tensor gradient) {
        if (!reachesParameter(node.inputs().get(input))) {
            return true; // only the data lies behind this input (it requires grad to be followed): no gradient needed
        }
        if (dependsOnData(node.inputs().get(input)) || !dependsOnData(output)) {
            return false;
        }
        if (output.rank() == 0 || output.dim(0) != batch) {
            String used = leaves(node.inputs().get(input)).stream().map(names::get).filter(n -> n != null).findFirst()
                    .orElse("a parameter");
            throw new IllegalArgumentException("per-example gradients: " + used + " is used by " + node.op() + ", whose output "
                    + output.describe() + " does not hold the batch's " + batch + " examples along dim 0");
        }
        uses.add(new Use(node, input, gradient.to(gradient.dtype())));
        return true;
    }

    /** Whether a parameter this tap reports lies behind {@code t}. */
    private boolean reachesParameter(Tensor t) {
        return reaches(t, x -> x.requiresGrad() && names.containsKey(x), reachesParameter);
    }

    private boolean dependsOnData(Tensor t) {
        return reaches(t, x -> x == data, dependsOnData);
    }

    /** Whether {@code t} is, or was computed from, a tensor {@code target} accepts; remembered per tensor in {@code known}. */
    private static boolean reaches(Tensor t, Predicate<Tensor> target, Map<Tensor, Boolean> known) {
        if (t == null) {
            return false;
        }
        if (target.test(t)) {
            return true;
        }
        if (t.gradFn() == null) {
            return false;
        }
        Boolean result = known.get(t);
        if (result == null) {
            result = t.gradFn().inputs().stream().anyMatch(in -> reaches(in, target, known));
            known.put(t, result);
        }
        return result;
    }

    /**
     * Hands each named parameter that the taken uses reach, with the sum over the batch of its squared
     * per-example gradients.
     */
    void sumSquares(BiConsumer<String, Tensor> sink) {
        Map<Tensor, List<Use>> byParameter = new LinkedHashMap<>();
        for (Use use : uses) {
            for (Tensor leaf : leaves(use.in())) {
                if (names.containsKey(leaf)) {
                    byParameter.computeIfAbsent(leaf, k -> new ArrayList<>()).add(use);
                }
            }
        }
        byParameter.forEach((p, pUses) -> sink.accept(names.get(p), sumSquares(p, pUses)));
    }

    private Tensor sumSquares(Tensor p, List<Use> pUses) {
        Use only = pUses.size() == 1 ? pUses.get(0) : null;
        if (only != null && isLinearWeight(only, p) && oneRowPerExample(only.node().inputs().get(0))) {
            Tensor x = only.node().inputs().get(0).reshape(batch, -1);
            Tensor g = only.gradient().reshape(batch, -1);
            // one row per example: sum_i (g_i x_i^T)∘(g_i x_i^T) = (G∘G)^T (X∘X), no per-example matrix formed
            return linearInputMajor(only) ? x.mul(x).t().matmul(g.mul(g)) : g.mul(g).t().matmul(x.mul(x));
        }
        if (only != null && isRowBias(only, p) && only.gradient().numel() == batch * p.numel()) {
            // one row per example: example i's gradient is row i of g, so no per-example copy is formed
            return only.gradient().reshape(batch, -1).sumSquares(false, 0).reshape(p.shape());
        }
        long chunk = Math.max(1, Math.min(batch, CHUNK_FLOATS / Math.max(1, p.numel())));
        Tensor total = Tensor.zeros(p.device(), p.shape());
        for (long from = 0; from < batch; from += chunk) {
            // a chunk's per-example gradients are freed before the next chunk's are formed
            try (TensorScope scope = TensorScope.open()) {
                long to = Math.min(batch, from + chunk);
                Tensor perExample = null;
                for (Use use : pUses) {
                    Tensor part = perExample(use, p, from, to);
                    perExample = perExample == null ? part : perExample.add(part);
                }
                InPlace.copy(total.add(perExample.sumSquares(false, 0)), total);
            }
        }
        return total;
    }

    /** The gradients of examples [from, to) of the batch reaching {@code p} through {@code use}: [to - from, p's shape]. */
    private Tensor perExample(Use use, Tensor p, long from, long to) {
        long count = to - from;
        Tensor g = use.gradient().slice(0, from, to);
        if (isLinearWeight(use, p)) {
            Tensor x = use.node().inputs().get(0).slice(0, from, to);
            Tensor rowsOfX = x.reshape(count, -1, x.dim(-1));
            Tensor rowsOfG = g.reshape(count, -1, g.dim(-1));
            return linearInputMajor(use) ? rowsOfX.transpose(1, 2).matmul(rowsOfG) : rowsOfG.transpose(1, 2).matmul(rowsOfX);
        }
        if (isRowBias(use, p)) {
            return g.reshape(count, -1, p.numel()).sum(1).reshape(withCount(count, p.shape()));
        }
        Tensor out = Tensor.zeros(p.device(), withCount(count, p.shape()));
        for (long i = from; i < to; i++) {
            try (TensorScope scope = TensorScope.open()) {
                Tensor masked = Tensor.zeros(use.gradient().device(), use.gradient().shape());
                InPlace.copy(use.gradient().slice(0, i, i + 1), masked.slice(0, i, i + 1));
                Tensor grad = replay(use.node(), use.input(), masked, p);
                if (grad != null) {
                    InPlace.copy(grad.reshape(withCount(1, p.shape())), out.slice(0, i - from, i - from + 1));
                }
            }
        }
        return out;
    }

    /** The gradient reaching {@code p} from input {@code input} of {@code node} given its output gradient, or null. */
    private static Tensor replay(Node node, int input, Tensor gradient, Tensor p) {
        return backwardInto(node.inputs().get(input), inputGradient(node, input, gradient), p);
    }

    /** Backpropagates {@code gradient} of parameter-side tensor {@code t} into {@code p} (null if it does not reach it). */
    private static Tensor backwardInto(Tensor t, Tensor gradient, Tensor p) {
        if (t == p) {
            return gradient;
        }
        if (t.gradFn() == null || gradient == null) {
            return null;
        }
        Tensor sum = null;
        List<Tensor> inputs = t.gradFn().inputs();
        for (int k = 0; k < inputs.size(); k++) {
            if (inputs.get(k) != null && inputs.get(k).requiresGrad() && leaves(inputs.get(k)).contains(p)) {
                Tensor part = replay(t.gradFn(), k, gradient, p);
                sum = sum == null ? part : part == null ? sum : sum.add(part);
            }
        }
        return sum;
    }

    private static Tensor inputGradient(Node node, int input, Tensor gradient) {
        boolean[] needed = new boolean[node.inputs().size()];
        needed[input] = true;
        return node.backward().apply(gradient, needed)[input];
    }

    /** The leaves that require grad among {@code t} and what it was computed from. */
    private static List<Tensor> leaves(Tensor t) {
        List<Tensor> out = new ArrayList<>();
        collectLeaves(t, out, Collections.newSetFromMap(new IdentityHashMap<>()));
        return out;
    }

    private static void collectLeaves(Tensor t, List<Tensor> out, Set<Tensor> seen) {
        if (t == null || !t.requiresGrad() || !seen.add(t)) {
            return;
        }
        if (t.gradFn() == null) {
            out.add(t);
            return;
        }
        t.gradFn().inputs().forEach(in -> collectLeaves(in, out, seen));
    }

    /** The Linear's input x holds exactly one row per example ([batch, in]), not several ([batch, tokens, in]). */
    private boolean oneRowPerExample(Tensor x) {
        return x.numel() / x.dim(-1) == batch;
    }

    private static boolean isLinearWeight(Use use, Tensor p) {
        String op = use.node().op();
        return use.input() == 1 && use.in() == p && (op.equals(LINEAR) || op.equals(LINEAR_INPUT_MAJOR));
    }

    /** A bias added to every row: {@code p} broadcast over the leading dims of the sum. */
    private static boolean isRowBias(Use use, Tensor p) {
        return use.node().op().equals("add") && use.in() == p && isTrailingShape(p.shape(), use.gradient().shape());
    }

    private static boolean linearInputMajor(Use use) {
        return use.node().op().equals(LINEAR_INPUT_MAJOR);
    }

    private static boolean isTrailingShape(long[] inner, long[] outer) {
        return inner.length < outer.length
                && Arrays.equals(inner, Arrays.copyOfRange(outer, outer.length - inner.length, outer.length));
    }

    private static long[] withCount(long count, long[] shape) {
        long[] out = new long[shape.length + 1];
        out[0] = count;
        System.arraycopy(shape, 0, out, 1, shape.length);
        return out;
    }
}
