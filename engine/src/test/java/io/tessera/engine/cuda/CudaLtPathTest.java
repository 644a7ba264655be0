package io.tessera.engine.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.tessera.engine.Backends;
import io.tessera.engine.DType;
import io.tessera.engine.Device;
import io.tessera.engine.Tensor;
import io.tessera.engine.TensorScope;
import io.tessera.ffi.Cblas;
import io.tessera.ffi.CublasLt;
import io.tessera.ffi.CudaEmulatorHooks;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Which path the CUDA backend takes, seen through the emulated driver's access recorder (which kernels ran): the int8
 * GEMM goes through cuBLASLt (then the scaling kernel) where n and k are multiples of 4 and the codes start on 16-byte
 * boundaries, and through the one-kernel fallback elsewhere; BF16 / F16 matmul goes through cuBLASLt, with no widening
 * copies. The conformance suites check the values on every path.
 */
class CudaLtPathTest {
    private static final List<String> INT8_KERNELS = List.of("ts_q8_epilogue_f32", "ts_gemm_q8_f32");
    private static CudaBackend backend;

    @BeforeAll
    static void emulatedCudaWithCublasLt() {
        Backends.unavailableReason(Device.Kind.CUDA).ifPresent(reason -> assumeTrue(false, "CUDA backend unavailable: " + reason));
        assumeTrue(CudaEmulatorHooks.present(), "the access recorder needs the emulated driver");
        assumeTrue(CublasLt.LIBRARY.isAvailable(), "no cuBLASLt: " + CublasLt.LIBRARY.unavailableReason().orElse(""));
        Cblas.LIBRARY.lookup(); // the emulated cuBLAS forwards to the OpenBLAS this JVM loaded
        backend = CudaBackendProvider.get(0);
    }

    @AfterEach
    void stopRecording() {
        CudaEmulatorHooks.recordAccesses(false);
    }

    @Test
    void int8GemmUsesCublasLtWhereImmaConditionsHold() {
        assertEquals(List.of("ts_q8_epilogue_f32"), int8KernelsRun(3, 8, 36, 0));
        assertEquals(List.of("ts_q8_epilogue_f32"), int8KernelsRun(1, 4, 4, 0));
        assertEquals(List.of("ts_gemm_q8_f32"), int8KernelsRun(3, 7, 36, 0), "n = 7");
        assertEquals(List.of("ts_gemm_q8_f32"), int8KernelsRun(3, 8, 6, 0), "k = 6");
        assertEquals(List.of("ts_gemm_q8_f32"), int8KernelsRun(3, 8, 36, 1), "codes 36 bytes into their buffer");
    }

    @Test
    void halfPrecisionMatmulRunsNoWideningCopy() {
        for (DType type : new DType[] {DType.BF16, DType.F16}) {
            try (TensorScope _ = TensorScope.open()) {
                Tensor a = Tensor.randn(Device.cuda(0), 1, 0, 5, 12).to(type);
                Tensor b = Tensor.randn(Device.cuda(0), 2, 0, 12, 3).to(type);
                Tensor y = Tensor.empty(Device.cuda(0), type, 5, 3);
                backend.synchronize(); // the emulator runs queued work when something waits: the conversions, not recorded
                CudaEmulatorHooks.recordAccesses(true);
                backend.matmul(a, b, y);
                backend.synchronize();
                assertTrue(CudaEmulatorHooks.accessStats("ts_copy_strided").isEmpty(), type + ": matmul widened its operands");
                backend.copy(y, Tensor.empty(Device.cuda(0), DType.F32, 5, 3)); // the recorder does see a copy
                backend.synchronize();
                assertTrue(CudaEmulatorHooks.accessStats("ts_copy_strided").isPresent(), "the recorder missed a copy");
            }
        }
    }

    /** The int8 GEMM kernels that ran for x [m, k] (rows firstRow.. of a larger buffer) times w [n, k]^T. */
    private static List<String> int8KernelsRun(int m, int n, int k, int firstRow) {
        try (TensorScope _ = TensorScope.open()) {
            Tensor x = Tensor.empty(Device.cuda(0), DType.I8, m + 1, k);
            Tensor w = Tensor.empty(Device.cuda(0), DType.I8, n, k);
            backend.fill(x, 3);
            backend.fill(w, -5);
            Tensor y = Tensor.empty(Device.cuda(0), DType.F32, m, n);
            backend.synchronize();
            CudaEmulatorHooks.recordAccesses(true);
            backend.matmulQ8(x.slice(0, firstRow, firstRow + m), Tensor.full(Device.cuda(0), 0.5, DType.F32, m), w,
                    Tensor.full(Device.cuda(0), 0.25, DType.F32, n), null, y);
            backend.synchronize();
            CudaEmulatorHooks.recordAccesses(false);
            float[] values = y.toFloatArray();
            for (float v : values) {
                assertEquals(3 * -5 * k * 0.5f * 0.25f, v, "y");
            }
            return INT8_KERNELS.stream().filter(kernel -> CudaEmulatorHooks.accessStats(kernel).isPresent()).toList();
        }
    }
}
