package io.tessera.engine;

import java.util.EnumMap;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.ServiceLoader;

/**
 * The backends of this machine, found once through {@link ServiceLoader} ({@link BackendProvider}), and
 * the default device, chosen with {@code -Dtessera.device=cpu|cuda|cuda:N} (cpu when unset).
 */
public final class Backends {
    public static final String DEVICE_PROPERTY = "tessera.device";

    private Backends() {}

    private static final class Providers {
        static final Map<Device.Kind, BackendProvider> BY_KIND = load();

        private static Map<Device.Kind, BackendProvider> load() {
            Map<Device.Kind, BackendProvider> providers = new EnumMap<>(Device.Kind.class);
            for (BackendProvider provider : ServiceLoader.load(BackendProvider.class, Backends.class.getClassLoader())) {
                providers.putIfAbsent(provider.kind(), provider);
            }
            providers.putIfAbsent(Device.Kind.CPU, new CpuBackendProvider());
            return providers;
        }
    }

    /** The backend of {@code device}; throws IllegalStateException saying why when this machine has none. */
    public static Backend of(Device device) {
        if (device.kind() == Device.Kind.CPU && device.index() == 0) {
            return CpuBackend.INSTANCE; // the hot path: no lookup
        }
        BackendProvider provider = Providers.BY_KIND.get(device.kind());
        if (provider == null) {
            throw new IllegalStateException("no backend for " + device + ": no BackendProvider for " + device.kind()
                    + " is on the class path");
        }
        return provider.backend(device.index());
    }

    /** Empty when this machine can run {@code kind}, else the reason it cannot. */
    public static Optional<String> unavailableReason(Device.Kind kind) {
        BackendProvider provider = Providers.BY_KIND.get(kind);
        return provider == null ? Optional.of("no BackendProvider for " + kind + " is on the class path") : provider.unavailableReason();
    }

    /** The device -Dtessera.device names (cpu, cuda = cuda:0, cuda:N); cpu when the property is unset. */
    public static Device defaultDevice() {
        String value = System.getProperty(DEVICE_PROPERTY);
        return value == null || value.isBlank() ? Device.CPU : parse(value);
    }

    /** Parses "cpu", "cuda" or "cuda:N". */
    public static Device parse(String name) {
        String text = name.trim().toLowerCase(Locale.ROOT);
        if (text.equals("cpu") || text.equals("cpu:0")) {
            return Device.CPU;
        }
        if (text.equals("cuda")) {
            return Device.cuda(0);
        }
        if (text.startsWith("cuda:")) {
            try {
                return Device.cuda(Integer.parseInt(text.substring(5)));
            } catch (IllegalArgumentException e) {
                // falls through to the error below
            }
        }
        throw new IllegalArgumentException("unknown device '" + name + "' (expected cpu, cuda or cuda:N)");
    }
}
