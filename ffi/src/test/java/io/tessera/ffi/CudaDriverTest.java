package io.tessera.ffi;

import static io.tessera.ffi.CudaDriver.CUDA_SUCCESS;
import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeFalse;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.MethodType;
import java.lang.reflect.Field;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;

class CudaDriverTest {
    static final Path ARGS = Path.of("jextract/cuda.args");
    static final Path CUDA_H = Path.of("/usr/local/cuda/include/cuda.h");
    private static final String CONFIGURED = "-Dtessera.cuda.driver is set: the surefire execution without it covers this";
    private static final String NO_DRIVER = "a CUDA driver is installed here; this test covers machines without one";

    // ---- without a driver (this project's machines) --------------------------------------------

    @Test
    void cuInitWithoutDriverNamesEveryPlaceTried() {
        assumeTrue(System.getProperty("tessera.cuda.driver") == null, CONFIGURED);
        assumeFalse(CudaDriver.LIBRARY.isAvailable(), NO_DRIVER);
        for (int attempt = 0; attempt < 2; attempt++) { // the second call must not hit a failed class initialiser
            NativeLibraryUnavailableException e = assertThrows(NativeLibraryUnavailableException.class, () -> CudaDriver.cuInit(0));
            String message = e.getMessage();
            assertTrue(message.startsWith("libcuda.so.1 is not available"), message);
            assertTrue(message.contains("system library path, name libcuda.so.1:"), message);
            assertTrue(message.contains("system library path, name libcuda.so:"), message);
            assertTrue(message.contains("/usr/lib/x86_64-linux-gnu/libcuda.so.1"), message);
            assertTrue(message.contains("/usr/local/cuda/compat/libcuda.so.1"), message);
            assertTrue(message.contains("/usr/lib/wsl/lib/libcuda.so.1"), message);
            assertEquals(5, e.attempts().size(), message);
        }
        assertTrue(CudaDriver.LIBRARY.unavailableReason().orElseThrow().contains("libcuda.so.1"));
    }

    @Test
    void everyBindingThrowsUnavailableWithoutDriver() throws IOException {
        assumeTrue(System.getProperty("tessera.cuda.driver") == null, CONFIGURED);
        assumeFalse(CudaDriver.LIBRARY.isAvailable(), NO_DRIVER);
        assertEveryBindingThrowsUnavailable(CudaDriver.class, ARGS);
    }

    @Test
    void checkWithoutDriverStillExplainsTheStatus() {
        assumeTrue(System.getProperty("tessera.cuda.driver") == null, CONFIGURED);
        assumeFalse(CudaDriver.LIBRARY.isAvailable(), NO_DRIVER);
        assertDoesNotThrow(() -> CudaDriver.check(CUDA_SUCCESS, "cuInit"));
        CudaException e = assertThrows(CudaException.class, () -> CudaDriver.check(CudaDriver.CUDA_ERROR_OUT_OF_MEMORY, "cuMemAlloc_v2"));
        assertEquals("cuMemAlloc_v2 failed: CUresult 2 (error name unavailable: libcuda.so.1 is not loaded)", e.getMessage());
        assertEquals(CudaException.Library.DRIVER, e.library());
        assertEquals(2, e.status());
        assertEquals("CUresult 2", e.errorName());
        assertEquals("cuMemAlloc_v2", e.call());
        assertEquals("CUresult 600", CudaDriver.errorName(CudaDriver.CUDA_ERROR_NOT_READY));
    }

    // ---- bindings agree with cuda.h and the jextract argument file ------------------------------

    @Test
    void argsFileListsExactlyTheBindings() throws IOException {
        assertEquals(new TreeSet<>(boundFunctions(ARGS)), bindingMethodNames(CudaDriver.class));
    }

    @Test
    void handlesHaveTheTypesOfTheirMethods() throws IOException, ReflectiveOperationException {
        assertHandlesMatchMethods(CudaDriver.class, ARGS);
    }

    @Test
    void holdersBindTheirOwnSymbol() throws IOException {
        assertHoldersBindTheirOwnSymbol(Path.of("src/main/java/io/tessera/ffi/CudaDriver.java"), ARGS);
    }

