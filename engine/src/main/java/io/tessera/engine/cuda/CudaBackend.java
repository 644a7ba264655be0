package io.tessera.engine.cuda;

import io.tessera.engine.Backend;
import io.tessera.engine.Device;
import io.tessera.engine.DeviceStorage;
import io.tessera.engine.Ops;
import io.tessera.engine.Storage;
import io.tessera.engine.Tensor;
import io.tessera.engine.TensorScope;
import io.tessera.ffi.CudaDriver;
import java.lang.foreign.MemorySegment;

/**
 * The {@link Backend} of one CUDA device: kernels from kernels/cuda/ (the same per-element math as the
 * CPU kernels, from kernels/include/tessera/), GEMM through cuBLAS, and through cuBLASLt where it is there
 * (int8, BF16 / F16). Work is queued on the calling thread's current stream (the default stream, or one
 * selected with {@link #use}); reads to host memory wait for it.
 */
public final class CudaBackend extends Backend {
    private final CudaContext context;
    private final CudaElementwise elementwise;
    private final CudaNn nn;
    private final CudaMaskedOptim masked;
    private final CudaInt8 int8;
    private final CudaFisher fisher;

    CudaBackend(CudaContext context) {
        this.context = context;
        this.elementwise = new CudaElementwise(context);
        this.nn = new CudaNn(this, context);
        this.masked = new CudaMaskedOptim(context);
        this.int8 = new CudaInt8(this, context);
        this.fisher = new CudaFisher(this, context);
    }

    @Override
    public Device device() {
        return context.device();
    }

    CudaContext context() {
        return context;
    }

    /** The device's name as the driver reports it. */
    public String deviceName() {
        return context.properties().name();
    }

    // ---- memory, streams and transfers ---------------------------------------------------------

    @Override
    protected Storage allocateImpl(long bytes) {
        CachingAllocator allocator = context.allocator();
        CachingAllocator.Block block = allocator.allocate(bytes);
        return DeviceStorage.adopt(device(), block.address(), bytes, () -> allocator.release(block, bytes));
    }

    DeviceStorage allocateUnscoped(long bytes) {
        return (DeviceStorage) TensorScope.outside(() -> allocate(bytes));
    }

    /** Bytes of device memory held by open storages of this device (tests assert it returns to its start). */
    public long liveBytes() {
        return context.allocator().liveBytes();
    }

    /** Bytes of freed blocks kept for reuse. */
    public long cachedBytes() {
        return context.allocator().cachedBytes();
    }

    /** Waits for the device and returns every cached block to the driver; returns the bytes released. */
    public long emptyCache() {
        return context.allocator().emptyCache();
    }

    /** A new stream of this device; close it when done. */
    public CudaStream newStream() {
        return new CudaStream(context);
    }

    /** A new event of this device; close it when done. */
    public CudaEvent newEvent() {
        return new CudaEvent(context);
    }

    /**
     * Sends this thread's work on this device to {@code stream} until the returned handle closes (then to
     * the stream selected before). Memory allocated meanwhile is reused on that stream only.
     */
    public AutoCloseable use(CudaStream stream) {
        if (stream.context() != context) {
            throw new IllegalArgumentException("a stream of another device cannot run work of " + device());
        }
        CudaStream previous = context.selectedStream();
        context.select(stream);
        return () -> context.select(previous);
    }

    /** Waits until the work queued on this thread's current stream has run. */
    @Override
    public void synchronize() {
        context.synchronizeStream();
    }

    @Override
    protected void writeImpl(Tensor dst, MemorySegment src) {
        long bytes = dst.numel() * dst.dtype().byteSize();
        context.staging().upload(src, address("write", dst), bytes);
    }

    @Override
    protected void readImpl(Tensor src, MemorySegment dst) {
        long bytes = src.numel() * src.dtype().byteSize();
        context.staging().download(address("read", src), dst, bytes);
    }

    long address(String op, Tensor t) {
        return DeviceTensors.address(context, op, t);
    }

    // ---- elementwise, reductions, GEMM --------------------------------------------------------

    @Override
    protected void copyImpl(Tensor src, Tensor dst) {
        elementwise.copy(src, dst);
    }

    @Override
    protected void fillImpl(Tensor dst, double value) {
        elementwise.fill(dst, value);
    }

    @Override
    protected void unaryImpl(Ops.Unary op, float alpha, Tensor x, Tensor y) {
        elementwise.unary(op, alpha, x, y);
    }

    @Override
    protected void binaryImpl(Ops.Binary op, Tensor a, Tensor b, Tensor y) {
        elementwise.binary(op, a, b, y);
    }

