package io.tessera.cli;

import static io.tessera.cli.CliRunner.fails;
import static io.tessera.cli.CliRunner.listing;
import static io.tessera.cli.CliRunner.ok;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tessera.engine.Tensor;
import io.tessera.engine.TensorScope;
import io.tessera.engine.io.Safetensors;
import io.tessera.engine.io.SafetensorsHeader;
import io.tessera.sparse.SparseMask;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** tessera mask against a plain Java top-k: exactly K kept, ties to the earlier tensor in the file and the lower flat index. */
class MaskCommandTest {

    /** Fisher scores with heavy ties: values from {0, 0.5, 1, 2}, two tensors. */
    private static Map<String, float[]> scores() {
        SplittableRandom random = new SplittableRandom(7);
        Map<String, float[]> scores = new LinkedHashMap<>();
        for (var entry : Map.of("layer.0.weight", 12, "layer.0.bias", 5).entrySet()) {
            float[] v = new float[entry.getValue()];
            for (int i = 0; i < v.length; i++) {
                v[i] = new float[] {0f, 0.5f, 1f, 2f}[random.nextInt(4)];
            }
            scores.put(entry.getKey(), v);
        }
        return scores;
    }

    private static Path writeFisher(Path dir, Map<String, float[]> scores) throws IOException {
        Path file = dir.resolve("fisher.safetensors");
        try (TensorScope scope = TensorScope.open()) {
            Map<String, Tensor> tensors = new LinkedHashMap<>();
            scores.forEach((name, v) -> tensors.put(name, Tensor.of(v, name.endsWith("weight") ? new long[] {3, 4} : new long[] {5})));
            Safetensors.write(file, tensors);
        }
        return file;
    }

    /** The first k entries by descending score, then file order of the tensor, then flat index; sorted indices per tensor. */
    private static Map<String, List<Long>> reference(Map<String, float[]> scores, List<String> fileOrder, long k) {
        record Entry(int tensor, long index, float score) {}
        List<Entry> all = new ArrayList<>();
        for (int t = 0; t < fileOrder.size(); t++) {
            float[] v = scores.get(fileOrder.get(t));
            for (int i = 0; i < v.length; i++) {
                all.add(new Entry(t, i, v[i]));
            }
        }
        all.sort(Comparator.comparingDouble((Entry e) -> -e.score()).thenComparingInt(Entry::tensor).thenComparingLong(Entry::index));
        Map<String, List<Long>> kept = new LinkedHashMap<>();
        fileOrder.forEach(name -> kept.put(name, new ArrayList<>()));
        all.subList(0, (int) k).forEach(e -> kept.get(fileOrder.get(e.tensor())).add(e.index()));
        kept.values().forEach(list -> list.sort(null));
        return kept;
    }

    private static Map<String, List<Long>> keptIndices(Path mask) throws IOException {
        Map<String, List<Long>> kept = new LinkedHashMap<>();
        SparseMask.load(mask).tensors().forEach((name, m) -> {
            List<Long> list = new ArrayList<>();
            m.forEachIndex(list::add);
            kept.put(name, list);
        });
        return kept;
    }

    @Test
    void everyCountKeepsExactlyKByScoreThenFileOrderThenIndex(@TempDir Path dir) throws IOException {
        Map<String, float[]> scores = scores();
        Path fisher = writeFisher(dir, scores);
        List<String> fileOrder = SafetensorsHeader.read(fisher).tensors().stream().map(SafetensorsHeader.TensorInfo::name).toList();
        Path mask = dir.resolve("mask.safetensors");
        for (long k = 0; k <= 17; k++) {
            ok("mask", "--fisher", fisher.toString(), "--count", Long.toString(k), "-o", mask.toString());
            Map<String, List<Long>> kept = keptIndices(mask);
            Map<String, List<Long>> expected = reference(scores, fileOrder, k);
            for (String name : fileOrder) {
                assertEquals(expected.get(name), kept.get(name), "k = " + k + ", " + name);
            }
            float lowestKept = Float.POSITIVE_INFINITY;
            float highestDropped = Float.NEGATIVE_INFINITY;
            for (String name : fileOrder) {
                float[] v = scores.get(name);
                for (int i = 0; i < v.length; i++) {
                    if (kept.get(name).contains((long) i)) {
                        lowestKept = Math.min(lowestKept, v[i]);
                    } else {
                        highestDropped = Math.max(highestDropped, v[i]);
                    }
                }
            }
            assertTrue(lowestKept >= highestDropped, "k = " + k + ": every kept score >= every dropped one");
        }
        String json = ok("mask", "--fisher", fisher.toString(), "--keep", "0.5", "-o", mask.toString(), "--json").out();
        assertTrue(json.contains("\"kept\" : 8") && json.contains("\"total\" : 17"), "floor(0.5 x 17) = 8:\n" + json);
        assertEquals(reference(scores, fileOrder, 8), keptIndices(mask));
    }

    @Test
    void perTensorKeepsTheFractionOfEachTensor(@TempDir Path dir) throws IOException {
        Map<String, float[]> scores = scores();
        Path fisher = writeFisher(dir, scores);
        Path mask = dir.resolve("mask.safetensors");
        ok("mask", "--fisher", fisher.toString(), "--keep", "0.5", "--per-tensor", "-o", mask.toString());
        Map<String, List<Long>> kept = keptIndices(mask);
        for (var entry : scores.entrySet()) {
            long k = (long) Math.floor(0.5 * entry.getValue().length);
            List<Long> expected = reference(Map.of(entry.getKey(), entry.getValue()), List.of(entry.getKey()), k).get(entry.getKey());
            assertEquals(expected, kept.get(entry.getKey()), entry.getKey());
        }
    }

    @Test
    void badBudgetsAndFilesAreOneLineAndWriteNothing(@TempDir Path dir) throws IOException {
        Path fisher = writeFisher(dir, scores());
        String out = dir.resolve("mask.safetensors").toString();
        String f = fisher.toString();
        fails(2, List.of("tessera mask: --keep must be a fraction in [0, 1], got 1.5", "--help"), "mask", "--fisher", f, "--keep",
                "1.5", "-o", out);
        fails(2, List.of("--count must be >= 0"), "mask", "--fisher", f, "--count", "-1", "-o", out);
        fails(2, List.of("--keep", "--count"), "mask", "--fisher", f, "--keep", "0.1", "--count", "1", "-o", out);
        fails(2, List.of("--per-tensor takes --keep"), "mask", "--fisher", f, "--count", "1", "--per-tensor", "-o", out);
        fails(2, List.of("Missing required"), "mask", "--fisher", f, "-o", out);
        fails(1, List.of("tessera mask: --count 18 exceeds the 17 entries of " + f), "mask", "--fisher", f, "--count", "18",
                "-o", out);
        Path missing = dir.resolve("missing.safetensors");
        fails(1, List.of("tessera mask: no such file: " + missing), "mask", "--fisher", missing.toString(), "--count", "1", "-o", out);
        try (TensorScope scope = TensorScope.open()) {
            Safetensors.write(dir.resolve("nan.safetensors"), Map.of("w", Tensor.of(new float[] {1, Float.NaN, 2}, 3)));
        }
        fails(1, List.of("tessera mask: " + dir.resolve("nan.safetensors") + ": top-k: scores of w must be finite"), "mask",
                "--fisher", dir.resolve("nan.safetensors").toString(), "--count", "1", "-o", out);
        assertEquals(List.of("fisher.safetensors", "nan.safetensors"), listing(dir));
    }
}
