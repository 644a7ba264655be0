package io.tessera.engine;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Map;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;

class DTypeTest {

    /** The codes are ABI: each must be the number kernels/include/tessera/ts_ops.h gives TS_<name>. */
    @Test
    void codesAreTheKernelsDtypeEnum() throws IOException {
        String header = Files.readString(Path.of("..", "kernels", "include", "tessera", "ts_ops.h")); // from engine/
        Matcher dtypes = Pattern.compile("/\\* dtypes \\*/\\s*enum \\{([^}]*)}").matcher(header);
        assertTrue(dtypes.find(), "no dtype enum in ts_ops.h");
        Map<String, Integer> kernels = new TreeMap<>();
        Matcher entry = Pattern.compile("TS_(\\w+) = (\\d+)").matcher(dtypes.group(1));
        while (entry.find()) {
            kernels.put(entry.group(1), Integer.parseInt(entry.group(2)));
        }
        Map<String, Integer> java = Arrays.stream(DType.values())
                .collect(Collectors.toMap(DType::name, DType::code, (a, b) -> a, TreeMap::new));
        assertEquals(kernels, java);
    }

    @Test
    void everySafetensorsNameMapsBackAndAnUnknownOneListsThemAll() {
        for (DType dtype : DType.values()) {
            assertEquals(dtype, DType.fromSafetensors(dtype.safetensorsName(), "t"));
        }
        String message = assertThrows(IllegalArgumentException.class, () -> DType.fromSafetensors("F8_E4M3", "w")).getMessage();
        assertEquals("tensor 'w' has unsupported dtype 'F8_E4M3' (supported: F32, BF16, F16, I8, U8, BOOL, I32, I64, F64, I16, U16,"
                + " U32, U64)", message);
    }
}
