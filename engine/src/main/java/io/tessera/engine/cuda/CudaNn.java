package io.tessera.engine.cuda;

import io.tessera.engine.DType;
import io.tessera.engine.Tensor;

/**
 * The nn primitives and optimizer steps: softmax.cu, norm.cu, rope.cu, loss.cu, embedding.cu, attention.cu,
 * sampled_matmul.cu (with copy.cu's ts_transpose_f32), optim.cu and random.cu. "Rows" kernels take contiguous row-major
 * data over the last dim, one block per row.
 */
final class CudaNn {
    private static final int WARP = 32;
    /** Entries per row of a or b above which transposing both first moves fewer bytes (see sampledMatmul). */
    private static final long TRANSPOSE_ENTRIES_PER_ROW = 7;
    /** The most queries per block of ts_causal_attention_f32 (TS_ATTENTION_TILE in attention.cu). */
    private static final long ATTENTION_TILE = 8;

    private final CudaBackend backend;
    private final CudaContext context;

    CudaNn(CudaBackend backend, CudaContext context) {
        this.backend = backend;
        this.context = context;
    }

    void softmax(Tensor x, Tensor y, boolean log) {
        long cols = lastDim(x);
        long rows = rows(x, cols);
        context.launch("ts_softmax_f32").i64(rows).i64(cols).i32(log ? 1 : 0)
                .ptr(address("softmax", x)).ptr(address("softmax", y))
                .overRows(rows, cols);
    }

    void softmaxBackward(Tensor y, Tensor gy, Tensor gx, boolean log) {
        String op = "softmaxBackward";
        long cols = lastDim(y);
        long rows = rows(y, cols);
        context.launch("ts_softmax_backward_f32").i64(rows).i64(cols).i32(log ? 1 : 0)
                .ptr(address(op, y)).ptr(address(op, gy)).ptr(address(op, gx))
                .overRows(rows, cols);
    }

    void layerNorm(Tensor x, Tensor w, Tensor b, float eps, Tensor y, Tensor mean, Tensor rstd) {
        String op = "layerNorm";
        long cols = lastDim(x);
        long rows = rows(x, cols);
        context.launch("ts_layernorm_f32").i64(rows).i64(cols).f32(eps).ptr(address(op, x)).ptr(address(op, w))
                .ptr(address(op, b)).ptr(address(op, y)).ptr(address(op, mean)).ptr(address(op, rstd))
                .overRows(rows, cols);
    }

    void layerNormBackward(Tensor x, Tensor w, Tensor mean, Tensor rstd, Tensor gy, Tensor gx, Tensor gw, Tensor gb) {
        String op = "layerNormBackward";
        long cols = lastDim(x);
        long rows = rows(x, cols);
        context.launch("ts_layernorm_backward_f32").i64(rows).i64(cols).ptr(address(op, x)).ptr(address(op, w))
                .ptr(address(op, mean)).ptr(address(op, rstd)).ptr(address(op, gy)).ptr(address(op, gx))
                .overRows(rows, cols);
        paramGrads(op, rows, cols, x, mean, rstd, gy, gw, gb);
    }

    void rmsNorm(Tensor x, Tensor w, float eps, Tensor y, Tensor rstd) {
        String op = "rmsNorm";
        long cols = lastDim(x);
        long rows = rows(x, cols);
        context.launch("ts_rmsnorm_f32").i64(rows).i64(cols).f32(eps).ptr(address(op, x)).ptr(address(op, w))
                .ptr(address(op, y)).ptr(address(op, rstd))
                .overRows(rows, cols);
    }

    void rmsNormBackward(Tensor x, Tensor w, Tensor rstd, Tensor gy, Tensor gx, Tensor gw) {
        String op = "rmsNormBackward";
        long cols = lastDim(x);
        long rows = rows(x, cols);
        context.launch("ts_rmsnorm_backward_f32").i64(rows).i64(cols).ptr(address(op, x)).ptr(address(op, w))
                .ptr(address(op, rstd)).ptr(address(op, gy)).ptr(address(op, gx))
                .overRows(rows, cols);
        paramGrads(op, rows, cols, x, null, rstd, gy, gw, null);
    }

    void rope(Tensor x, Tensor cos, Tensor sin, Tensor pos, boolean inverse, Tensor y) {
        String op = "rope";
        long pairs = x.numel() / 2;
        context.launch("ts_rope_f32").i64(x.dim(0)).i64(x.dim(1)).i64(x.dim(2)).ptr(address(op, x)).ptr(address(op, cos))
                .ptr(address(op, sin)).ptr(address(op, pos)).i32(inverse ? 1 : 0).ptr(address(op, y)).overItems(pairs);
    }

