package io.tessera.jmh;

import io.tessera.engine.Backend;
import io.tessera.engine.Backends;
import io.tessera.engine.Device;

/**
 * The device of a benchmark's tensors, from its JMH parameter {@code device} (cpu, cuda or cuda:N; e.g.
 * {@code -p device=cuda}). A device this machine cannot run fails the benchmark at setup with the reason.
 * Benchmarks call {@link Backend#synchronize()} at the end of each invocation, so that the time of work a
 * GPU runs asynchronously is measured (a no-op on the CPU).
 */
final class BenchDevice {
    /** The exit status of {@link #main} when the device cannot run here. */
    private static final int UNAVAILABLE = 3;

    private BenchDevice() {}

    /**
     * For scripts/bench: exits 0 if the device named by the argument can run here, else prints why and exits 3 (so a
     * machine without a CUDA driver gets the emulated driver's cost model instead of CUDA timings).
     */
    public static void main(String[] args) {
        Device device = Backends.parse(args[0]);
        Backends.unavailableReason(device.kind()).ifPresent(reason -> {
            System.out.println(reason);
            System.exit(UNAVAILABLE);
        });
    }

    static Backend backend(String name) {
        Device device = Backends.parse(name);
        Backends.unavailableReason(device.kind()).ifPresent(reason -> {
            throw new IllegalStateException("cannot benchmark on " + name + ": " + reason);
        });
        return Backends.of(device);
    }
}