    @Test
    void bindingsFollowCudaH() throws IOException, ReflectiveOperationException {
        assumeTrue(Files.isRegularFile(CUDA_H), "no CUDA headers at " + CUDA_H);
        String header = Files.readString(CUDA_H);
        Map<String, String> renamed = versionedNames(header);
        Map<String, String> plainOf = new HashMap<>();
        renamed.forEach((plain, symbol) -> plainOf.put(symbol, plain));
        List<String> problems = new ArrayList<>();
        for (String symbol : boundFunctions(ARGS)) {
            if (renamed.containsKey(symbol) && !symbol.equals("cuEventElapsedTime")) {
                problems.add(symbol + ": cuda.h maps it to " + renamed.get(symbol) + ", bind that");
                continue;
            }
            String prototypeName = plainOf.getOrDefault(symbol, symbol);
            Matcher prototype = Pattern.compile("CUresult\\s+CUDAAPI\\s+" + prototypeName + "\\s*\\(([^)]*)\\)\\s*;").matcher(header);
            if (!prototype.find()) {
                problems.add(symbol + ": no prototype of " + prototypeName + " in cuda.h");
                continue;
            }
            List<Class<?>> expected = javaTypes(prototype.group(1));
            MethodType handle = handleType(CudaDriver.class, symbol);
            if (!handle.equals(MethodType.methodType(int.class, expected))) {
                problems.add(symbol + ": bound as " + handle + ", cuda.h says " + prototype.group(1).replaceAll("\\s+", " "));
            }
        }
        assertTrue(problems.isEmpty(), String.join("\n", problems));
    }

    /** Plain name to the symbol cuda.h's macros make of it, e.g. cuMemAlloc to cuMemAlloc_v2. */
    private static Map<String, String> versionedNames(String header) {
        Matcher define = Pattern.compile("(?m)^\\s*#define\\s+(cu\\w+)\\s+(?:__CUDA_API_PT(?:DS|SZ)\\(\\s*)?(cu\\w+)\\s*\\)?\\s*$")
                .matcher(header);
        Map<String, String> renamed = new HashMap<>();
        while (define.find()) {
            if (!define.group(1).equals(define.group(2))) {
                renamed.putIfAbsent(define.group(1), define.group(2));
            }
        }
        return renamed;
    }

    /** The Java carrier of each C parameter, as jextract maps it. */
    private static List<Class<?>> javaTypes(String parameters) {
        List<Class<?>> types = new ArrayList<>();
        if (parameters.isBlank() || parameters.strip().equals("void")) {
            return types;
        }
        for (String parameter : parameters.split(",")) {
            String type = parameter.strip().replaceAll("\\s*\\w+$", "").replaceAll("\\s+", " ").replace("const ", "");
            types.add(switch (type) {
                case String t when t.contains("*") -> MemorySegment.class;
                case "CUcontext", "CUmodule", "CUfunction", "CUstream", "CUevent" -> MemorySegment.class;
                case "CUdeviceptr", "size_t" -> long.class;
                case "unsigned char" -> byte.class;
                case "int", "unsigned int", "CUdevice", "CUdevice_attribute", "CUresult" -> int.class;
                default -> throw new AssertionError("no mapping for C type '" + type + "' in '" + parameter + "'");
            });
        }
        return types;
    }

    // ---- with a driver (a GPU, or the emulated driver on LD_LIBRARY_PATH) ---------------------

    @Test
    void checkNamesStatusesThroughTheDriver() {
        assumeTrue(CudaDriver.LIBRARY.isAvailable(), "no CUDA driver (libcuda.so.1) on this machine");
        assertEquals("CUDA_ERROR_OUT_OF_MEMORY", CudaDriver.errorName(CudaDriver.CUDA_ERROR_OUT_OF_MEMORY));
        CudaException e = assertThrows(CudaException.class, () -> CudaDriver.check(CudaDriver.CUDA_ERROR_OUT_OF_MEMORY, "cuMemAlloc_v2"));
        assertTrue(e.getMessage().startsWith("cuMemAlloc_v2 failed: CUDA_ERROR_OUT_OF_MEMORY (CUresult 2)"), e.getMessage());
        CudaException unknown = assertThrows(CudaException.class, () -> CudaDriver.check(987_654, "cuInit"));
        assertEquals("cuInit failed: CUresult 987654 (error name unavailable: cuGetErrorName does not know this code)",
                unknown.getMessage());
    }

