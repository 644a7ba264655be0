package io.tessera.sparse;

import io.tessera.engine.Tensor;
import java.util.Map;
import java.util.function.Function;

/**
 * SGD with momentum, dampening, weight decay and Nesterov (torch.optim.SGD semantics, the per-element
 * math of engine's Sgd) on the masked entries only. The momentum buffer is compact (k entries) for
 * {@link UpdateForm#INDEXED} tensors and absent when momentum is 0.
 */
public final class MaskedSgd extends MaskedOptimizer {
    private final float lr;
    private final float momentum;
    private final float dampening;
    private final float weightDecay;
    private final boolean nesterov;

    public MaskedSgd(Map<String, Tensor> params, SparseMask mask, double lr, double momentum, double dampening,
                     double weightDecay, boolean nesterov, Function<TensorMask, UpdateForm> formFor) {
        super(params, mask, formFor, momentum != 0 ? 1 : 0);
        if (nesterov && (momentum <= 0 || dampening != 0)) {
            throw new IllegalArgumentException("Nesterov momentum needs momentum > 0 and dampening 0");
        }
        this.lr = (float) lr;
        this.momentum = (float) momentum;
        this.dampening = (float) dampening;
        this.weightDecay = (float) weightDecay;
        this.nesterov = nesterov;
    }

    /** Plain SGD, forms by density. */
    public MaskedSgd(Map<String, Tensor> params, SparseMask mask, double lr) {
        this(params, mask, lr, 0, 0, 0, false, UpdateForm::byDensity);
    }

    @Override
    void step(MaskedParameter target, Tensor p, Tensor g) {
        Tensor buf = target.state.length > 0 ? target.state[0] : null;
        if (target.form == UpdateForm.INDEXED) {
            MaskedKernels.sgdIndexed(target.selection, p, g, buf, lr, momentum, dampening, weightDecay, nesterov, !target.updated);
        } else {
            MaskedKernels.sgdMasked(target.selection, p, g, buf, lr, momentum, dampening, weightDecay, nesterov, !target.updated);
        }
        target.updated = true;
    }
}
