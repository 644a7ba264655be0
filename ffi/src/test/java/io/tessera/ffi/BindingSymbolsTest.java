package io.tessera.ffi;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Each jextract argument file (ffi/jextract/*.args) is the list of symbols its binding class binds.
 * Checks the two agree, and that the library, where it exists on this machine, exports every one.
 */
class BindingSymbolsTest {

    record Binding(Path argsFile, String className, List<String> functions) {
        @Override
        public String toString() {
            return argsFile.getFileName().toString();
        }
    }

    static Stream<Binding> bindings() throws IOException {
        List<Binding> result = new ArrayList<>();
        try (Stream<Path> files = Files.list(Path.of("jextract"))) {
            for (Path file : files.filter(f -> f.toString().endsWith(".args")).sorted().toList()) {
                String className = null;
                List<String> functions = new ArrayList<>();
                for (String line : Files.readAllLines(file)) {
                    String[] parts = line.trim().split("\\s+");
                    if (parts.length == 2 && parts[0].equals("--header-class-name")) {
                        className = parts[1];
                    } else if (parts.length == 2 && parts[0].equals("--include-function")) {
                        functions.add(parts[1]);
                    }
                }
                result.add(new Binding(file, "io.tessera.ffi." + className, functions));
            }
        }
        assertTrue(result.size() >= 2, "expected the jextract argument files in ffi/jextract");
        return result.stream();
    }

    @ParameterizedTest
    @MethodSource("bindings")
    void everyListedSymbolIsAPublicStaticMethod(Binding binding) throws ClassNotFoundException {
        Class<?> bindingClass = Class.forName(binding.className());
        List<String> publicStatic = Arrays.stream(bindingClass.getDeclaredMethods())
                .filter(m -> Modifier.isPublic(m.getModifiers()) && Modifier.isStatic(m.getModifiers()))
                .map(Method::getName).toList();
        assertTrue(!binding.functions().isEmpty(), binding + " lists no functions");
        for (String function : binding.functions()) {
            assertTrue(publicStatic.contains(function), binding.className() + " has no public static " + function);
        }
    }

    @ParameterizedTest
    @MethodSource("bindings")
    void libraryExportsEveryListedSymbol(Binding binding) throws ReflectiveOperationException {
        NativeLibrary library = (NativeLibrary) Class.forName(binding.className()).getField("LIBRARY").get(null);
        Assumptions.assumeTrue(library.isAvailable(),
                () -> library.name() + " is not on this machine: " + library.unavailableReason().orElse(""));
        List<String> missing = binding.functions().stream().filter(f -> library.find(f).isEmpty()).toList();
        assertEquals(List.of(), missing, library.name() + " loaded from " + library.origin().orElseThrow() + " lacks symbols");
    }
}