    @Override
    protected void compareImpl(Ops.Compare op, Tensor a, Tensor b, Tensor y) {
        elementwise.compare(op, a, b, y);
    }

    @Override
    protected void whereImpl(Tensor cond, Tensor a, Tensor b, Tensor y) {
        elementwise.where(cond, a, b, y);
    }

    @Override
    protected void reduceImpl(Ops.Reduce op, Tensor x, int[] dims, Tensor y) {
        CudaReduce.reduce(this, context, op, x, dims, y);
    }

    @Override
    protected void matmulImpl(Tensor a, Tensor b, Tensor y) {
        CudaGemm.matmul(this, context, a, b, y);
    }

    /** Through cuBLASLt where it is there; otherwise widened to F32 for cuBLAS (Backend's composite). */
    @Override
    protected void matmulHalfImpl(Tensor a, Tensor b, Tensor y) {
        if (CudaLt.available()) {
            CudaGemm.matmul(this, context, a, b, y);
        } else {
            super.matmulHalfImpl(a, b, y);
        }
    }

    @Override
    protected void sampledMatmulImpl(Tensor a, Tensor b, Tensor indices, Tensor y) {
        nn.sampledMatmul(a, b, indices, y);
    }

    // ---- nn primitives and optimizers ---------------------------------------------------------

    @Override
    protected void softmaxImpl(Tensor x, Tensor y, boolean log) {
        nn.softmax(x, y, log);
    }

    @Override
    protected void softmaxBackwardImpl(Tensor y, Tensor gy, Tensor gx, boolean log) {
        nn.softmaxBackward(y, gy, gx, log);
    }

    @Override
    protected void layerNormImpl(Tensor x, Tensor w, Tensor b, float eps, Tensor y, Tensor mean, Tensor rstd) {
        nn.layerNorm(x, w, b, eps, y, mean, rstd);
    }

    @Override
    protected void layerNormBackwardImpl(Tensor x, Tensor w, Tensor mean, Tensor rstd, Tensor gy, Tensor gx, Tensor gw, Tensor gb) {
        nn.layerNormBackward(x, w, mean, rstd, gy, gx, gw, gb);
    }

    @Override
    protected void rmsNormImpl(Tensor x, Tensor w, float eps, Tensor y, Tensor rstd) {
        nn.rmsNorm(x, w, eps, y, rstd);
    }

    @Override
    protected void rmsNormBackwardImpl(Tensor x, Tensor w, Tensor rstd, Tensor gy, Tensor gx, Tensor gw) {
        nn.rmsNormBackward(x, w, rstd, gy, gx, gw);
    }

    @Override
    protected void ropeImpl(Tensor x, Tensor cos, Tensor sin, Tensor pos, boolean inverse, Tensor y) {
        nn.rope(x, cos, sin, pos, inverse, y);
    }

    @Override
    protected void crossEntropyImpl(Tensor logits, Tensor labels, Tensor loss, Tensor lse) {
        nn.crossEntropy(logits, labels, loss, lse);
    }

    @Override
    protected void crossEntropyBackwardImpl(Tensor logits, Tensor labels, Tensor lse, Tensor gloss, Tensor glogits) {
        nn.crossEntropyBackward(logits, labels, lse, gloss, glogits);
    }

    @Override
    protected void embeddingImpl(Tensor weight, Tensor idx, Tensor out) {
        nn.embedding(weight, idx, out);
    }

    @Override
    protected void embeddingBackwardImpl(Tensor gout, Tensor idx, Tensor gweight) {
        nn.embeddingBackward(gout, idx, gweight);
    }

    @Override
    protected void causalMaskImpl(Tensor x, long past, float value) {
        nn.causalMask(x, past, value);
    }

    /** One fused kernel; Backend's composite only for a head dim too wide for one warp's shared memory. */
    @Override
    protected void causalAttentionImpl(Tensor q, Tensor k, Tensor v, float scale, Tensor y) {
        if (!nn.causalAttention(q, k, v, scale, y)) {
            super.causalAttentionImpl(q, k, v, scale, y);
        }
    }

    @Override
    protected void adamwImpl(Tensor p, Tensor g, Tensor m, Tensor v, float lr, float beta1, float beta2, float eps,
                      float weightDecay, float biasCorrection1, float biasCorrection2) {
        nn.adamw(p, g, m, v, lr, beta1, beta2, eps, weightDecay, biasCorrection1, biasCorrection2);
    }

    @Override
    protected void sgdImpl(Tensor p, Tensor g, Tensor buf, float lr, float momentum, float dampening, float weightDecay,
                    boolean nesterov, boolean firstStep) {
        nn.sgd(p, g, buf, lr, momentum, dampening, weightDecay, nesterov, firstStep);
    }

