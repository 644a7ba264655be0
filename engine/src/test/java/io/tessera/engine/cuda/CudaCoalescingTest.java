package io.tessera.engine.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.tessera.engine.Backends;
import io.tessera.engine.DType;
import io.tessera.engine.Device;
import io.tessera.engine.Ops;
import io.tessera.engine.Tensor;
import io.tessera.engine.TensorScope;
import io.tessera.ffi.Cblas;
import io.tessera.ffi.CudaEmulatorHooks;
import io.tessera.ffi.CudaEmulatorHooks.AccessStats;
import io.tessera.ffi.CudaEmulatorHooks.Side;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.function.Consumer;
import java.util.stream.IntStream;
import java.util.stream.LongStream;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The memory-bound kernels keep at least 90% of each warp's global loads coalesced (no more 32-byte sectors
 * than their bytes need), as the emulated driver's access recorder models a GPU's memory traffic, with the
 * launch geometry the backend derives from the device. The report in docs/cuda-coalescing.md comes from this
 * test run with TESSERA_CUDA_EMU_RECORD=1.
 */
class CudaCoalescingTest {
    private static final double TARGET = 0.9;
    private static final long N = 1 << 16;
    private static final long ROWS = 64;
    private static final long COLS = 1024;
    private static CudaBackend backend;

    @BeforeAll
    static void emulatedCuda() {
        Backends.unavailableReason(Device.Kind.CUDA).ifPresent(reason -> assumeTrue(false, "CUDA backend unavailable: " + reason));
        assumeTrue(CudaEmulatorHooks.present(), "the access recorder needs the emulated driver");
        Cblas.LIBRARY.lookup(); // the emulated cuBLAS forwards to the OpenBLAS this JVM loaded
        backend = CudaBackendProvider.get(0);
    }

    @AfterEach
    void stopRecording() {
        CudaEmulatorHooks.recordAccesses(false);
    }

    /** A memory-bound op, what it is run on, and the kernel it launches. */
    record Case(String kernel, String what, Consumer<CudaBackend> op) {
        @Override
        public String toString() {
            return kernel + " (" + what + ")";
        }
    }

    private static Tensor random(long... shape) {
        return Tensor.randn(Device.cuda(0), 1, 0, shape);
    }

    private static Tensor zeros(long... shape) {
        return Tensor.zeros(Device.cuda(0), shape);
    }

    private static Tensor empty(DType dtype, long... shape) {
        return Tensor.empty(Device.cuda(0), dtype, shape);
    }

    /** Every entry in: a lane outside the mask loads nothing, so only a full mask shows the loads' shape. */
    private static Tensor fullMask() {
        return Tensor.full(Device.cuda(0), 1, DType.U8, N);
    }

