package io.tessera.engine;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.fail;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.tessera.engine.cuda.CudaBackend;
import io.tessera.ffi.Cblas;
import java.util.List;
import java.util.Optional;

/**
 * The devices the Backend conformance suites run on: the CPU, and CUDA device 0 (the emulated driver in
 * CI, selected by surefire's -Dtessera.cuda.driver; a real GPU when there is one). Without a CUDA driver
 * or kernels the CUDA runs are skipped with the reason, unless -Dtessera.device=cuda asked for them,
 * in which case they fail.
 *
 * <p>Tolerances (|got - expected| <= tol * (1 + |expected|), against float64 references):
 * F32 ops that are one correctly rounded IEEE operation (copy, add, sub, mul, div, sqrt, neg, abs,
 * max/min, compare, where, fill, mask, gather, argmax) are EXACT: equal to the reference rounded to float;
 * F32 transcendental and composite ops {@link #TRANSCENDENTAL}; float64-accumulated reductions
 * {@link #ACCUMULATED}; GEMM {@link #GEMM}; float32 Cholesky solves of well-conditioned matrices (condition
 * number below 3, n <= 64) {@link #SOLVE}; BF16 {@link #BF16} and F16 {@link #F16} (half an ulp of the
 * format, relative); integer and bool conversions exact; Philox draws bit-identical to the CPU backend.
 */
record ConformanceTargets(String name, Device device) {
    static final double EXACT = 0;
    static final double TRANSCENDENTAL = 1e-5;
    static final double ACCUMULATED = 1e-6;
    static final double GEMM = 2e-5;
    static final double SOLVE = 1e-4;
    static final double BF16 = 0x1p-8;
    static final double F16 = 0x1p-11;

    static List<ConformanceTargets> all() {
        return List.of(new ConformanceTargets("cpu", Device.CPU), cuda());
    }

    /** CUDA device 0 alone, for tests of what only a second device can show. */
    static ConformanceTargets cuda() {
        return new ConformanceTargets("cuda", Device.cuda(0));
    }

    @Override
    public String toString() {
        return name;
    }

    boolean isCuda() {
        return device.kind() == Device.Kind.CUDA;
    }

    /** The backend, or a skipped (or, if CUDA was asked for, failed) test saying why there is none. */
    Backend backend() {
        if (isCuda()) {
            Optional<String> reason = Backends.unavailableReason(Device.Kind.CUDA);
            if (reason.isPresent()) {
                if (Backends.defaultDevice().kind() == Device.Kind.CUDA) {
                    fail("-Dtessera.device=cuda, but CUDA is unavailable: " + reason.get());
                }
                assumeTrue(false, "CUDA backend unavailable: " + reason.get());
            }
            Cblas.LIBRARY.lookup(); // the emulated cuBLAS forwards to the OpenBLAS this JVM loaded
        }
        return Backends.of(device);
    }

    /** Device bytes held by open storages (0 for the CPU, whose HostStorage.liveBytes the CPU tests check). */
    long liveDeviceBytes() {
        return isCuda() ? ((CudaBackend) backend()).liveBytes() : 0;
    }

    /** The reference's values rounded to float, on this device. */
    Tensor on(Ref values) {
        return values.tensor().to(device);
    }

    /**
     * The reference's values (1-d) as a view {@code offset} elements into a device buffer: with an offset that is not
     * a multiple of 4, off the 16-byte boundary that the CUDA kernels' vector accesses need.
     */
    Tensor on(Ref values, int offset) {
        double[] padded = new double[offset + values.size()];
        System.arraycopy(values.data(), 0, padded, offset, values.size());
        return on(new Ref(new long[] {padded.length}, padded)).slice(0, offset, padded.length);
    }

    Tensor on(Tensor hostTensor) {
        return hostTensor.to(device);
    }

    Tensor empty(DType dtype, long... shape) {
        return Tensor.empty(device, dtype, shape);
    }

    /** Runs body in a TensorScope and checks it left no device memory behind. */
    void run(Runnable body) {
        backend();
        long before = liveDeviceBytes();
        try (TensorScope scope = TensorScope.open()) {
            body.run();
        }
        assertEquals(before, liveDeviceBytes(), "device bytes leaked on " + name);
    }
}
