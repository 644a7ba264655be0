package io.tessera.engine.cuda;

import io.tessera.engine.GradIndices;
import io.tessera.engine.Tensor;

/**
 * The masked optimizer steps of masked_optim.cu: the index form runs one thread per listed entry, the
 * mask form one per element.
 */
final class CudaMaskedOptim {
    private final CudaContext context;

    CudaMaskedOptim(CudaContext context) {
        this.context = context;
    }

    void adamwIndexed(Tensor indices, Tensor p, Tensor g, Tensor m, Tensor v, float lr, float beta1, float beta2, float eps,
                      float weightDecay, float biasCorrection1, float biasCorrection2) {
        String op = "adamwIndexed";
        long k = indices.numel();
        context.launch("ts_adamw_indexed_f32").i64(k).ptr(address(op, indices)).i32(indices.dtype().byteSize())
                .ptr(address(op, p)).ptr(address(op, g)).i32(GradIndices.isCompact(indices, g) ? 1 : 0)
                .ptr(address(op, m)).ptr(address(op, v)).f32(lr).f32(beta1).f32(beta2).f32(eps).f32(weightDecay)
                .f32(biasCorrection1).f32(biasCorrection2)
                .overItems(k);
    }

    void adamwMasked(Tensor mask, Tensor p, Tensor g, Tensor m, Tensor v, float lr, float beta1, float beta2, float eps,
                     float weightDecay, float biasCorrection1, float biasCorrection2) {
        String op = "adamwMasked";
        context.launch("ts_adamw_masked_f32").i64(p.numel()).ptr(address(op, mask)).ptr(address(op, p))
                .ptr(address(op, g)).ptr(address(op, m)).ptr(address(op, v)).f32(lr).f32(beta1).f32(beta2).f32(eps)
                .f32(weightDecay).f32(biasCorrection1).f32(biasCorrection2)
                .overItems(p.numel());
    }

    void sgdIndexed(Tensor indices, Tensor p, Tensor g, Tensor buf, float lr, float momentum, float dampening,
                    float weightDecay, boolean nesterov, boolean firstStep) {
        String op = "sgdIndexed";
        long k = indices.numel();
        context.launch("ts_sgd_indexed_f32").i64(k).ptr(address(op, indices)).i32(indices.dtype().byteSize())
                .ptr(address(op, p)).ptr(address(op, g)).i32(GradIndices.isCompact(indices, g) ? 1 : 0)
                .ptr(address(op, buf)).f32(lr).f32(momentum).f32(dampening)
                .f32(weightDecay).i32(nesterov ? 1 : 0).i32(firstStep ? 1 : 0)
                .overItems(k);
    }

    void sgdMasked(Tensor mask, Tensor p, Tensor g, Tensor buf, float lr, float momentum, float dampening, float weightDecay,
                   boolean nesterov, boolean firstStep) {
        String op = "sgdMasked";
        context.launch("ts_sgd_masked_f32").i64(p.numel()).ptr(address(op, mask)).ptr(address(op, p)).ptr(address(op, g))
                .ptr(address(op, buf)).f32(lr).f32(momentum).f32(dampening).f32(weightDecay).i32(nesterov ? 1 : 0)
                .i32(firstStep ? 1 : 0)
                .overItems(p.numel());
    }

    private long address(String op, Tensor t) {
        return DeviceTensors.address(context, op, t);
    }
}
