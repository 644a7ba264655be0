package io.tessera.engine.cuda;

import io.tessera.engine.Backend;
import io.tessera.engine.BackendProvider;
import io.tessera.engine.Device;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentMap;

/** The CUDA backend as a {@link BackendProvider}; one {@link CudaBackend} per device, made on first use. */
public final class CudaBackendProvider implements BackendProvider {
    private static final ConcurrentMap<Integer, CudaBackend> BACKENDS = new ConcurrentHashMap<>();

    @Override
    public Device.Kind kind() {
        return Device.Kind.CUDA;
    }

    @Override
    public Optional<String> unavailableReason() {
        return CudaProbe.result().unavailableReason();
    }

    @Override
    public Backend backend(int index) {
        return get(index);
    }

    /** The backend of cuda:index; throws IllegalStateException with the reason when CUDA is unavailable. */
    public static CudaBackend get(int index) {
        CudaProbe probe = CudaProbe.result();
        probe.unavailableReason().ifPresent(reason -> {
            throw new IllegalStateException("no backend for cuda:" + index + ": " + reason);
        });
        if (index >= probe.deviceCount()) {
            throw new IllegalArgumentException("no device cuda:" + index + ": the CUDA driver finds " + probe.deviceCount());
        }
        return BACKENDS.computeIfAbsent(index, i -> new CudaBackend(CudaContext.open(i)));
    }
}
