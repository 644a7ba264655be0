package io.tessera.sparse;

import io.tessera.engine.DType;
import io.tessera.engine.Tensor;
import io.tessera.engine.TensorScope;
import io.tessera.engine.optim.Optimizer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Function;

/**
 * An optimizer that updates only the entries a {@link SparseMask} selects and leaves every other bit of
 * every parameter (and of its state) untouched. Each masked tensor gets an {@link UpdateForm}, chosen
 * by {@code formFor} (normally {@link UpdateForm#byDensity}); {@link #forms()} reports the choice.
 * Parameters the mask does not name are frozen: never updated, though {@link #zeroGrad()} still
 * clears their gradients.
 */
public abstract sealed class MaskedOptimizer extends Optimizer permits MaskedAdamW, MaskedSgd {
    private final MaskedParameter[] masked; // by parameter index; null for frozen parameters
    /** By parameter index: the list a parameter's gradient is restricted to by compactGradients(), else null. */
    private final Tensor[] restrictedTo;

    protected MaskedOptimizer(Map<String, Tensor> params, SparseMask mask, Function<TensorMask, UpdateForm> formFor,
                              int stateBuffers) {
        super(new ArrayList<>(params.values()));
        List<String> problems = new ArrayList<>();
        mask.tensors().forEach((name, m) -> {
            Tensor p = params.get(name);
            if (p == null) {
                problems.add("tensor '" + name + "' is masked but is not a parameter");
            } else if (!Arrays.equals(p.shape(), m.shape())) {
                problems.add("tensor '" + name + "' has mask shape " + Arrays.toString(m.shape()) + " but is " + p.describe());
            }
        });
        SparseMask.throwIfAny(problems, getClass().getSimpleName() + ": the mask does not fit the parameters");
        this.masked = new MaskedParameter[params.size()];
        this.restrictedTo = new Tensor[params.size()];
        int i = 0;
        try {
            for (Map.Entry<String, Tensor> e : params.entrySet()) {
                TensorMask m = mask.tensors().get(e.getKey());
                if (m != null && m.count() > 0) {
                    masked[i] = new MaskedParameter(e.getKey(), e.getValue(), m, formFor.apply(m), stateBuffers);
                }
                i++;
            }
        } catch (RuntimeException e) {
            close();
            throw e;
        }
    }

    @Override
    protected final void update(int index, Tensor param, Tensor grad) {
        if (masked[index] != null) {
            step(masked[index], param, grad);
        }
    }

    /** One update of the masked entries of {@code param}. */
    abstract void step(MaskedParameter target, Tensor param, Tensor grad);

    /**
     * Has backward compute the gradient of every {@link UpdateForm#INDEXED} tensor at its masked entries
     * only ({@link Tensor#restrictGrad}): its {@code grad()} becomes compact, k values in mask order, which
     * the index form then reads in order instead of at k scattered places of a full-size gradient; a
     * Linear weight's is computed by an SDDMM, k * batch multiply-adds instead of the full weight
     * gradient's GEMM. Frozen parameters (not masked, or masked nowhere) get theirs restricted to no
     * entries, so backward skips their weight gradients (their {@code grad()} is then empty). Dense-form
     * tensors keep full gradients. {@link Optimizer#clipGradNorm} then measures the kept entries only. The
     * parameters must hold no gradient yet; {@link #close()} drops the restricted gradients and lifts the
     * restrictions. Returns this.
     */
    public final MaskedOptimizer compactGradients() {
        for (int i = 0; i < masked.length; i++) {
            Tensor p = params.get(i);
            if (restrictedTo[i] != null) {
                continue; // already restricted by an earlier call
            }
            if (masked[i] == null) {
                restrictedTo[i] = TensorScope.outside(() -> Tensor.empty(p.device(), DType.I32, 0));
            } else if (masked[i].form == UpdateForm.INDEXED) {
                restrictedTo[i] = masked[i].selection;
            }
            if (restrictedTo[i] != null) {
                p.restrictGrad(restrictedTo[i]);
            }
        }
        return this;
    }

    /** The update form of each trained (masked, non-empty) tensor, in parameter order. */
    public final Map<String, UpdateForm> forms() {
        Map<String, UpdateForm> out = new LinkedHashMap<>();
        for (MaskedParameter m : masked) {
            if (m != null) {
                out.put(m.name, m.form);
            }
        }
        return Collections.unmodifiableMap(out);
    }

    /**
     * e.g. "MaskedAdamW: 0.weight indexed (1003 entries, 0.500%, compact gradient), 0.bias dense (256 entries,
     * 100.000%)".
     */
    public final String describe() {
        List<String> parts = new ArrayList<>();
        for (int i = 0; i < masked.length; i++) {
            if (masked[i] != null) {
                boolean compact = restrictedTo[i] != null && params.get(i).gradIndices() == restrictedTo[i];
                parts.add(masked[i].describe(compact));
            }
        }
        return getClass().getSimpleName() + ": " + String.join(", ", parts);
    }

    @Override
    public void close() {
        for (int i = 0; i < masked.length; i++) {
            Tensor p = params.get(i);
            if (restrictedTo[i] != null && p.gradIndices() == restrictedTo[i]) {
                p.zeroGrad(); // a compact gradient means nothing without the list it was kept for
                p.restrictGrad(null);
            }
            if (masked[i] != null) {
                masked[i].close();
            } else if (restrictedTo[i] != null) {
                restrictedTo[i].close();
            }
        }
    }
}
