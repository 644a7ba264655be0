package io.tessera.sparse;

import io.tessera.engine.Tensor;
import java.util.Map;
import java.util.function.Function;

/**
 * AdamW (PyTorch's torch.optim.AdamW semantics, the per-element math of engine's AdamW) on the masked
 * entries only: weight decay and moments touch nothing else. Moments are stored compactly (k entries)
 * for {@link UpdateForm#INDEXED} tensors.
 */
public final class MaskedAdamW extends MaskedOptimizer {
    private final float lr;
    private final float beta1;
    private final float beta2;
    private final float eps;
    private final float weightDecay;
    private long step;

    public MaskedAdamW(Map<String, Tensor> params, SparseMask mask, double lr, double beta1, double beta2, double eps,
                       double weightDecay, Function<TensorMask, UpdateForm> formFor) {
        super(params, mask, formFor, 2);
        this.lr = (float) lr;
        this.beta1 = (float) beta1;
        this.beta2 = (float) beta2;
        this.eps = (float) eps;
        this.weightDecay = (float) weightDecay;
    }

    /** torch.optim.AdamW's defaults (betas 0.9, 0.999, eps 1e-8, weight decay 0.01), forms by density. */
    public MaskedAdamW(Map<String, Tensor> params, SparseMask mask, double lr) {
        this(params, mask, lr, 0.9, 0.999, 1e-8, 0.01, UpdateForm::byDensity);
    }

    @Override
    void step(MaskedParameter target, Tensor p, Tensor g) {
        Tensor m = target.state[0];
        Tensor v = target.state[1];
        if (target.form == UpdateForm.INDEXED) {
            MaskedKernels.adamwIndexed(target.selection, p, g, m, v, lr, beta1, beta2, eps, weightDecay, step + 1);
        } else {
            MaskedKernels.adamwMasked(target.selection, p, g, m, v, lr, beta1, beta2, eps, weightDecay, step + 1);
        }
    }

    @Override
    protected void afterStep() {
        step++;
    }

    public long steps() {
        return step;
    }
}
