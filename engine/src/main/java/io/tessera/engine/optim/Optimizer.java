package io.tessera.engine.optim;

import io.tessera.engine.InPlace;
import io.tessera.engine.Tensor;
import io.tessera.engine.TensorScope;
import io.tessera.engine.autograd.GradMode;
import java.util.List;

/** Updates parameters from their accumulated gradients; state lives outside any scope until close(). */
public abstract class Optimizer implements AutoCloseable {
    protected final List<Tensor> params;

    protected Optimizer(List<Tensor> params) {
        for (Tensor p : params) {
            if (!p.requiresGrad() || !p.isLeaf()) {
                throw new IllegalArgumentException("optimizer parameters must be leaf tensors that require grad, got " + p.describe());
            }
        }
        this.params = List.copyOf(params);
    }

    /** One update of every parameter that has a gradient. */
    public final void step() {
        try (GradMode off = GradMode.noGrad()) {
            for (int i = 0; i < params.size(); i++) {
                Tensor p = params.get(i);
                if (p.grad() != null) {
                    update(i, p, p.grad());
                }
            }
            afterStep();
        }
    }

    protected abstract void update(int index, Tensor param, Tensor grad);

    protected void afterStep() {}

    public final void zeroGrad() {
        params.forEach(Tensor::zeroGrad);
    }

    /** A zero state buffer shaped like {@code p} and on its device, owned by the optimizer. */
    protected static Tensor stateLike(Tensor p) {
        return TensorScope.outside(() -> Tensor.zeros(p.device(), p.shape()));
    }

    /**
     * Scales all gradients so their global L2 norm is at most {@code maxNorm} (torch's
     * clip_grad_norm_); returns the norm before clipping.
     */
    public static double clipGradNorm(List<Tensor> params, double maxNorm) {
        double squares = 0;
        try (TensorScope scope = TensorScope.open(); GradMode off = GradMode.noGrad()) {
            for (Tensor p : params) {
                if (p.grad() != null) {
                    squares += p.grad().sumSquares(false).item();
                }
            }
        }
        double norm = Math.sqrt(squares);
        if (norm > maxNorm) {
            double factor = maxNorm / (norm + 1e-6);
            for (Tensor p : params) {
                if (p.grad() != null) {
                    InPlace.scale(p.grad(), factor);
                }
            }
        }
        return norm;
    }

    @Override
    public abstract void close();
}
