package io.tessera.fisher;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tessera.engine.HostStorage;
import io.tessera.engine.Tensor;
import io.tessera.engine.TensorScope;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

class CoefficientSearchTest {

    @AfterAll
    static void noLeaks() {
        assertEquals(0, HostStorage.liveBytes(), "native bytes still allocated (every candidate's merge is freed)");
    }

    @Test
    void gridCoversBothEndpointsEvenly() {
        List<double[]> grid = CoefficientSearch.grid(4);
        assertEquals(5, grid.size());
        for (int i = 0; i < grid.size(); i++) {
            assertArrayEquals(new double[] {1 - i / 4.0, i / 4.0}, grid.get(i), 1e-15);
        }
        assertEquals(2, CoefficientSearch.grid(1).size());
        assertThrows(IllegalArgumentException.class, () -> CoefficientSearch.grid(0));
    }

    @Test
    void dirichletSamplesLieOnTheSimplexAndAreSeeded() {
        for (double concentration : new double[] {0.3, 1, 5}) {
            List<double[]> a = CoefficientSearch.dirichlet(3, 2000, 7, concentration);
            double[] mean = new double[3];
            for (double[] lambda : a) {
                assertEquals(1, Arrays.stream(lambda).sum(), 1e-12);
                for (int m = 0; m < 3; m++) {
                    assertTrue(lambda[m] >= 0);
                    mean[m] += lambda[m] / a.size();
                }
            }
            // symmetric: each coordinate has mean 1/3 (standard error < 0.01 at 2000 samples)
            assertArrayEquals(new double[] {1 / 3.0, 1 / 3.0, 1 / 3.0}, mean, 0.03, "concentration " + concentration);
            List<double[]> again = CoefficientSearch.dirichlet(3, 2000, 7, concentration);
            for (int s = 0; s < a.size(); s++) {
                assertArrayEquals(a.get(s), again.get(s), "same seed, same samples");
            }
            assertFalse(Arrays.equals(a.get(0), CoefficientSearch.dirichlet(3, 1, 8, concentration).get(0)), "another seed");
        }
        assertThrows(IllegalArgumentException.class, () -> CoefficientSearch.dirichlet(1, 5, 0, 1));
        assertThrows(IllegalArgumentException.class, () -> CoefficientSearch.dirichlet(3, 5, 0, 0));
    }

    @Test
    void searchRanksCandidatesByTheCallersEvaluation() {
        try (TensorScope scope = TensorScope.open()) {
            List<Map<String, Tensor>> models = List.of(Map.of("w", Tensor.of(new float[] {0, 10}, 2)),
                    Map.of("w", Tensor.of(new float[] {1, 20}, 2)));
            // held-out "data" prefers w[0] = 0.3, i.e. lambda = (0.7, 0.3)
            CoefficientSearch.Table table = CoefficientSearch.search(CoefficientSearch.grid(10), lambda -> Merge.average(models, lambda),
                    merged -> -Math.pow(merged.get("w").toFloatArray()[0] - 0.3, 2));
            assertEquals(11, table.rows().size());
            assertArrayEquals(new double[] {0.7, 0.3}, table.best().lambdas(), 1e-12);
            for (int i = 1; i < table.rows().size(); i++) {
                assertTrue(table.rows().get(i - 1).score() >= table.rows().get(i).score(), "best first");
            }
            assertTrue(table.format().startsWith("lambda [0.7000, 0.3000]  score"), table.format());
            var nan = assertThrows(IllegalArgumentException.class,
                    () -> CoefficientSearch.search(CoefficientSearch.grid(2), lambda -> Merge.average(models, lambda),
                            merged -> Double.NaN));
            assertTrue(nan.getMessage().contains("lambda [1.0, 0.0] is NaN"), nan.getMessage());
        }
    }
}
