package io.tessera.ffi;

/**
 * Code that must run before the first native library is loaded, found with {@link java.util.ServiceLoader}: a
 * module lists its implementations in {@code META-INF/services/io.tessera.ffi.NativeLoadHook}. The bindings hold
 * no policy; a layer above that must configure the libraries before they read their environment at load time
 * (the engine's thread settings) registers a hook, and it runs whichever binding a program calls first.
 */
public interface NativeLoadHook {
    /**
     * Runs once per process, before {@link NativeLibrary} loads its first library. It may call bindings itself
     * (e.g. {@code Libc.setenv}): libraries it loads that way are loaded without running the hooks again.
     */
    void beforeFirstLoad();
}
