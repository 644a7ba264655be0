package io.tessera.fisher;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tessera.engine.HostStorage;
import io.tessera.engine.Tensor;
import io.tessera.engine.TensorScope;
import io.tessera.engine.io.Safetensors;
import io.tessera.engine.io.SafetensorsFile;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class MergeConfigTest {
    @TempDir
    Path dir;

    @AfterAll
    static void noLeaks() {
        assertEquals(0, HostStorage.liveBytes(), "native bytes still allocated");
    }

    private void write(String name, float... values) throws IOException {
        try (TensorScope scope = TensorScope.open()) {
            Safetensors.write(dir.resolve(name), Map.of("w", Tensor.of(values, values.length)));
        }
    }

    @Test
    void fisherMergeFromYamlWritesTheMergedModel() throws IOException {
        write("a.safetensors", 1, 2);
        write("b.safetensors", 3, 6);
        write("fa.safetensors", 1, 0);
        write("fb.safetensors", 3, 0);
        Files.writeString(dir.resolve("merge.yaml"), """
                method: fisher
                models:
                  - {path: a.safetensors, fisher: fa.safetensors, weight: 1}
                  - {path: b.safetensors, fisher: fb.safetensors, weight: 1}
                parameters: {fisher_floor: 1.0e-6}
                out: merged.safetensors
                """);
        MergeRunner.run(MergeConfig.load(dir.resolve("merge.yaml")));
        try (SafetensorsFile merged = Safetensors.read(dir.resolve("merged.safetensors"))) {
            // entry 0: (1*1 + 3*3) / (1 + 3) = 2.5; entry 1: both Fishers floored, so the plain mean 4
            assertArrayEquals(new float[] {2.5f, 4f}, merged.tensor("w").toFloatArray(), 1e-6f);
            assertEquals("fisher", merged.metadata().get("merge_method"));
        }
    }

    @Test
    void everyConfigProblemIsReportedAtOnce() throws IOException {
        Files.writeString(dir.resolve("bad.yaml"), """
                method: ties
                models:
                  - {weight: 2}
                """);
        var e = assertThrows(IllegalArgumentException.class, () -> MergeConfig.load(dir.resolve("bad.yaml")));
        String m = e.getMessage();
        assertTrue(m.contains("3 problem(s)") && m.contains("needs 'base'") && m.contains("models[0] has no 'path'")
                && m.contains("'out' is missing"), m);
        Files.writeString(dir.resolve("typo.yaml"), "method: average\nmodles: []\nout: x\n");
        var typo = assertThrows(IllegalArgumentException.class, () -> MergeConfig.load(dir.resolve("typo.yaml")));
        assertTrue(typo.getMessage().contains("unknown key 'modles'"), typo.getMessage());
        Files.writeString(dir.resolve("method.yaml"), "method: soup\nmodels: [{path: a}]\nout: x\n");
        assertTrue(assertThrows(IllegalArgumentException.class, () -> MergeConfig.load(dir.resolve("method.yaml")))
                .getMessage().contains("unknown method 'soup'"));
    }

    @Test
    void mismatchedInputsFailBeforeAnythingIsWritten() throws IOException {
        write("a.safetensors", 1, 2);
        write("b.safetensors", 3, 6, 9);
        Files.writeString(dir.resolve("m.yaml"), "method: average\nmodels: [{path: a.safetensors}, {path: b.safetensors}]\nout: out.safetensors\n");
        var e = assertThrows(IllegalArgumentException.class, () -> MergeRunner.run(MergeConfig.load(dir.resolve("m.yaml"))));
        assertTrue(e.getMessage().contains("w: model 0 has f32[2]"), e.getMessage());
        assertTrue(Files.notExists(dir.resolve("out.safetensors")));
    }
}
