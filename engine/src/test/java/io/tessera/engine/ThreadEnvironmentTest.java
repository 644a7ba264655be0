package io.tessera.engine;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tessera.ffi.CStrings;
import io.tessera.ffi.Libc;
import io.tessera.ffi.TesseraCpu;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The thread settings reach libgomp before it loads, whatever a program calls first: an engine op, or a binding
 * directly (as the JMH kernel benchmarks and {@code tessera doctor} do, before any engine class is initialised).
 * Each case runs in a fresh JVM, since this one loaded the libraries long ago. With OMP_DISPLAY_ENV=VERBOSE,
 * libgomp prints at load the spin count its wait policy gave it: 0 when passive, 300000 when unset (it spins).
 */
class ThreadEnvironmentTest {
    @TempDir
    Path dir;

    @ParameterizedTest(name = "first call: {0}, OMP_WAIT_POLICY in the environment: ''{1}''")
    @CsvSource({
        "engine-op, '', PASSIVE, 0",
        "binding, '', PASSIVE, 0",
        // a value the user set wins
        "binding, ACTIVE, ACTIVE, 30000000000",
    })
    void libgompStartsWithTheWaitPolicyWhicheverCodeLoadsItFirst(String firstCall, String userPolicy, String policy,
                                                                 String spinCount) throws IOException, InterruptedException {
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        Path log = dir.resolve("child.log");
        ProcessBuilder builder = new ProcessBuilder(java, "--enable-native-access=ALL-UNNAMED", "-cp",
                System.getProperty("java.class.path"), FirstNativeCall.class.getName(), firstCall)
                .redirectErrorStream(true).redirectOutput(log.toFile());
        Map<String, String> env = builder.environment();
        env.remove("OMP_WAIT_POLICY");
        env.remove("OPENBLAS_THREAD_TIMEOUT");
        if (!userPolicy.isEmpty()) {
            env.put("OMP_WAIT_POLICY", userPolicy);
        }
        env.put("OMP_DISPLAY_ENV", "VERBOSE");
        Process child = builder.start();
        boolean exited = child.waitFor(60, TimeUnit.SECONDS);
        if (!exited) {
            child.destroyForcibly();
        }
        String output = Files.readString(log);
        assertTrue(exited, "the child JVM did not exit in 60 s:\n" + output);
        assertEquals(0, child.exitValue(), output);

        assertTrue(output.contains("GOMP_SPINCOUNT = '" + spinCount + "'"), "libgomp's settings at load:\n" + output);
        assertTrue(output.contains("environment: OMP_WAIT_POLICY=" + policy + " OPENBLAS_THREAD_TIMEOUT=20"), output);
    }

    /** The child: one first call into native code, then the environment as libc sees it. */
    static final class FirstNativeCall {
        public static void main(String[] args) {
            switch (args[0]) {
                case "engine-op" -> {
                    try (TensorScope scope = TensorScope.open()) {
                        Tensor.ones(4, 4).matmul(Tensor.ones(4, 4)).sum().item();
                    }
                }
                case "binding" -> TesseraCpu.ts_omp_max_threads();
                default -> throw new IllegalArgumentException("unknown first call " + args[0]);
            }
            System.out.println("environment: OMP_WAIT_POLICY=" + getenv("OMP_WAIT_POLICY") + " OPENBLAS_THREAD_TIMEOUT="
                    + getenv("OPENBLAS_THREAD_TIMEOUT"));
        }

        /** libc's getenv: System.getenv is the JVM's start-up snapshot. */
        private static String getenv(String name) {
            try (Arena arena = Arena.ofConfined()) {
                return CStrings.read(Libc.getenv(arena.allocateFrom(name)));
            }
        }
    }
}
