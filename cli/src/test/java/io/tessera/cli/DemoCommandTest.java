package io.tessera.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.tessera.data.FashionMnist;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The whole demo in a tiny configuration (a one-block ViT of width 16, a few thousand images): every stage runs, the
 * final table has its six rows with finite numbers, each contributor's patch raises their own task's accuracy, and the
 * patches are far smaller than the model.
 */
class DemoCommandTest {
    /** | stage | alice's task | bob's task | all classes | file | bytes | seconds | */
    private record Row(double alice, double bob, double all, String file, long bytes, double seconds) {}

    @Test
    void tinyDemoEndsWithTheTableAndContributorsGainOnTheirTasks(@TempDir Path dir) throws Exception {
        assumeTrue(Files.isDirectory(FashionMnist.DEFAULT_DIR), "Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist)");
        CliRunner.Run run = CliRunner.ok("demo", "--work-dir", dir.toString(), "--train-examples", "3000", "--task-examples", "600",
                "--fisher-examples", "64", "--test-examples", "1000", "--width", "16", "--heads", "2", "--layers", "1", "--mask",
                "0.02", "--finetune-epochs", "2");
        String out = run.out();
        for (String stage : List.of("stage 1", "stage 2", "stage 3", "stage 4", "stage 5", "stage 6", "stage 7")) {
            assertTrue(out.contains("== " + stage) || out.contains(stage + ":"), stage + " missing:\n" + out);
        }
        assertTrue(out.contains("cosine to pending") && out.contains("trigger probes"), "the vetting report's evidence:\n" + out);
        Map<String, Row> table = table(out);
        assertEquals(List.of("base", "alice patch", "bob patch", "fisher merge", "average", "int8 (fisher merge)"),
                List.copyOf(table.keySet()), out);
        for (var entry : table.entrySet()) {
            Row r = entry.getValue();
            for (double a : new double[] {r.alice(), r.bob(), r.all()}) {
                assertTrue(a >= 0 && a <= 100, entry.getKey() + ": accuracy " + a);
            }
            assertTrue(Double.isFinite(r.seconds()) && r.seconds() >= 0, entry.getKey() + ": seconds " + r.seconds());
            assertEquals(Files.size(dir.resolve(r.file())), r.bytes(), entry.getKey() + ": the size of " + r.file());
        }
        Row base = table.get("base");
        assertTrue(table.get("alice patch").alice() > base.alice(), "alice's patch raises her task's accuracy:\n" + out);
        assertTrue(table.get("bob patch").bob() > base.bob(), "bob's patch raises his task's accuracy:\n" + out);
        assertTrue(table.get("alice patch").bytes() * 10 < base.bytes() && table.get("bob patch").bytes() * 10 < base.bytes(), out);
        assertTrue(table.get("int8 (fisher merge)").bytes() < table.get("fisher merge").bytes(), out);
    }

    @Test
    void badOptionsAreRefusedByName(@TempDir Path dir) {
        CliRunner.fails(1, List.of("--width", "--heads"), "demo", "--work-dir", dir.toString(), "--width", "10", "--heads", "4");
        CliRunner.fails(1, List.of("--mask"), "demo", "--work-dir", dir.toString(), "--mask", "0");
    }

    /** The rows of the markdown table after the last header line, by stage. */
    private static Map<String, Row> table(String out) {
        List<String> lines = out.lines().toList();
        int header = lines.indexOf("| stage | alice's task | bob's task | all classes | file | bytes | seconds |");
        assertTrue(header >= 0, "no table in:\n" + out);
        Map<String, Row> rows = new LinkedHashMap<>();
        for (String line : lines.subList(header + 2, lines.size())) {
            if (!line.startsWith("|")) {
                break;
            }
            String[] cells = line.substring(1, line.length() - 1).split("\\|");
            assertEquals(7, cells.length, line);
            rows.put(cells[0].strip(), new Row(percent(cells[1]), percent(cells[2]), percent(cells[3]), cells[4].strip(),
                    Long.parseLong(cells[5].strip().replace(",", "")), Double.parseDouble(cells[6].strip())));
        }
        return rows;
    }

    private static double percent(String cell) {
        String s = cell.strip();
        assertTrue(s.endsWith("%"), cell);
        return Double.parseDouble(s.substring(0, s.length() - 1));
    }
}
