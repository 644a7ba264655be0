package io.tessera.engine.cuda;

import static java.lang.foreign.ValueLayout.JAVA_INT;

import io.tessera.ffi.CudaDriver;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Optional;

/** Whether this machine can run the CUDA backend, found once: driver, devices, kernels. Never throws. */
record CudaProbe(int deviceCount, Optional<String> unavailableReason) {

    static final String KERNELS_RESOURCE = "native/linux-x86_64/tessera_kernels.fatbin";

    private static final class Once {
        static final CudaProbe RESULT = run();
    }

    static CudaProbe result() {
        return Once.RESULT;
    }

    private static CudaProbe run() {
        try {
            if (!CudaDriver.LIBRARY.isAvailable()) {
                return unavailable("no CUDA driver: " + CudaDriver.LIBRARY.unavailableReason().orElse(""));
            }
            int status = CudaDriver.cuInit(0);
            if (status == CudaDriver.CUDA_ERROR_STUB_LIBRARY) {
                return unavailable(CudaDriver.LIBRARY.origin().orElse("libcuda.so.1")
                        + " is the CUDA toolkit's stub library: no NVIDIA driver is installed");
            }
            if (status == CudaDriver.CUDA_ERROR_NO_DEVICE) {
                return unavailable("the CUDA driver finds no device");
            }
            if (status != CudaDriver.CUDA_SUCCESS) {
                return unavailable("cuInit failed: " + CudaDriver.errorName(status));
            }
            int count;
            try (Arena arena = Arena.ofConfined()) {
                MemorySegment out = arena.allocate(JAVA_INT);
                CudaDriver.check(CudaDriver.cuDeviceGetCount(out), "cuDeviceGetCount");
                count = out.get(JAVA_INT, 0);
            }
            if (count == 0) {
                return unavailable("the CUDA driver finds no device");
            }
            if (CudaProbe.class.getClassLoader().getResource(KERNELS_RESOURCE) == null) {
                return unavailable("no CUDA kernels: " + KERNELS_RESOURCE + " is not on the class path (tessera-kernels was built"
                        + " without nvcc)");
            }
            return new CudaProbe(count, Optional.empty());
        } catch (RuntimeException e) {
            return unavailable("probing CUDA failed: " + e.getMessage());
        }
    }

    private static CudaProbe unavailable(String reason) {
        return new CudaProbe(0, Optional.of(reason));
    }
}
