package io.tessera.engine.optim;

import io.tessera.engine.InPlace;
import io.tessera.engine.Tensor;
import java.util.List;

/** SGD with momentum, dampening, weight decay and Nesterov, as torch.optim.SGD; one fused kernel per tensor. */
public final class Sgd extends Optimizer {
    private final float lr;
    private final float momentum;
    private final float dampening;
    private final float weightDecay;
    private final boolean nesterov;
    private final Tensor[] buffers;

    public Sgd(List<Tensor> params, double lr, double momentum, double dampening, double weightDecay, boolean nesterov) {
        super(params);
        if (nesterov && (momentum <= 0 || dampening != 0)) {
            throw new IllegalArgumentException("Nesterov momentum needs momentum > 0 and dampening 0");
        }
        this.lr = (float) lr;
        this.momentum = (float) momentum;
        this.dampening = (float) dampening;
        this.weightDecay = (float) weightDecay;
        this.nesterov = nesterov;
        this.buffers = new Tensor[params.size()];
    }

    public Sgd(List<Tensor> params, double lr) {
        this(params, lr, 0, 0, 0, false);
    }

    @Override
    protected void update(int i, Tensor p, Tensor g) {
        boolean first = momentum != 0 && buffers[i] == null;
        if (first) {
            buffers[i] = stateLike(p);
        }
        InPlace.sgd(p, g, buffers[i], lr, momentum, dampening, weightDecay, nesterov, first);
    }

    @Override
    public void close() {
        for (Tensor b : buffers) {
            if (b != null) {
                b.close();
            }
        }
    }
}
