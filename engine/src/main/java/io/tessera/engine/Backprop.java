package io.tessera.engine;

import io.tessera.engine.autograd.GradMode;
import io.tessera.engine.autograd.GradientTap;
import io.tessera.engine.autograd.Node;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.Deque;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/** Reverse-mode pass over the tape recorded in {@link Tensor#gradFn()} nodes. */
final class Backprop {
    private Backprop() {}

    /** The buffers {@link #gradientBuffer} handed out during the current backward pass and not yet kept. */
    private static final ThreadLocal<Set<Tensor>> UNOWNED = new ThreadLocal<>();

    /**
     * An uninitialised F32 tensor for a gradient that an op's backward computes for exactly one of its
     * inputs and hands to nothing else. During a backward pass it lives outside any TensorScope, so that a
     * leaf receiving it as its first gradient keeps it as is instead of copying it out of the scope (a full
     * extra pass over, e.g., every weight gradient); buffers no leaf keeps are freed when the pass ends.
     */
    static Tensor gradientBuffer(Device device, long... shape) {
        Set<Tensor> unowned = UNOWNED.get();
        if (unowned == null) {
            return Tensor.empty(device, DType.F32, shape);
        }
        Tensor buffer = TensorScope.outside(() -> Tensor.empty(device, DType.F32, shape));
        unowned.add(buffer);
        return buffer;
    }

    static void run(Tensor root, Tensor seed, GradientTap tap) {
        Set<Tensor> outer = UNOWNED.get();
        UNOWNED.set(Collections.newSetFromMap(new IdentityHashMap<>()));
        try {
            propagate(root, seed, tap);
        } finally {
            UNOWNED.get().forEach(Tensor::close);
            UNOWNED.set(outer);
        }
    }

    private static void propagate(Tensor root, Tensor seed, GradientTap tap) {
        if (!root.requiresGrad()) {
            throw new IllegalStateException("backward(): " + root.describe() + " does not require grad (nothing it was"
                    + " computed from requires grad, or it was computed under GradMode.noGrad())");
        }
        if (!Arrays.equals(root.shape(), seed.shape())) {
            throw new IllegalArgumentException("backward(): gradient " + seed.describe() + " does not match " + root.describe());
        }
        List<Tensor> order = topologicalOrder(root);
        Map<Tensor, Tensor> grads = new IdentityHashMap<>();
        grads.put(root, seed);
        try (GradMode off = GradMode.noGrad()) {
            for (int i = order.size() - 1; i >= 0; i--) {
                Tensor t = order.get(i);
                Tensor g = grads.remove(t);
                if (g == null) {
                    continue;
                }
                if (t.isLeaf() || t.retainsGrad()) {
                    accumulateLeaf(t, g);
                }
                if (t.isLeaf()) {
                    continue;
                }
                Node node = t.gradFn();
                List<Tensor> inputs = node.inputs();
                boolean[] needed = new boolean[inputs.size()];
                for (int j = 0; j < needed.length; j++) {
                    needed[j] = inputs.get(j) != null && inputs.get(j).requiresGrad() && (tap == null || !tap.take(t, node, j, g));
                }
                Tensor[] inputGrads = node.backward().apply(g, needed);
                for (int j = 0; j < needed.length; j++) {
                    if (!needed[j] || inputGrads[j] == null) {
                        continue;
                    }
                    Tensor input = inputs.get(j);
                    Tensor gradient = GradIndices.toKept(input, inputGrads[j]);
                    if (!Arrays.equals(gradient.shape(), input.gradShape())) {
                        throw new IllegalStateException("backward of " + node.op() + " gave gradient "
                                + inputGrads[j].describe() + " for input " + input.describe());
                    }
                    grads.merge(input, gradient, Tensor::add);
                }
            }
        }
    }

    /**
     * Stored gradients outlive any TensorScope of the step that computed them, like the parameters; the
     * gradient of a tensor that a scope owns (a retained intermediate, a leaf made in the scope) is freed
     * with it by that scope.
     */
    private static void accumulateLeaf(Tensor leaf, Tensor gradient) {
        Tensor g = GradIndices.toKept(leaf, gradient); // the root itself may be a restricted leaf
        Tensor existing = leaf.grad();
        if (existing == null) {
            boolean own = g.dtype() == leaf.dtype() && UNOWNED.get().remove(g); // an op's buffer, outside any scope
            leaf.setGrad(own ? g : TensorScope.outside(() -> g.to(leaf.dtype())));
            if (leaf.storage().scoped()) {
                TensorScope.adoptWith(leaf.storage(), leaf.grad().storage());
            }
        } else {
            existing.backend().binary(Ops.Binary.ADD, existing, g.to(DType.F32), existing);
        }
    }

    /** Tensors reachable from root through the tape, each after all tensors it was computed from. */
    private static List<Tensor> topologicalOrder(Tensor root) {
        List<Tensor> order = new ArrayList<>();
        Set<Tensor> visited = Collections.newSetFromMap(new IdentityHashMap<>());
        Deque<Tensor> stack = new ArrayDeque<>();
        Deque<Boolean> expanded = new ArrayDeque<>();
        stack.push(root);
        expanded.push(false);
        while (!stack.isEmpty()) {
            Tensor t = stack.pop();
            boolean done = expanded.pop();
            if (done) {
                order.add(t);
                continue;
            }
            if (!visited.add(t)) {
                continue;
            }
            stack.push(t);
            expanded.push(true);
            if (t.gradFn() != null) {
                for (Tensor input : t.gradFn().inputs()) {
                    if (input != null && input.requiresGrad() && !visited.contains(input)) {
                        stack.push(input);
                        expanded.push(false);
                    }
                }
            }
        }
        return order;
    }
}
