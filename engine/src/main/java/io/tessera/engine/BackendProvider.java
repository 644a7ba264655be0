package io.tessera.engine;

import java.util.Optional;

/**
 * A kind of device the engine can run on, found through {@link java.util.ServiceLoader} (see
 * {@link Backends}). Probing never throws: a machine without the device's driver or kernels gets a
 * provider that says why it is unavailable.
 */
public interface BackendProvider {
    Device.Kind kind();

    /** Empty when this machine can run the backend, else the reason it cannot. Probes once. */
    Optional<String> unavailableReason();

    /** The backend of device {@code index}; throws IllegalStateException with the reason when unavailable. */
    Backend backend(int index);
}