    static Stream<Case> memoryBoundOps() {
        String n = "[" + N + "]";
        String matrix = "[" + ROWS + ", " + COLS + "]";
        return Stream.of(
                new Case("ts_unary_f32", "exp " + n, b -> b.unary(Ops.Unary.EXP, 0, random(N), empty(DType.F32, N))),
                new Case("ts_binary_f32", "add " + n, b -> b.binary(Ops.Binary.ADD, random(N), random(N), empty(DType.F32, N))),
                new Case("ts_binary_f32", "mul " + matrix + " by a broadcast row", b -> b.binary(Ops.Binary.MUL, random(ROWS, COLS),
                        random(1, COLS).expand(ROWS, COLS), empty(DType.F32, ROWS, COLS))),
                new Case("ts_compare_f32", "lt " + n, b -> b.compare(Ops.Compare.LT, random(N), random(N), empty(DType.BOOL, N))),
                new Case("ts_where_f32", "where " + n + ", about half true", b -> b.where(random(N).gt(zeros(N)), random(N), zeros(N),
                        empty(DType.F32, N))),
                new Case("ts_adamw_f32", n, b -> b.adamw(random(N), random(N), zeros(N), zeros(N), 1e-3f, 0.9f, 0.999f, 1e-8f, 0.01f,
                        0.1f, 0.001f)),
                new Case("ts_sgd_f32", "momentum " + n, b -> b.sgd(random(N), random(N), zeros(N), 1e-2f, 0.9f, 0f, 0f, false, false)),
                new Case("ts_adamw_masked_f32", "full mask " + n, b -> b.adamwMasked(fullMask(), random(N), random(N), zeros(N),
                        zeros(N), 1e-3f, 0.9f, 0.999f, 1e-8f, 0.01f, 0.1f, 0.001f)),
                new Case("ts_sgd_masked_f32", "full mask " + n, b -> b.sgdMasked(fullMask(), random(N), random(N), zeros(N), 1e-2f,
                        0.9f, 0f, 0f, false, false)),
                new Case("ts_kahan_accumulate_f32", "squares into " + n, b -> b.kahanAccumulate(random(N), true, zeros(N), zeros(N))),
                new Case("ts_quantize_blockwise_q8", n + ", blocks of 64", b -> b.quantizeBlockwise(random(N), 64, empty(DType.I8, N),
                        empty(DType.F32, N / 64))),
                new Case("ts_dequantize_blockwise_q8", n + ", blocks of 64", b -> b.dequantizeBlockwise(random(N).to(DType.I8),
                        random(N / 64), 64, empty(DType.F32, N))),
                new Case("ts_quantize_rows_q8", matrix, b -> b.quantizeRows(random(ROWS, COLS), null, empty(DType.I8, ROWS, COLS),
                        empty(DType.F32, ROWS))),
                new Case("ts_q8_epilogue_f32", "scales and bias after cuBLASLt's int8 GEMM, " + matrix + " out",
                        b -> b.matmulQ8(random(ROWS, 64).to(DType.I8), random(ROWS), random(COLS, 64).to(DType.I8), random(COLS),
                                random(COLS), empty(DType.F32, ROWS, COLS))),
                new Case("ts_q8_outlier_columns", matrix, b -> b.outlierColumns(random(ROWS, COLS), 2f, empty(DType.U8, COLS))),
                new Case("ts_reduce_f32", "sum " + matrix + " over dim 1", b -> b.reduce(Ops.Reduce.SUM, random(ROWS, COLS),
                        new int[] {1}, empty(DType.F32, ROWS))),
                new Case("ts_reduce_adjacent_f32", "sum " + matrix + " over dim 0", b -> b.reduce(Ops.Reduce.SUM, random(ROWS, COLS),
                        new int[] {0}, empty(DType.F32, COLS))),
                new Case("ts_rope_f32", "x [" + ROWS + ", 16 heads, 64] at positions 0.." + (ROWS - 1) + " of [" + ROWS + ", 64] tables",
                        b -> b.rope(random(ROWS, 16, 64), random(ROWS, 64), random(ROWS, 64),
                                Tensor.of(LongStream.range(0, ROWS).toArray(), ROWS).to(Device.cuda(0)), false,
                                empty(DType.F32, ROWS, 16, 64))),
                new Case("ts_causal_attention_f32", "decode: q [2, 8, 1, 64], k and v 512 positions of [2, 8, 1024, 64] caches",
                        b -> b.causalAttention(random(2, 8, 1, 64), random(2, 8, 1024, 64).slice(2, 0, 512),
                                random(2, 8, 1024, 64).slice(2, 0, 512), 0.125f, empty(DType.F32, 2, 1, 8, 64))),
                new Case("ts_causal_attention_f32", "prefill: q, k and v [1, 4, 128, 64]", b -> b.causalAttention(random(1, 4, 128, 64),
                        random(1, 4, 128, 64), random(1, 4, 128, 64), 0.125f, empty(DType.F32, 1, 128, 4, 64))),
                new Case("ts_transpose_f32", "a and b into [1024, 64] for " + SDDMM, CudaCoalescingTest::sampledMatmul),
                new Case("ts_sampled_matmul_f32", SDDMM + ", after the transposes", CudaCoalescingTest::sampledMatmul));
    }

    private static final String SDDMM = "a [64, 1024], b [64, 1024], 0.5% of the entries of a^T b";

    /** A Linear's weight gradient at a 0.5% FISH mask: r = 64 examples, a 1024 x 1024 weight, sorted random entries. */
    private static void sampledMatmul(CudaBackend b) {
        SplittableRandom rng = new SplittableRandom(16);
        int[] entries = IntStream.range(0, 1024 * 1024).filter(i -> rng.nextDouble() < 0.005).toArray();
        Tensor indices = Tensor.of(entries, entries.length).to(Device.cuda(0));
        b.sampledMatmul(random(64, 1024), random(64, 1024), indices, empty(DType.F32, entries.length));
    }