    @Override
    protected void adamwIndexedImpl(Tensor indices, Tensor p, Tensor g, Tensor m, Tensor v, float lr, float beta1, float beta2,
                             float eps, float weightDecay, float biasCorrection1, float biasCorrection2) {
        masked.adamwIndexed(indices, p, g, m, v, lr, beta1, beta2, eps, weightDecay, biasCorrection1, biasCorrection2);
    }

    @Override
    protected void adamwMaskedImpl(Tensor mask, Tensor p, Tensor g, Tensor m, Tensor v, float lr, float beta1, float beta2,
                            float eps, float weightDecay, float biasCorrection1, float biasCorrection2) {
        masked.adamwMasked(mask, p, g, m, v, lr, beta1, beta2, eps, weightDecay, biasCorrection1, biasCorrection2);
    }

    @Override
    protected void sgdIndexedImpl(Tensor indices, Tensor p, Tensor g, Tensor buf, float lr, float momentum, float dampening,
                           float weightDecay, boolean nesterov, boolean firstStep) {
        masked.sgdIndexed(indices, p, g, buf, lr, momentum, dampening, weightDecay, nesterov, firstStep);
    }

    @Override
    protected void sgdMaskedImpl(Tensor mask, Tensor p, Tensor g, Tensor buf, float lr, float momentum, float dampening,
                          float weightDecay, boolean nesterov, boolean firstStep) {
        masked.sgdMasked(mask, p, g, buf, lr, momentum, dampening, weightDecay, nesterov, firstStep);
    }

    @Override
    protected void randomImpl(Tensor y, long seed, long offset, boolean normal) {
        nn.random(y, seed, offset, normal);
    }

    // ---- Fisher module kernels ----------------------------------------------------------------

    @Override
    protected void kahanAccumulateImpl(Tensor x, boolean square, Tensor sum, Tensor comp) {
        fisher.kahanAccumulate(x, square, sum, comp);
    }

    @Override
    protected long radixHistogramImpl(Tensor x, long prefix, int prefixBits, int digitShift, int digitBits, long[] histogram) {
        return fisher.radixHistogram(x, prefix, prefixBits, digitShift, digitBits, histogram);
    }

    @Override
    protected Selected selectAboveImpl(Tensor x, int thresholdKey, long equalQuota, Tensor indices, Tensor keys) {
        return fisher.selectAbove(x, thresholdKey, equalQuota, indices, keys);
    }

    @Override
    protected void fisherMergeImpl(Tensor[] thetas, Tensor[] fishers, float[] weights, float[] scales, float floor, Tensor out) {
        fisher.fisherMerge(thetas, fishers, weights, scales, floor, out);
    }

    @Override
    protected void solvePositiveDefiniteImpl(Tensor a, Tensor b) {
        CudaCholesky.solvePositiveDefinite(this, context, a, b);
    }

    // ---- int8 ----------------------------------------------------------------------------------

    @Override
    protected void quantizeBlockwiseImpl(Tensor x, int block, Tensor codes, Tensor scales) {
        int8.quantizeBlockwise(x, block, codes, scales);
    }

    @Override
    protected void dequantizeBlockwiseImpl(Tensor codes, Tensor scales, int block, Tensor y) {
        int8.dequantizeBlockwise(codes, scales, block, y);
    }

    @Override
    protected long outlierColumnsImpl(Tensor x, float threshold, Tensor flags) {
        return int8.outlierColumns(x, threshold, flags);
    }

    @Override
    protected void quantizeRowsImpl(Tensor x, Tensor exclude, Tensor codes, Tensor scales) {
        int8.quantizeRows(x, exclude, codes, scales);
    }

    @Override
    protected void matmulQ8Impl(Tensor xCodes, Tensor xScales, Tensor wCodes, Tensor wScales, Tensor bias, Tensor y) {
        int8.matmulQ8(xCodes, xScales, wCodes, wScales, bias, y);
    }

    @Override
    protected void matmulQ8OutliersImpl(Tensor x, Tensor columns, Tensor wCodes, Tensor wScales, Tensor y) {
        int8.matmulQ8Outliers(x, columns, wCodes, wScales, y);
    }

    /** Zeroes device memory on the current stream (flags and counters kernels then set). */
    static void zero(CudaContext context, long address, long bytes) {
        context.makeCurrent();
        CudaDriver.check(CudaDriver.cuMemsetD8Async(address, (byte) 0, bytes, context.stream()), "cuMemsetD8Async");
    }
}
