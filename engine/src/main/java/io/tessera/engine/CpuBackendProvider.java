package io.tessera.engine;

import java.util.Optional;

/** The CPU backend as a {@link BackendProvider}: always available, one device. */
public final class CpuBackendProvider implements BackendProvider {
    @Override
    public Device.Kind kind() {
        return Device.Kind.CPU;
    }

    @Override
    public Optional<String> unavailableReason() {
        return Optional.empty();
    }

    @Override
    public Backend backend(int index) {
        if (index != 0) {
            throw new IllegalArgumentException("there is one CPU device, cpu:0; got index " + index);
        }
        return CpuBackend.INSTANCE;
    }
}