    @Test
    void fillsCopiesAndTimesOnADevice() {
        try (Arena arena = Arena.ofConfined()) {
            int device = firstDevice(arena);
            MemorySegment ctx = arena.allocate(ADDRESS);
            CudaDriver.check(CudaDriver.cuDevicePrimaryCtxRetain(ctx, device), "cuDevicePrimaryCtxRetain");
            try {
                CudaDriver.check(CudaDriver.cuCtxSetCurrent(ctx.get(ADDRESS, 0)), "cuCtxSetCurrent");
                MemorySegment name = arena.allocate(256);
                CudaDriver.check(CudaDriver.cuDeviceGetName(name, (int) name.byteSize(), device), "cuDeviceGetName");
                assertFalse(name.getString(0).isBlank());
                MemorySegment value = arena.allocate(JAVA_INT);
                CudaDriver.check(CudaDriver.cuDeviceGetAttribute(value, CudaDriver.CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_BLOCK, device),
                        "cuDeviceGetAttribute");
                assertTrue(value.get(JAVA_INT, 0) >= 64, "max threads per block " + value.get(JAVA_INT, 0));

                MemorySegment streamOut = arena.allocate(ADDRESS);
                CudaDriver.check(CudaDriver.cuStreamCreate(streamOut, CudaDriver.CU_STREAM_NON_BLOCKING), "cuStreamCreate");
                MemorySegment stream = streamOut.get(ADDRESS, 0);
                MemorySegment start = createEvent(arena, 0);
                MemorySegment end = createEvent(arena, 0);
                int n = 4096;
                MemorySegment dptr = arena.allocate(JAVA_LONG);
                CudaDriver.check(CudaDriver.cuMemAlloc_v2(dptr, 4L * n), "cuMemAlloc_v2");
                long buffer = dptr.get(JAVA_LONG, 0);
                try {
                    MemorySegment host = arena.allocate(JAVA_FLOAT, n);
                    CudaDriver.check(CudaDriver.cuEventRecord(start, stream), "cuEventRecord");
                    CudaDriver.check(CudaDriver.cuMemsetD32Async(buffer, Float.floatToRawIntBits(1.5f), n, stream), "cuMemsetD32Async");
                    CudaDriver.check(CudaDriver.cuMemcpyDtoHAsync_v2(host, buffer, 4L * n, stream), "cuMemcpyDtoHAsync_v2");
                    CudaDriver.check(CudaDriver.cuEventRecord(end, stream), "cuEventRecord");
                    CudaDriver.check(CudaDriver.cuStreamSynchronize(stream), "cuStreamSynchronize");
                    for (int i = 0; i < n; i++) {
                        assertEquals(1.5f, host.getAtIndex(JAVA_FLOAT, i), "element " + i);
                    }
                    assertEquals(CUDA_SUCCESS, CudaDriver.cuEventQuery(end));
                    MemorySegment ms = arena.allocate(JAVA_FLOAT);
                    CudaDriver.check(CudaDriver.cuEventElapsedTime(ms, start, end), "cuEventElapsedTime");
                    assertTrue(ms.get(JAVA_FLOAT, 0) >= 0f);
                } finally {
                    CudaDriver.check(CudaDriver.cuMemFree_v2(buffer), "cuMemFree_v2");
                    CudaDriver.check(CudaDriver.cuEventDestroy_v2(start), "cuEventDestroy_v2");
                    CudaDriver.check(CudaDriver.cuEventDestroy_v2(end), "cuEventDestroy_v2");
                    CudaDriver.check(CudaDriver.cuStreamDestroy_v2(stream), "cuStreamDestroy_v2");
                }
            } finally {
                CudaDriver.check(CudaDriver.cuDevicePrimaryCtxRelease_v2(device), "cuDevicePrimaryCtxRelease_v2");
            }
        }
    }

    /** cuInit and device 0, or a skipped test when there is no driver (or only its stub) or no device. */
    static int firstDevice(Arena arena) {
        assumeTrue(CudaDriver.LIBRARY.isAvailable(), "no CUDA driver (libcuda.so.1) on this machine");
        int init = CudaDriver.cuInit(0);
        assumeTrue(init == CUDA_SUCCESS, "cuInit: " + CudaDriver.errorName(init));
        MemorySegment count = arena.allocate(JAVA_INT);
        CudaDriver.check(CudaDriver.cuDeviceGetCount(count), "cuDeviceGetCount");
        assumeTrue(count.get(JAVA_INT, 0) > 0, "the CUDA driver sees no device");
        MemorySegment device = arena.allocate(JAVA_INT);
        CudaDriver.check(CudaDriver.cuDeviceGet(device, 0), "cuDeviceGet");
        Cblas.LIBRARY.isAvailable(); // loads OpenBLAS, which the emulated driver's cuBLAS forwards to
        return device.get(JAVA_INT, 0);
    }

