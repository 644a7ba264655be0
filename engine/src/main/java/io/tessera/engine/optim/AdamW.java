package io.tessera.engine.optim;

import io.tessera.engine.InPlace;
import io.tessera.engine.Tensor;
import java.util.List;

/** AdamW with PyTorch's semantics (decoupled weight decay, bias correction), one fused kernel per tensor. */
public final class AdamW extends Optimizer {
    private final float lr;
    private final float beta1;
    private final float beta2;
    private final float eps;
    private final float weightDecay;
    private final Tensor[] m;
    private final Tensor[] v;
    private long step;

    public AdamW(List<Tensor> params, double lr, double beta1, double beta2, double eps, double weightDecay) {
        super(params);
        this.lr = (float) lr;
        this.beta1 = (float) beta1;
        this.beta2 = (float) beta2;
        this.eps = (float) eps;
        this.weightDecay = (float) weightDecay;
        this.m = new Tensor[params.size()];
        this.v = new Tensor[params.size()];
    }

    /** torch.optim.AdamW's defaults: betas (0.9, 0.999), eps 1e-8, weight decay 0.01. */
    public AdamW(List<Tensor> params, double lr) {
        this(params, lr, 0.9, 0.999, 1e-8, 0.01);
    }

    @Override
    protected void update(int i, Tensor p, Tensor g) {
        if (m[i] == null) {
            m[i] = stateLike(p);
            v[i] = stateLike(p);
        }
        InPlace.adamw(p, g, m[i], v[i], lr, beta1, beta2, eps, weightDecay, step + 1);
    }

    @Override
    protected void afterStep() {
        step++;
    }

    public long steps() {
        return step;
    }

    @Override
    public void close() {
        for (int i = 0; i < m.length; i++) {
            if (m[i] != null) {
                m[i].close();
                v[i].close();
            }
        }
    }
}
