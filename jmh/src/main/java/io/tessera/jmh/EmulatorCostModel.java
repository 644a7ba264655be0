package io.tessera.jmh;

import io.tessera.engine.Backend;
import io.tessera.engine.Backends;
import io.tessera.engine.DType;
import io.tessera.engine.Device;
import io.tessera.engine.Ops;
import io.tessera.engine.Tensor;
import io.tessera.engine.TensorScope;
import io.tessera.ffi.CudaEmulatorHooks;
import io.tessera.ffi.CudaEmulatorHooks.AccessStats;
import java.util.List;
import java.util.function.BiFunction;

/**
 * A cost model of the memory-bound CUDA kernels, printed next to the CPU's measured time for the same op.
 * Each op runs once on the emulated CUDA driver with its access recorder on, which gives the bytes a GPU
 * would move (whole 32-byte sectors); with the op's FLOPs, the modelled time is
 * max(bytes / 3.35 TB/s, FLOPs / 67 TFLOP/s), an H100 SXM's HBM3 bandwidth and FP32 (non-tensor) peak as
 * NVIDIA's datasheet states them. It is a model, not a measurement: no GPU runs. The CPU time is measured
 * here, the best of several runs; the emulated CUDA runs are not timed (an emulator's time says nothing about a GPU's).
 * Run by scripts/emu-cost, and by scripts/bench when its JMH arguments ask for device=cuda and there is no CUDA driver;
 * the argument is the elements per op.
 */
public final class EmulatorCostModel {
    private static final double H100_BYTES_PER_SECOND = 3.35e12;
    private static final double H100_FP32_FLOPS_PER_SECOND = 67e12;
    private static final int CPU_RUNS = 10;

    private EmulatorCostModel() {}

    /** An op, the kernel it launches on CUDA, its FLOPs, and its set-up on a device (returning the call to time). */
    record Op(String what, String kernel, double flops, BiFunction<Backend, Device, Runnable> prepare) {}

    static List<Op> ops(long n) {
        long rows = 1024;
        long cols = n / rows;
        return List.of(
                new Op("add", "ts_binary_f32", n, (b, d) -> {
                    Tensor x = randn(d, n);
                    Tensor y = randn(d, n);
                    Tensor out = Tensor.empty(d, DType.F32, n);
                    return () -> b.binary(Ops.Binary.ADD, x, y, out);
                }),
                new Op("exp (1 FLOP an element)", "ts_unary_f32", n, (b, d) -> {
                    Tensor x = randn(d, n);
                    Tensor out = Tensor.empty(d, DType.F32, n);
                    return () -> b.unary(Ops.Unary.EXP, 0, x, out);
                }),
                new Op("adamw (12 FLOPs an element)", "ts_adamw_f32", 12.0 * n, (b, d) -> {
                    Tensor p = randn(d, n);
                    Tensor g = randn(d, n);
                    Tensor m = Tensor.zeros(d, n);
                    Tensor v = Tensor.zeros(d, n);
                    return () -> b.adamw(p, g, m, v, 1e-3f, 0.9f, 0.999f, 1e-8f, 0.01f, 0.1f, 0.001f);
                }),
                new Op("sgd, momentum (5 FLOPs an element)", "ts_sgd_f32", 5.0 * n, (b, d) -> {
                    Tensor p = randn(d, n);
                    Tensor g = randn(d, n);
                    Tensor buf = Tensor.zeros(d, n);
                    return () -> b.sgd(p, g, buf, 1e-2f, 0.9f, 0f, 0f, false, false);
                }),
                new Op("quantize, blocks of 64 (3 FLOPs an element)", "ts_quantize_blockwise_q8", 3.0 * n, (b, d) -> {
                    Tensor x = randn(d, n);
                    Tensor q = Tensor.empty(d, DType.I8, n);
                    Tensor s = Tensor.empty(d, DType.F32, n / 64);
                    return () -> b.quantizeBlockwise(x, 64, q, s);
                }),
                new Op("dequantize, blocks of 64", "ts_dequantize_blockwise_q8", n, (b, d) -> {
                    Tensor q = randn(d, n).to(DType.I8);
                    Tensor s = randn(d, n / 64);
                    Tensor y = Tensor.empty(d, DType.F32, n);
                    return () -> b.dequantizeBlockwise(q, s, 64, y);
                }),
                new Op("sum [1024, n/1024] over dim 1", "ts_reduce_f32", n, (b, d) -> {
                    Tensor x = randn(d, rows, cols);
                    Tensor y = Tensor.empty(d, DType.F32, rows);
                    return () -> b.reduce(Ops.Reduce.SUM, x, new int[] {1}, y);
                }),
                new Op("sum [1024, n/1024] over dim 0", "ts_reduce_adjacent_f32", n, (b, d) -> {
                    Tensor x = randn(d, rows, cols);
                    Tensor y = Tensor.empty(d, DType.F32, cols);
                    return () -> b.reduce(Ops.Reduce.SUM, x, new int[] {0}, y);
                }));
    }

    private static Tensor randn(Device device, long... shape) {
        return Tensor.randn(device, 1, 0, shape);
    }

    public static void main(String[] args) {
        long n = args.length > 0 ? Long.parseLong(args[0]) : 1 << 22;
        if (n <= 0 || n % 1024 != 0) {
            throw new IllegalArgumentException("elements per op must be a positive multiple of 1024: " + n);
        }
        if (!CudaEmulatorHooks.present()) {
            throw new IllegalStateException("the cost model needs the emulated CUDA driver: -Dtessera.cuda.driver="
                    + System.getProperty("tessera.cuda.driver"));
        }
        Backend cpu = Backends.of(Device.CPU);
        Backend cuda = BenchDevice.backend("cuda");
        System.out.printf("CUDA cost model on the emulated driver, %d elements an op.%n"
                + "H100 column: a model, not a measurement (bytes moved as the emulator's access recorder counts them, at 3.35 TB/s;%n"
                + "FLOPs at 67 FP32 TFLOP/s; no GPU ran). CPU column: measured on this machine, best of %d.%n%n", n, CPU_RUNS);
        System.out.printf("%-46s %12s %14s %14s %20s%n", "op", "CPU ms", "GPU bytes", "FLOPs", "H100 us (a model)");
        for (Op op : ops(n)) {
            double cpuSeconds;
            try (TensorScope scope = TensorScope.open()) {
                Runnable call = op.prepare().apply(cpu, Device.CPU);
                cpuSeconds = Double.MAX_VALUE;
                for (int run = 0; run < CPU_RUNS; run++) {
                    long start = System.nanoTime();
                    call.run();
                    cpuSeconds = Math.min(cpuSeconds, (System.nanoTime() - start) * 1e-9);
                }
            }
            long bytes;
            try (TensorScope scope = TensorScope.open()) {
                Runnable call = op.prepare().apply(cuda, Device.cuda(0));
                cuda.synchronize();
                CudaEmulatorHooks.recordAccesses(true);
                call.run();
                cuda.synchronize();
                CudaEmulatorHooks.recordAccesses(false);
                AccessStats stats = CudaEmulatorHooks.accessStats(op.kernel())
                        .orElseThrow(() -> new IllegalStateException(op.what() + " launched no " + op.kernel()));
                bytes = stats.bytesMoved();
            }
            double modelSeconds = Math.max(bytes / H100_BYTES_PER_SECOND, op.flops() / H100_FP32_FLOPS_PER_SECOND);
            System.out.printf("%-46s %12.3f %14d %14.0f %20.2f%n", op.what(), cpuSeconds * 1e3, bytes, op.flops(), modelSeconds * 1e6);
        }
    }
}
