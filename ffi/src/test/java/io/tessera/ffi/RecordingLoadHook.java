package io.tessera.ffi;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The hook ffi's tests register (src/test/resources/META-INF/services): records how often it ran and which
 * native libraries the process had mapped at that moment, and sets a variable through a binding of its own.
 */
public final class RecordingLoadHook implements NativeLoadHook {
    static final String VARIABLE = "TESSERA_TEST_LOAD_HOOK";
    static final AtomicInteger RUNS = new AtomicInteger();
    static volatile List<String> mappedWhenRun;

    @Override
    public void beforeFirstLoad() {
        RUNS.incrementAndGet();
        mappedWhenRun = nativeLibrariesMapped();
        try (Arena arena = Arena.ofConfined()) {
            Libc.setenv(arena.allocateFrom(VARIABLE), arena.allocateFrom("ran"), 1);
        }
    }

    /** The lines of /proc/self/maps that map our kernels, OpenBLAS or libgomp. */
    static List<String> nativeLibrariesMapped() {
        try {
            return Files.readAllLines(Path.of("/proc/self/maps")).stream()
                    .filter(line -> line.contains("libtessera_cpu") || line.contains("libopenblas") || line.contains("libgomp"))
                    .toList();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
