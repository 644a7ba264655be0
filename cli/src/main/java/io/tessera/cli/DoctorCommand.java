package io.tessera.cli;

import static java.lang.foreign.ValueLayout.JAVA_INT;

import io.tessera.engine.CpuBackend;
import io.tessera.ffi.CStrings;
import io.tessera.ffi.Cblas;
import io.tessera.ffi.Cublas;
import io.tessera.ffi.CublasLt;
import io.tessera.ffi.CudaDriver;
import io.tessera.ffi.Lapacke;
import io.tessera.ffi.NativeLibrary;
import io.tessera.ffi.TesseraCpu;
import java.io.IOException;
import java.io.InputStream;
import java.io.PrintWriter;
import java.io.UncheckedIOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Spec;

/** Reports what this machine offers Tessera: JDK, CPU kernels, OpenBLAS, CUDA. Never fails on a missing library. */
@Command(name = "doctor", description = "Show the JDK, CPU ISA, OpenMP threads, OpenBLAS, CUDA driver and kernels found here.")
final class DoctorCommand implements Callable<Integer> {
    private static final String FATBIN = "native/linux-x86_64/tessera_kernels.fatbin";

    @Spec
    CommandSpec spec;

    @Override
    public Integer call() {
        PrintWriter out = spec.commandLine().getOut();
        out.printf("JDK            %s (%s), %s%n", Runtime.version(), System.getProperty("java.vendor"), System.getProperty("java.home"));
        out.printf("CPU            %d cores available to the JVM%n", Runtime.getRuntime().availableProcessors());
        reportCpuKernels(out);
        reportOpenBlas(out);
        reportCuda(out);
        out.flush();
        return 0;
    }

    private static void reportCpuKernels(PrintWriter out) {
        NativeLibrary library = TesseraCpu.LIBRARY;
        if (!library.isAvailable()) {
            out.printf("CPU kernels    NOT FOUND: %s%n", library.unavailableReason().orElseThrow());
            return;
        }
        out.printf("CPU kernels    %s%n", library.origin().orElseThrow());
        out.printf("  ISA tier     %s (chosen at load from CPUID)%n", isaName(TesseraCpu.ts_isa_active()));
        out.printf("  AMX int8     %s%n", CpuBackend.amx().int8() ? "on: int8 products of more than 8 rows run on AMX tiles"
                : "off (no AMX-INT8, not granted by Linux, or TESSERA_NO_AMX set): AVX-512 VNNI / AVX2 tiles");
        out.printf("  AMX bf16     %s%n", CpuBackend.amx().bf16() ? "on: BF16-weight products of more than 8 rows run on AMX tiles"
                : "off (no AMX-BF16, not granted by Linux, or TESSERA_NO_AMX set): AVX-512 panels (the weight widened as it is packed),"
                + " else the weight to F32 in cache-sized blocks, then OpenBLAS");
        out.printf("  BF16 dot     %s%n", bf16Dot()
                ? "on: BF16 products with rounded activations (Bf16Products.ROUNDED_INPUTS) of more than 16 rows run on vdpbf16ps"
                : "off (no AVX-512 BF16 on this CPU or tier): rounded BF16 products run on F32 FMAs");
        out.printf("  OpenMP       %d threads, wait policy %s%n", TesseraCpu.ts_omp_max_threads(),
                "passive unless OMP_WAIT_POLICY was set");
        out.printf("  OpenBLAS     workers spin 2^20 cycles after a GEMM unless OPENBLAS_THREAD_TIMEOUT was set%n");
    }