    /** An op on N elements whose operands start {@code offset} elements into their buffers. */
    private static Consumer<CudaBackend> atOffset(String kernel, long offset) {
        return switch (kernel) {
            case "ts_unary_f32" -> b -> b.unary(Ops.Unary.EXP, 0, view(random(N + offset), offset), empty(DType.F32, N));
            case "ts_adamw_f32" -> b -> b.adamw(view(random(N + offset), offset), random(N), zeros(N), zeros(N), 1e-3f, 0.9f, 0.999f,
                    1e-8f, 0.01f, 0.1f, 0.001f);
            case "ts_sgd_masked_f32" -> b -> b.sgdMasked(fullMask(), view(random(N + offset), offset), random(N), zeros(N), 1e-2f, 0.9f,
                    0f, 0f, false, false);
            case "ts_kahan_accumulate_f32" -> b -> b.kahanAccumulate(view(random(N + offset), offset), true, zeros(N), zeros(N));
            case "ts_dequantize_blockwise_q8" -> b -> b.dequantizeBlockwise(view(random(N + offset).to(DType.I8), offset), random(N / 64),
                    64, empty(DType.F32, N));
            default -> throw new IllegalArgumentException(kernel);
        };
    }

    private static Tensor view(Tensor t, long offset) {
        return t.slice(0, offset, offset + N);
    }

    /**
     * Aligned operands take the vector path: one element off the 16-byte boundary, the same kernel (then element by
     * element) issues four times the load requests for the same bytes.
     */
    @ParameterizedTest
    @ValueSource(strings = {"ts_unary_f32", "ts_adamw_f32", "ts_sgd_masked_f32", "ts_kahan_accumulate_f32", "ts_dequantize_blockwise_q8"})
    void alignedOperandsAreLoadedFourElementsALane(String kernel) {
        Side[] loads = new Side[2];
        for (int offset = 0; offset < 2; offset++) {
            try (TensorScope scope = TensorScope.open()) {
                CudaEmulatorHooks.recordAccesses(true);
                atOffset(kernel, offset).accept(backend);
                backend.synchronize();
                loads[offset] = CudaEmulatorHooks.accessStats(kernel).orElseThrow(() -> new AssertionError(kernel + " did not run"))
                        .loads();
            }
        }
        assertTrue(loads[0].requests() > 0, kernel + ": " + loads[0]);
        assertEquals(4 * loads[0].requests(), loads[1].requests(), kernel + ": aligned " + loads[0] + ", at offset 1 " + loads[1]);
    }

    /** The rows of the report, printed after the tests (docs/cuda-coalescing.md keeps a copy). */
    private static final List<String> REPORT = new ArrayList<>();

    @AfterAll
    static void printReport() {
        if (!REPORT.isEmpty()) {
            System.out.println("| kernel (run on) | loads coalesced | stores coalesced | load / store requests | bytes requested"
                    + " | bytes moved |");
            System.out.println("|---|---|---|---|---|---|");
            REPORT.forEach(System.out::println);
        }
    }

    @ParameterizedTest
    @MethodSource("memoryBoundOps")
    void loadsAreCoalesced(Case c) {
        try (TensorScope scope = TensorScope.open()) {
            CudaEmulatorHooks.recordAccesses(true);
            c.op().accept(backend);
            backend.synchronize();
            AccessStats stats = CudaEmulatorHooks.accessStats(c.kernel())
                    .orElseThrow(() -> new AssertionError(c.kernel() + " did not run"));
            String report = c.kernel() + ": " + stats;
            REPORT.add(String.format("| %s | %.1f%% | %.1f%% | %d / %d | %d | %d |", c, 100 * stats.loads().coalescedShare(),
                    100 * stats.stores().coalescedShare(), stats.loads().requests(), stats.stores().requests(),
                    stats.loads().bytesRequested() + stats.stores().bytesRequested(), stats.bytesMoved()));
            assertTrue(stats.loads().requests() > 0, report);
            assertTrue(stats.loads().coalescedShare() >= TARGET, report);
            assertTrue(stats.dropped() == 0, report);
        }
    }
}
