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
    private BenchDevice() {}

    static Backend backend(String name) {
        Device device = Backends.parse(name);
        Backends.unavailableReason(device.kind()).ifPresent(reason -> {
            throw new IllegalStateException("cannot benchmark on " + name + ": " + reason);
        });
        return Backends.of(device);
    }
}