    /** gw (and gb) of a norm, one thread per column summing the rows in order; mean is null for RMS norm. */
    private void paramGrads(String op, long rows, long cols, Tensor x, Tensor mean, Tensor rstd, Tensor gy, Tensor gw, Tensor gb) {
        if ((gw == null && gb == null) || cols == 0) {
            return;
        }
        context.launch("ts_norm_param_grads_f32").i64(rows).i64(cols).ptr(address(op, x)).ptr(address(op, mean))
                .ptr(address(op, rstd)).ptr(address(op, gy)).ptr(address(op, gw)).ptr(address(op, gb)).overItems(cols);
    }

    void crossEntropy(Tensor logits, Tensor labels, Tensor loss, Tensor lse) {
        String op = "crossEntropy";
        long cols = lastDim(logits);
        long rows = rows(logits, cols);
        context.launch("ts_cross_entropy_f32").i64(rows).i64(cols).ptr(address(op, logits)).ptr(address(op, labels))
                .i32(labels.dtype().byteSize()).ptr(address(op, loss)).ptr(address(op, lse))
                .overRows(rows, cols);
    }

    void crossEntropyBackward(Tensor logits, Tensor labels, Tensor lse, Tensor gloss, Tensor glogits) {
        String op = "crossEntropyBackward";
        long cols = lastDim(logits);
        long rows = rows(logits, cols);
        context.launch("ts_cross_entropy_backward_f32").i64(rows).i64(cols).ptr(address(op, logits))
                .ptr(address(op, labels)).i32(labels.dtype().byteSize()).ptr(address(op, lse)).ptr(address(op, gloss))
                .ptr(address(op, glogits))
                .overRows(rows, cols);
    }

    /**
     * SDDMM: one group of lanes per listed entry, its lanes striding over the r rows of a and b (ts_sampled_matmul_f32).
     * In a and b's own [r, m] / [r, n] layout those reads are m and n apart, one 32-byte sector per lane, 8 times
     * the bytes used; so unless the entries are very few, both are first transposed into [m, r] / [n, r] scratch
     * (ts_transpose_f32, coalesced both ways), where each entry's dot product reads two contiguous rows. Bytes
     * moved: about 64 k r in place, against 8 r (m + n) for the transposes plus 8 k r after them, so transposing
     * pays once 7 k > m + n.
     */
    void sampledMatmul(Tensor a, Tensor b, Tensor indices, Tensor y) {
        String op = "sampledMatmul";
        long k = indices.numel();
        long r = a.dim(0);
        long m = a.dim(1);
        long n = b.dim(1);
        if (k == 0) {
            return;
        }
        if (r == 0 || TRANSPOSE_ENTRIES_PER_ROW * k <= m + n) {
            sampledMatmul(r, address(op, a), 1, m, address(op, b), 1, n, n, indices, y);
            return;
        }
        try (Scratch transposed = new Scratch(backend, (m + n) * r * Float.BYTES)) {
            long at = transposed.address();
            long bt = at + m * r * Float.BYTES;
            transpose(r, m, address(op, a), at);
            transpose(r, n, address(op, b), bt);
            sampledMatmul(r, at, r, 1, bt, r, 1, n, indices, y);
        }
    }

    /** The SDDMM kernel over a and b at element strides (per row or column of a^T b, per t). */
    private void sampledMatmul(long r, long a, long aRow, long aT, long b, long bCol, long bT, long n, Tensor indices, Tensor y) {
        String op = "sampledMatmul";
        long k = indices.numel();
        LaunchGeometry geometry = context.geometry();
        int group = (int) Math.min(WARP, r <= 1 ? 1 : Long.highestOneBit(r - 1) << 1); // lanes per entry: r up to a power of two
        long warps = (k * group + WARP - 1) / WARP;
        int threads = geometry.rowThreads();
        context.launch("ts_sampled_matmul_f32").i32(group).i64(r).ptr(a).i64(aRow).i64(aT).ptr(b).i64(bCol).i64(bT).i64(n).i64(k)
                .ptr(address(op, indices)).i32(indices.dtype().byteSize()).ptr(address(op, y))
                .run((int) Math.clamp((warps * WARP + threads - 1) / threads, 1, geometry.maxBlocks()), threads);
    }

    /** y [cols, rows] = x [rows, cols]^T, both contiguous F32 at device addresses, by 32 x 32 tiles. */
    private void transpose(long rows, long cols, long x, long y) {
        LaunchGeometry geometry = context.geometry();
        long tiles = ((rows + WARP - 1) / WARP) * ((cols + WARP - 1) / WARP);
        context.launch("ts_transpose_f32").i64(rows).i64(cols).ptr(x).ptr(y)
                .run((int) Math.clamp(tiles, 1, geometry.maxBlocks()), geometry.rowThreads());
    }