    private static boolean bf16Dot() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment on = arena.allocate(JAVA_INT);
            if (TesseraCpu.ts_bf16_dot_enabled(on) != TesseraCpu.TS_OK) {
                throw new IllegalStateException("ts_bf16_dot_enabled failed");
            }
            return on.get(JAVA_INT, 0) != 0;
        }
    }

    private static String isaName(int tier) {
        return switch (tier) {
            case TesseraCpu.ISA_AVX512 -> "AVX-512 (x86-64-v4)";
            case TesseraCpu.ISA_AVX2 -> "AVX2 (x86-64-v3)";
            default -> "baseline x86-64";
        };
    }

    private static void reportOpenBlas(PrintWriter out) {
        NativeLibrary library = Cblas.LIBRARY;
        if (!library.isAvailable()) {
            out.printf("OpenBLAS       NOT FOUND: %s%n", library.unavailableReason().orElseThrow());
            return;
        }
        out.printf("OpenBLAS       %s%n", library.origin().orElseThrow());
        out.printf("  build        %s%n", CStrings.read(Cblas.openblas_get_config()).trim());
        out.printf("  core         %s, %d threads%n", CStrings.read(Cblas.openblas_get_corename()), Cblas.openblas_get_num_threads());
        String forced = System.getenv("OPENBLAS_CORETYPE");
        if (forced != null && !forced.isBlank()) {
            boolean narrower = TesseraCpu.ts_isa_active() == TesseraCpu.ISA_AVX512 && !CpuBackend.openBlasRunsAvx512();
            out.printf("  forced       by OPENBLAS_CORETYPE=%s in the environment%s%n", forced, narrower
                    ? ": AVX2 kernels on an AVX-512 CPU, about half its sgemm rate (scripts/bench checks the unforced ones and"
                    + " drops the variable for its runs when they compute right)" : "");
        }
        NativeLibrary lapacke = Lapacke.LIBRARY;
        String found = lapacke.isAvailable() ? lapacke.origin().orElseThrow() : "NOT FOUND: " + lapacke.unavailableReason().orElseThrow();
        out.printf("LAPACKE        %s%n", found);
    }

    private static void reportCuda(PrintWriter out) {
        NativeLibrary driver = CudaDriver.LIBRARY;
        if (!driver.isAvailable()) {
            out.printf("CUDA driver    not found, so the CUDA backend is off. %s%n", driver.unavailableReason().orElseThrow());
        } else {
            out.printf("CUDA driver    %s%n", driver.origin().orElseThrow());
            try (Arena arena = Arena.ofConfined()) {
                int rc = CudaDriver.cuInit(0);
                if (rc == CudaDriver.CUDA_ERROR_STUB_LIBRARY) {
                    out.printf("  cuInit       %s: this libcuda is the CUDA toolkit's stub; no NVIDIA driver is installed%n",
                            CudaDriver.errorName(rc));
                } else if (rc != CudaDriver.CUDA_SUCCESS) {
                    out.printf("  cuInit       failed: %s (no usable GPU)%n", CudaDriver.errorName(rc));
                } else {
                    MemorySegment count = arena.allocate(JAVA_INT);
                    CudaDriver.check(CudaDriver.cuDeviceGetCount(count), "cuDeviceGetCount");
                    MemorySegment version = arena.allocate(JAVA_INT);
                    CudaDriver.check(CudaDriver.cuDriverGetVersion(version), "cuDriverGetVersion");
                    out.printf("  devices      %d (driver API %d)%n", count.get(JAVA_INT, 0), version.get(JAVA_INT, 0));
                }
            }
        }
        NativeLibrary cublas = Cublas.LIBRARY;
        out.printf("cuBLAS         %s%n", cublas.isAvailable() ? cublas.origin().orElseThrow()
                : "not found. " + cublas.unavailableReason().orElseThrow());
        NativeLibrary cublasLt = CublasLt.LIBRARY;
        out.printf("cuBLASLt       %s%n", cublasLt.isAvailable() ? cublasLt.origin().orElseThrow()
                : "not found: int8 GEMM falls back to Tessera's kernel, BF16 / F16 matmul to F32 cuBLAS. "
                        + cublasLt.unavailableReason().orElseThrow());
        out.printf("CUDA kernels   %s%n", fatbinStatus());
    }

    private static String fatbinStatus() {
        try (InputStream in = DoctorCommand.class.getClassLoader().getResourceAsStream(FATBIN)) {
            if (in == null) {
                return "no fatbin in the kernels jar (built on a machine without nvcc)";
            }
            return FATBIN + " present, " + in.readAllBytes().length + " bytes (sm_80, sm_90, compute_90 PTX)";
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + FATBIN, e);
        }
    }
}
