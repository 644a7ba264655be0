package io.tessera.ffi;

import static java.lang.foreign.ValueLayout.JAVA_INT;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.invoke.MethodHandle;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class NativeLibraryTest {
    @TempDir
    Path cache;

    private String previousCacheDir;

    @BeforeEach
    void useTemporaryCache() {
        previousCacheDir = System.getProperty("tessera.cache.dir");
        System.setProperty("tessera.cache.dir", cache.toString());
    }

    @AfterEach
    void restoreCache() {
        if (previousCacheDir == null) {
            System.clearProperty("tessera.cache.dir");
        } else {
            System.setProperty("tessera.cache.dir", previousCacheDir);
        }
    }

    private static NativeLibrary bundledCpuLibrary(String version) {
        return NativeLibrary.of("libtessera_cpu.so", List.of(
                new NativeLibrary.Location.Bundled(TesseraCpu.RESOURCE_DIR, "libtessera_cpu.so", List.of(), version)));
    }

    private static int abiVersion(NativeLibrary library) throws Throwable {
        MethodHandle handle = library.downcall("ts_abi_version", FunctionDescriptor.of(JAVA_INT));
        return (int) handle.invokeExact();
    }

    @Test
    void extractsOnceIntoAVersionedFolderWithChecksums() throws Throwable {
        NativeLibrary library = bundledCpuLibrary("test1");
        assertEquals(1, abiVersion(library));
        Path folder = cache.resolve("libtessera_cpu-test1");
        assertEquals(folder.resolve("libtessera_cpu.so").toString(), library.origin().orElseThrow());
        String sums = Files.readString(folder.resolve("SHA256SUMS"));
        String expected = NativeLibrary.bundledChecksums(TesseraCpu.RESOURCE_DIR).get("libtessera_cpu.so");
        assertTrue(sums.startsWith(expected + "  libtessera_cpu.so"), sums);
        try (var listing = Files.list(cache)) {
            assertEquals(List.of(folder), listing.toList(), "no staging folders left behind");
        }
    }

    @Test
    void replacesADamagedCachedCopy() throws Throwable {
        bundledCpuLibrary("test2").lookup();
        Path file = cache.resolve("libtessera_cpu-test2").resolve("libtessera_cpu.so");
        byte[] good = Files.readAllBytes(file);
        Files.write(file, new byte[] {1, 2, 3}, StandardOpenOption.APPEND);
        NativeLibrary again = bundledCpuLibrary("test2");
        assertEquals(1, abiVersion(again));
        assertTrue(java.util.Arrays.equals(good, Files.readAllBytes(file)), "damaged copy was re-extracted");
    }

    @Test
    void missingLibraryFailsOnUseWithEveryPlaceTried() {
        NativeLibrary library = NativeLibrary.of("libnothere.so", List.of(
                new NativeLibrary.Location.Bundled("native/none", "libnothere.so", List.of(), "v1"),
                new NativeLibrary.Location.SystemName("libnothere.so.7"),
                new NativeLibrary.Location.SystemFile(Path.of("/nonexistent/libnothere.so"))));
        // creating a handle never throws; calling it does, every time, with the same clean message
        MethodHandle handle = library.downcall("anything", FunctionDescriptor.of(JAVA_INT));
        assertFalse(library.isAvailable());
        NativeLibraryUnavailableException previous = null;
        for (int attempt = 0; attempt < 2; attempt++) {
            var e = assertThrows(NativeLibraryUnavailableException.class, () -> {
                int ignored = (int) handle.invokeExact();
            });
            assertEquals(3, e.attempts().size(), e.getMessage());
            assertTrue(e.getMessage().startsWith("libnothere.so is not available"), e.getMessage());
            assertTrue(e.attempts().get(0).contains("native/none/libnothere.so: not on the classpath"), e.getMessage());
            assertTrue(e.attempts().get(1).contains("libnothere.so.7"), e.getMessage());
            assertTrue(e.attempts().get(2).contains("/nonexistent/libnothere.so: no such file"), e.getMessage());
            assertTrue(e != previous, "each failed call gets its own exception and stack trace");
            previous = e;
        }
    }

    @Test
    void missingSymbolFailsOnUseNamingTheSymbol() throws IOException {
        NativeLibrary library = bundledCpuLibrary("test3");
        MethodHandle handle = library.downcall("ts_no_such_kernel", FunctionDescriptor.ofVoid());
        var e = assertThrows(NativeLibraryUnavailableException.class, () -> {
            handle.invokeExact();
        });
        assertTrue(e.getMessage().contains("symbol ts_no_such_kernel is not exported by libtessera_cpu.so"), e.getMessage());
    }

    @Test
    void aConfiguredPathReplacesTheSearchOnlyWhenSet() {
        String property = "tessera.test.configured.library";
        List<NativeLibrary.Location> locations = List.of(
                new NativeLibrary.Location.Configured(property), new NativeLibrary.Location.SystemName("libc.so.6"));
        try {
            System.setProperty(property, "/nonexistent/libconfigured.so");
            var e = assertThrows(NativeLibraryUnavailableException.class, () -> NativeLibrary.of("configured", locations).lookup());
            assertEquals(List.of("-D" + property + "=/nonexistent/libconfigured.so: no such file"), e.attempts(),
                    "a set property is the only place tried, even though libc.so.6 would load");
        } finally {
            System.clearProperty(property);
        }
        NativeLibrary unset = NativeLibrary.of("configured", locations);
        assertTrue(unset.isAvailable(), unset.unavailableReason().orElse(""));
        assertEquals("libc.so.6 (system library path)", unset.origin().orElseThrow());
    }

    @Test
    void registeredHooksRunOnceBeforeTheFirstLibraryLoads() throws Throwable {
        assertEquals(1, abiVersion(bundledCpuLibrary("hooks")));
        assertTrue(NativeLibrary.of("libc", List.of(new NativeLibrary.Location.SystemName("libc.so.6"))).isAvailable());
        assertEquals(1, RecordingLoadHook.RUNS.get(), "runs once per process, not once per library");
        assertEquals(List.of(), RecordingLoadHook.mappedWhenRun, "libraries mapped when the hook ran");
        assertFalse(RecordingLoadHook.nativeLibrariesMapped().isEmpty(), "the maps show loaded libraries, so the check above can fail");
        try (Arena arena = Arena.ofConfined()) {
            // the hook's own binding call (libc, loaded while the hooks run) went through
            assertEquals("ran", CStrings.read(Libc.getenv(arena.allocateFrom(RecordingLoadHook.VARIABLE))));
        }
    }
}
