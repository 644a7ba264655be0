package io.tessera.fisher;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tessera.engine.HostStorage;
import io.tessera.engine.Tensor;
import io.tessera.engine.TensorScope;
import io.tessera.sparse.SparseMask;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

class FishMaskTest {

    @AfterAll
    static void noLeaks() {
        assertEquals(0, HostStorage.liveBytes(), "native bytes still allocated");
    }

    @Test
    void fishMaskKeepsTheLargestFisherEntriesAsASparseMask() {
        try (TensorScope scope = TensorScope.open()) {
            Map<String, Tensor> fisher = new LinkedHashMap<>();
            fisher.put("body.weight", Tensor.rand(1, 0, 100, 50));
            fisher.put("head.weight", Tensor.rand(2, 0, 10, 5).mul(1e-3));
            SparseMask mask = FishMask.of(fisher, 0.05, Set.of());
            assertEquals(252, mask.count(), "floor(0.05 * 5050)");
            SparseMask withHead = FishMask.of(fisher, 0.05, Set.of("head.weight"));
            assertEquals(252, withHead.count());
            assertEquals(50, withHead.get("head.weight").count(), "the whole head, counted in the budget");
            SparseMask random = FishMask.random(Map.of("a", new long[] {100, 50}, "b", new long[] {10, 5}), 0.05, 3);
            assertEquals(252, random.count());
            assertTrue(mask.density() > 0.049 && mask.density() < 0.05, "density " + mask.density());
        }
    }
}
