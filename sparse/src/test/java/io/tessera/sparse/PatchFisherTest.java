package io.tessera.sparse;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tessera.engine.DType;
import io.tessera.engine.HostStorage;
import io.tessera.engine.Tensor;
import io.tessera.engine.TensorScope;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A patch carrying its contributor's Fisher at its entries: kept through save and load, plain or compressed. */
class PatchFisherTest {
    @TempDir
    Path dir;

    @AfterAll
    static void noLeaks() {
        assertEquals(0, HostStorage.liveBytes(), "native bytes still allocated");
    }

    private static Map<String, Tensor> model(float[] w, float[] b) {
        Map<String, Tensor> m = new LinkedHashMap<>();
        m.put("w", Tensor.of(w, 2, 4));
        m.put("b", Tensor.of(b, 2).to(DType.BF16));
        return m;
    }

    @Test
    void theFisherAtThePatchedEntriesSurvivesSaveAndLoad() throws Exception {
        float[] w = {1, 2, 3, 4, 5, 6, 7, 8};
        float[] b = {1, 2};
        float[] fisherW = {0.5f, 0.25f, 3e-7f, 4, 5, 6, 7, 8};
        try (TensorScope _ = TensorScope.open()) {
            Map<String, Tensor> base = model(w, b);
            Patch patch = Patch.diff(base, model(new float[] {1, 9, 3, 4, 5, 6, 7, -8}, new float[] {1, 3}), "p");
            assertFalse(patch.hasFisher());
            Map<String, Tensor> fisher = model(fisherW, new float[] {0.125f, 2});
            Patch carrying = patch.withFisher(fisher).withBaseValues(base);
            for (Compression c : Compression.values()) {
                Path file = dir.resolve("p-" + c);
                carrying.save(file, c, true);
                Patch loaded = Patch.load(file);
                assertTrue(loaded.hasFisher());
                assertEquals(carrying, loaded);
                assertEquals(0.25f, loaded.tensors().get("w").fisher(0)); // entry 1
                assertEquals(8f, loaded.tensors().get("w").fisher(1)); // entry 7
                assertEquals(2f, loaded.tensors().get("b").fisher(0)); // entry 1
                assertArrayEquals(new float[] {0, 0.25f, 0, 0, 0, 0, 0, 8}, loaded.denseFisher(base).get("w").toFloatArray());
                assertArrayEquals(new float[] {0, 2}, loaded.denseFisher(base).get("b").toFloatArray());
            }
            Map<String, Tensor> missing = Map.of("w", fisher.get("w"));
            assertTrue(assertThrows(IllegalArgumentException.class, () -> patch.withFisher(missing)).getMessage()
                    .contains("'b' of shape [2], got none"));
            Map<String, Tensor> nan = model(new float[] {0, Float.NaN, 0, 0, 0, 0, 0, 0}, new float[] {1, 1});
            assertTrue(assertThrows(IllegalArgumentException.class, () -> patch.withFisher(nan)).getMessage()
                    .contains("Fisher tensor 'w': the Fisher value NaN at position 0 is not finite and >= 0"));
            assertThrows(IllegalStateException.class, () -> patch.denseFisher(base));
        }
    }
}