    private static MemorySegment createEvent(Arena arena, int flags) {
        MemorySegment event = arena.allocate(ADDRESS);
        CudaDriver.check(CudaDriver.cuEventCreate(event, flags), "cuEventCreate");
        return event.get(ADDRESS, 0);
    }

    // ---- helpers shared with CublasTest -----------------------------------------------------

    /** The --include-function names of a jextract argument file, in order. */
    static List<String> boundFunctions(Path args) throws IOException {
        return Files.readAllLines(args).stream()
                .map(String::strip)
                .filter(line -> line.startsWith("--include-function"))
                .map(line -> line.substring("--include-function".length()).strip())
                .toList();
    }

    /** Public static methods of a binding class, less its status helpers. */
    static Set<String> bindingMethodNames(Class<?> bindings) {
        return Arrays.stream(bindings.getDeclaredMethods())
                .filter(m -> Modifier.isPublic(m.getModifiers()) && Modifier.isStatic(m.getModifiers()))
                .map(Method::getName)
                .filter(name -> !name.equals("check") && !name.equals("errorName"))
                .collect(Collectors.toCollection(TreeSet::new));
    }

    static Method binding(Class<?> bindings, String symbol) {
        List<Method> methods = Arrays.stream(bindings.getMethods()).filter(m -> m.getName().equals(symbol)).toList();
        assertEquals(1, methods.size(), "public methods named " + symbol);
        return methods.getFirst();
    }

    /** The type of the downcall handle in the holder class named after the symbol. */
    static MethodType handleType(Class<?> bindings, String symbol) throws ReflectiveOperationException {
        Field field = Class.forName(bindings.getName() + "$" + symbol).getDeclaredField("HANDLE");
        field.setAccessible(true);
        return ((MethodHandle) field.get(null)).type();
    }

    static void assertHandlesMatchMethods(Class<?> bindings, Path args) throws IOException, ReflectiveOperationException {
        for (String symbol : boundFunctions(args)) {
            Method method = binding(bindings, symbol);
            assertEquals(MethodType.methodType(method.getReturnType(), method.getParameterTypes()), handleType(bindings, symbol), symbol);
        }
    }

    /** Each holder class passes its own name to LIBRARY.downcall: catches a symbol pasted into the wrong holder. */
    static void assertHoldersBindTheirOwnSymbol(Path source, Path args) throws IOException {
        Matcher holder = Pattern.compile("class (\\w+) \\{\\s*static final MethodHandle HANDLE = LIBRARY\\.downcall\\(\"(\\w+)\"")
                .matcher(Files.readString(source));
        List<String> holders = new ArrayList<>();
        while (holder.find()) {
            assertEquals(holder.group(1), holder.group(2), "holder class " + holder.group(1) + " binds another symbol");
            holders.add(holder.group(1));
        }
        assertEquals(boundFunctions(args), holders, "holder classes of " + source + ", in the order of " + args);
    }

    /** Calls every binding with zeros and NULLs: each must throw the library's unavailability, nothing else. */
    static void assertEveryBindingThrowsUnavailable(Class<?> bindings, Path args) throws IOException {
        for (String symbol : boundFunctions(args)) {
            Method method = binding(bindings, symbol);
            Object[] zeros = Arrays.stream(method.getParameterTypes()).map(CudaDriverTest::zero).toArray();
            InvocationTargetException e = assertThrows(InvocationTargetException.class, () -> method.invoke(null, zeros), symbol);
            assertInstanceOf(NativeLibraryUnavailableException.class, e.getCause(), symbol);
            assertNotNull(e.getCause().getMessage(), symbol);
        }
    }

    private static Object zero(Class<?> type) {
        if (type == MemorySegment.class) {
            return MemorySegment.NULL;
        } else if (type == int.class) {
            return 0;
        } else if (type == long.class) {
            return 0L;
        } else if (type == byte.class) {
            return (byte) 0;
        }
        throw new AssertionError("no zero for " + type);
    }
}
