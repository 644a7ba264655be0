package io.tessera.ffi;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodType;
import java.lang.reflect.Field;
import java.lang.reflect.Modifier;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * The cuBLAS and cuBLASLt bindings against NVIDIA's own headers, as {@link CudaDriverTest} checks the driver's against
 * cuda.h: every bound function has a prototype of the bound type, and every constant (status, operation, data type,
 * compute type, matmul descriptor attribute) the value its enumerator has. No struct is bound: cublasLtMatmul's algo is
 * passed as NULL, and handles and descriptors are opaque pointers.
 *
 * <p>This CUDA install (the compiler and cudart) has cuda.h and library_types.h but not cublas_api.h or cublasLt.h.
 * scripts/install-deps extracts those two from Debian's nvidia-cuda-dev (non-free, CUDA 11.8) into
 * ~/.cache/tessera/cuda-headers, which the pom passes as -Dtessera.cuda.headers; without them this test is skipped and
 * says where it looked. The values checked are ABI: NVIDIA keeps them across major versions, so 11.8's headers vouch
 * for what libcublas.so.12 and .13 take.
 */
class CublasHeadersTest {
    private static final List<Path> SYSTEM_DIRS = List.of(Path.of("/usr/local/cuda/include"), Path.of("/usr/include"));

    @Test
    void cublasFollowsCublasApiH() throws IOException, ReflectiveOperationException {
        String header = header("cublas_api.h");
        assertAgree(Cublas.class, Path.of("jextract/cublas.args"), header, header + header("library_types.h"));
    }

    @Test
    void cublasLtFollowsCublasLtH() throws IOException, ReflectiveOperationException {
        String header = header("cublasLt.h");
        assertAgree(CublasLt.class, Path.of("jextract/cublaslt.args"), header, header);
    }

    private static void assertAgree(Class<?> bindings, Path args, String prototypes, String enumerators)
            throws IOException, ReflectiveOperationException {
        List<String> problems = new ArrayList<>();
        for (String symbol : CudaDriverTest.boundFunctions(args)) {
            Matcher prototype = Pattern.compile("\\b(cublasStatus_t|size_t|const\\s+char\\s*\\*)\\s*CUBLASWINAPI\\s+" + symbol
                    + "\\s*\\(([^)]*)\\)\\s*;")
                    .matcher(prototypes);
            if (!prototype.find()) {
                problems.add(symbol + ": no prototype in the header");
                continue;
            }
            MethodType expected = MethodType.methodType(javaType(prototype.group(1)), parameterTypes(prototype.group(2)));
            MethodType bound = CudaDriverTest.handleType(bindings, symbol);
            if (!bound.equals(expected)) {
                problems.add(symbol + ": bound as " + bound + ", the header says " + prototype.group(0).replaceAll("\\s+", " "));
            }
        }
        for (Field field : bindings.getFields()) {
            if (field.getType() != int.class || !Modifier.isStatic(field.getModifiers())) {
                continue;
            }
            Matcher enumerator = Pattern.compile("\\b" + field.getName() + "\\s*=\\s*(-?(?:0x)?[0-9a-fA-F]+)").matcher(enumerators);
            if (!enumerator.find()) {
                problems.add(field.getName() + ": no such enumerator in the headers");
            } else if (Integer.decode(enumerator.group(1)) != field.getInt(null)) {
                problems.add(field.getName() + " = " + field.getInt(null) + ", the header says " + enumerator.group(1));
            }
        }
        assertTrue(problems.isEmpty(), String.join("\n", problems));
    }

    private static List<Class<?>> parameterTypes(String parameters) {
        List<Class<?>> types = new ArrayList<>();
        if (parameters.isBlank() || parameters.strip().equals("void")) {
            return types;
        }
        for (String parameter : parameters.split(",")) {
            types.add(javaType(parameter.strip().replaceAll("\\s*\\b\\w+$", "")));
        }
        return types;
    }

    /** The Java carrier of a C type, as jextract maps it. */
    private static Class<?> javaType(String cType) {
        String type = cType.replace("const ", "").replaceAll("\\s+", " ").strip();
        return switch (type) {
            case String t when t.contains("*") -> MemorySegment.class;
            case "cublasHandle_t", "cublasLtHandle_t", "cublasLtMatmulDesc_t", "cublasLtMatrixLayout_t", "cudaStream_t" ->
                    MemorySegment.class;
            case "size_t", "uint64_t", "int64_t" -> long.class;
            case "int", "cublasStatus_t", "cublasOperation_t", "cublasMath_t", "cudaDataType", "cudaDataType_t",
                 "cublasComputeType_t", "cublasGemmAlgo_t", "cublasLtMatmulDescAttributes_t" -> int.class;
            default -> throw new AssertionError("no mapping for C type '" + type + "'");
        };
    }

    /** The header's text without comments, from the first place that has it, or a skipped test saying where it looked. */
    private static String header(String name) throws IOException {
        List<Path> dirs = new ArrayList<>();
        Optional.ofNullable(System.getProperty("tessera.cuda.headers")).filter(p -> !p.isBlank()).map(Path::of).ifPresent(dirs::add);
        dirs.addAll(SYSTEM_DIRS);
        Optional<Path> file = dirs.stream().map(dir -> dir.resolve(name)).filter(Files::isRegularFile).findFirst();
        assumeTrue(file.isPresent(), () -> "no " + name + " in " + dirs + " (scripts/install-deps extracts it from Debian's"
                + " nvidia-cuda-dev into ~/.cache/tessera/cuda-headers)");
        try (Stream<String> lines = Files.lines(file.get())) {
            String text = String.join("\n", lines.toList());
            return text.replaceAll("(?s)/\\*.*?\\*/", " ").replaceAll("//[^\n]*", " ");
        }
    }
}
