package io.tessera.ffi;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;
import java.util.List;

/**
 * Bindings to libtessera_cpu.so, Tessera's own C kernels (kernels/cpu). Symbols are listed in
 * ffi/jextract/tessera_cpu.args. The kernels trust their arguments: callers validate shapes, bounds
 * and alignment first. Kernels return a status code, {@link #TS_OK} on success.
 */
public final class TesseraCpu {
    private TesseraCpu() {}

    public static final int TS_OK = 0;
    public static final int ISA_BASE = 0;
    public static final int ISA_AVX2 = 1;
    public static final int ISA_AVX512 = 2;

    static final String RESOURCE_DIR = "native/linux-x86_64";

    public static final NativeLibrary LIBRARY = NativeLibrary.of("libtessera_cpu.so",
            List.of(new NativeLibrary.Location.Bundled(RESOURCE_DIR, "libtessera_cpu.so", List.of(), bundledVersion()),
                    new NativeLibrary.Location.SystemName("libtessera_cpu.so")),
            OpenMpEnvironment::configure);

    private static String bundledVersion() {
        String sha = NativeLibrary.bundledChecksums(RESOURCE_DIR).get("libtessera_cpu.so");
        return sha == null ? "unversioned" : sha.substring(0, 16);
    }

    public static SymbolLookup lookup() {
        return LIBRARY.lookup();
    }

    private static final class ts_abi_version {
        static final MethodHandle HANDLE = LIBRARY.downcall("ts_abi_version", FunctionDescriptor.of(JAVA_INT));
    }

    /** int ts_abi_version(void) */
    public static int ts_abi_version() {
        try {
            return (int) ts_abi_version.HANDLE.invokeExact();
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    private static final class ts_noop {
        static final FunctionDescriptor DESC = FunctionDescriptor.ofVoid();
        static final MethodHandle HANDLE = LIBRARY.downcall("ts_noop", DESC);
        static final MethodHandle HANDLE_CRITICAL = LIBRARY.downcall("ts_noop", DESC, Linker.Option.critical(false));
    }

    /** void ts_noop(void): an empty call, to measure the cost of a downcall. */
    public static void ts_noop() {
        try {
            ts_noop.HANDLE.invokeExact();
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    /** {@link #ts_noop()} linked with {@code Linker.Option.critical}: no thread-state transition. */
    public static void ts_noop_critical() {
        try {
            ts_noop.HANDLE_CRITICAL.invokeExact();
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    private static final class ts_isa_supported {
        static final MethodHandle HANDLE = LIBRARY.downcall("ts_isa_supported", FunctionDescriptor.of(JAVA_INT, JAVA_INT));
    }

    /** int ts_isa_supported(int tier): 1 if this CPU can run the tier's kernels. */
    public static int ts_isa_supported(int tier) {
        try {
            return (int) ts_isa_supported.HANDLE.invokeExact(tier);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    private static final class ts_isa_select {
        static final MethodHandle HANDLE = LIBRARY.downcall("ts_isa_select", FunctionDescriptor.of(JAVA_INT, JAVA_INT));
    }

    /** int ts_isa_select(int tier): switch every kernel to a tier (tests only; not while kernels run). */
    public static int ts_isa_select(int tier) {
        try {
            return (int) ts_isa_select.HANDLE.invokeExact(tier);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    private static final class ts_isa_active {
        static final MethodHandle HANDLE = LIBRARY.downcall("ts_isa_active", FunctionDescriptor.of(JAVA_INT));
    }

    /** int ts_isa_active(void): the tier chosen at load (CPUID) or by {@link #ts_isa_select}. */
    public static int ts_isa_active() {
        try {
            return (int) ts_isa_active.HANDLE.invokeExact();
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    private static final class ts_omp_max_threads {
        static final MethodHandle HANDLE = LIBRARY.downcall("ts_omp_max_threads", FunctionDescriptor.of(JAVA_INT));
    }

    /** int ts_omp_max_threads(void) */
    public static int ts_omp_max_threads() {
        try {
            return (int) ts_omp_max_threads.HANDLE.invokeExact();
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    private static final class ts_omp_set_threads {
        static final MethodHandle HANDLE = LIBRARY.downcall("ts_omp_set_threads", FunctionDescriptor.ofVoid(JAVA_INT));
    }

    /** void ts_omp_set_threads(int n) */
    public static void ts_omp_set_threads(int n) {
        try {
            ts_omp_set_threads.HANDLE.invokeExact(n);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    private static final class ts_axpy_f32 {
        static final MethodHandle HANDLE = LIBRARY.downcall("ts_axpy_f32",
                FunctionDescriptor.of(JAVA_INT, JAVA_LONG, JAVA_FLOAT, ADDRESS, ADDRESS));
    }

    /** int ts_axpy_f32(int64_t n, float a, const float *x, float *y): y += a*x. */
    public static int ts_axpy_f32(long n, float a, MemorySegment x, MemorySegment y) {
        try {
            return (int) ts_axpy_f32.HANDLE.invokeExact(n, a, x, y);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    private static final class ts_sum_f32 {
        static final MethodHandle HANDLE = LIBRARY.downcall("ts_sum_f32",
                FunctionDescriptor.of(JAVA_INT, JAVA_LONG, ADDRESS, ADDRESS));
    }

    /** int ts_sum_f32(int64_t n, const float *x, double *out): *out = sum of x, accumulated in double. */
    public static int ts_sum_f32(long n, MemorySegment x, MemorySegment out) {
        try {
            return (int) ts_sum_f32.HANDLE.invokeExact(n, x, out);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }
}