    /**
     * Causal attention in one pass (ts_causal_attention_f32, or ts_causal_attention_f16kv for F16 keys and values): a
     * block per (batch, head, tile of up to ATTENTION_TILE queries), its warps splitting the keys, so each K and V row
     * is read once per tile (k and v may have fewer heads than q: grouped-query attention). Returns false when even one
     * warp and one query (the query and its output row in shared memory) do not fit the device, for the caller to take
     * the composite path.
     */
    boolean causalAttention(Tensor q, Tensor k, Tensor v, float scale, Tensor y) {
        String op = "causalAttention";
        long batch = q.dim(0);
        long heads = q.dim(1);
        long tq = q.dim(2);
        long tk = k.dim(2);
        long d = q.dim(3);
        LaunchGeometry geometry = context.geometry();
        for (long tile = Math.min(tq, ATTENTION_TILE); tile >= 1; tile--) {
            for (long warps = Math.min(geometry.rowThreads() / WARP, tk); warps >= 1; warps /= 2) {
                long shared = (tile * d + warps * tile * (d + 2)) * Float.BYTES; // the queries; per warp acc, max and sum
                if (shared <= geometry.sharedBytes()) {
                    long blocks = batch * heads * ((tq + tile - 1) / tile);
                    String kernel = k.dtype() == DType.F16 ? "ts_causal_attention_f16kv" : "ts_causal_attention_f32";
                    context.launch(kernel).i64(batch).i64(heads).i64(heads / k.dim(1)).i64(tq).i64(tk).i64(d)
                            .f32(scale)
                            .ptr(address(op, q)).i64(q.strides()[0]).i64(q.strides()[1]).i64(q.strides()[2])
                            .ptr(address(op, k)).i64(k.strides()[0]).i64(k.strides()[1]).i64(k.strides()[2])
                            .ptr(address(op, v)).i64(v.strides()[0]).i64(v.strides()[1]).i64(v.strides()[2])
                            .i64(tile).ptr(address(op, y))
                            .run((int) Math.min(blocks, geometry.maxBlocks()), (int) (warps * WARP), (int) shared);
                    return true;
                }
            }
        }
        return false;
    }

    void embedding(Tensor weight, Tensor idx, Tensor out) {
        String op = "embedding";
        long dim = weight.shape()[1];
        context.launch("ts_embedding_f32").i64(idx.numel()).i64(dim).ptr(address(op, weight))
                .ptr(address(op, idx)).i32(idx.dtype().byteSize()).ptr(address(op, out))
                .overItems(idx.numel() * dim);
    }

    void embeddingBackward(Tensor gout, Tensor idx, Tensor gweight) {
        String op = "embeddingBackward";
        long dim = gweight.shape()[1];
        context.launch("ts_embedding_backward_f32").i64(idx.numel()).i64(dim).ptr(address(op, gout))
                .ptr(address(op, idx)).i32(idx.dtype().byteSize()).ptr(address(op, gweight))
                .overItems(idx.numel() == 0 ? 0 : dim);
    }

    void causalMask(Tensor x, long past, float value) {
        int r = x.rank();
        long[] shape = x.shape();
        context.launch("ts_causal_mask_f32").i64(shape[0]).i64(shape[r - 2]).i64(shape[r - 1]).i64(past)
                .f32(value).ptr(address("causalMask", x))
                .overItems(x.numel());
    }

    void adamw(Tensor p, Tensor g, Tensor m, Tensor v, float lr, float beta1, float beta2, float eps, float weightDecay,
               float biasCorrection1, float biasCorrection2) {
        String op = "adamw";
        context.launch("ts_adamw_f32").i64(p.numel()).ptr(address(op, p)).ptr(address(op, g)).ptr(address(op, m))
                .ptr(address(op, v)).f32(lr).f32(beta1).f32(beta2).f32(eps).f32(weightDecay).f32(biasCorrection1)
                .f32(biasCorrection2)
                .overItems(p.numel());
    }

    void sgd(Tensor p, Tensor g, Tensor buf, float lr, float momentum, float dampening, float weightDecay, boolean nesterov,
             boolean firstStep) {
        String op = "sgd";
        context.launch("ts_sgd_f32").i64(p.numel()).ptr(address(op, p)).ptr(address(op, g)).ptr(address(op, buf))
                .f32(lr).f32(momentum).f32(dampening).f32(weightDecay).i32(nesterov ? 1 : 0).i32(firstStep ? 1 : 0)
                .overItems(p.numel());
    }

    void random(Tensor y, long seed, long offset, boolean normal) {
        long n = y.numel();
        context.launch("ts_philox_f32").i64(n).i64(seed).i64(offset).i32(normal ? 1 : 0).ptr(address("random", y))
                .overItems((n + 1) / 2);
    }

    private long address(String op, Tensor t) {
        return DeviceTensors.address(context, op, t);
    }

    private static long lastDim(Tensor t) {
        return t.rank() == 0 ? 1 : t.shape()[t.rank() - 1];
    }

    private static long rows(Tensor t, long cols) {
        return cols == 0 ? 0 : t.numel() / cols;
    }
}
