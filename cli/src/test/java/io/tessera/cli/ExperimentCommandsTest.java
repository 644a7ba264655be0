package io.tessera.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.tessera.data.FashionMnist;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** tessera experiment fish / merge at a tiny scale: the files they write, and what their tables must say. */
class ExperimentCommandsTest {
    private static final long MLP_PARAMETERS = 784 * 256 + 256 + 256 * 10 + 10;
    private static final String[] TINY = {"--pretrain-epochs", "1", "--pretrain-examples", "3000", "--epochs", "1", "--examples", "1000",
        "--validation", "600", "--fisher-examples", "128"};

    @TempDir
    Path dir;

    @BeforeAll
    static void needsTheData() {
        assumeTrue(Files.isDirectory(FashionMnist.DEFAULT_DIR), "Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist)");
    }

    private static String[] args(String experiment, Path out, String... more) {
        List<String> all = new ArrayList<>(List.of("experiment", experiment, "--out-dir", out.toString()));
        all.addAll(Arrays.asList(TINY));
        all.addAll(Arrays.asList(more));
        return all.toArray(String[]::new);
    }

    @Test
    void fishWritesItsTableAndPlotWithTheFractionsItStates() throws IOException {
        String[] args = args("fish", dir, "--seeds", "2", "--densities", "0.005,0.02", "--rates", "3e-3,3e-2");
        CliRunner.ok(args);
        assertEquals(List.of("fish.md", "fish.png"), CliRunner.listing(dir), "the two results and no temporary file");
        checkPng(dir.resolve("fish.png"));
        String md = Files.readString(dir.resolve("fish.md"));
        assertTrue(md.contains("tessera experiment fish " + String.join(" ", Arrays.copyOfRange(args, 2, args.length))), md);

        Map<String, List<String>> rows = table(md, "| arm |");
        assertEquals(1 + 1 + 2 * 3, rows.size(), rows.keySet().toString());
        double pretrained = mean(rows.get("pretrained model (no fine-tuning)").get(5));
        double full = mean(rows.get("full fine-tuning 100%").get(5));
        assertTrue(full > pretrained + 20, "fine-tuning on classes 5-9 teaches them: " + full + " vs " + pretrained);
        assertEquals(String.format("%,d", MLP_PARAMETERS), rows.get("full fine-tuning 100%").get(2));
        for (String arm : List.of("FISH mask", "random mask", "largest-magnitude mask")) {
            for (double density : new double[] {0.005, 0.02}) {
                List<String> row = rows.get(arm + " " + (density == 0.005 ? "0.5%" : "2%"));
                assertNotNull(row, arm + " " + density + " in " + rows.keySet());
                assertEquals(String.format("%,d", (long) Math.floor(density * MLP_PARAMETERS)), row.get(2),
                        arm + " trains exactly the fraction");
                assertTrue(List.of("3e-3", "3e-2").contains(row.get(4)), "a rate from the grid: " + row);
                assertTrue(row.get(5).matches("\\d+\\.\\d\\d ± \\d+\\.\\d\\d"), "mean ± std over 2 seeds: " + row);
            }
        }
        assertTrue(md.contains("## What this shows"), md);
        Map<String, List<String>> parts = placement(md);
        assertEquals(6, parts.size(), "a row per masked arm: " + parts.keySet());
        parts.values().forEach(row -> assertEquals("0.0", row.get(3), "an MLP has no position embeddings: " + row));
    }

    /** The "where the masks lie" table: per masked arm, the shares of its entries per part, which add up to 100%. */
    private static Map<String, List<String>> placement(String md) {
        String section = md.substring(md.indexOf("## Where the masks lie"));
        Map<String, List<String>> rows = table(section, "| arm |");
        for (List<String> row : rows.values()) {
            assertEquals(100, row.subList(1, row.size()).stream().mapToDouble(Double::parseDouble).sum(), 0.3, row.toString());
        }
        return rows;
    }

    @Test
    void fishRunsOnTheVisionTransformerIntoItsOwnFiles() throws IOException {
        Files.writeString(dir.resolve("fish.md"), "the MLP's results");
        CliRunner.ok(args("fish", dir, "--model", "ViT", "--seeds", "1", "--densities", "0.005", "--rates", "1e-3,1e-2"));
        assertEquals(List.of("fish-vit.md", "fish-vit.png", "fish.md"), CliRunner.listing(dir), "its own files beside the MLP's");
        assertEquals("the MLP's results", Files.readString(dir.resolve("fish.md")));
        checkPng(dir.resolve("fish-vit.png"));
        String md = Files.readString(dir.resolve("fish-vit.md"));
        assertTrue(md.contains("A ViT (28x28 images as 16 patches of 7x7"), md);
        // counted here from the architecture: patch embedding, positions, 2 pre-norm blocks (2 LayerNorms, fused qkv,
        // attention output, a 4x MLP), the final LayerNorm and the head
        long d = 64;
        long block = 2 * 2 * d + (d * 3 * d + 3 * d) + (d * d + d) + (d * 4 * d + 4 * d) + (4 * d * d + d);
        long parameters = (49 * d + d) + 16 * d + 2 * block + 2 * d + (d * 10 + 10);
        Map<String, List<String>> rows = table(md, "| arm |");
        Map<String, List<String>> parts = placement(md);
        List<String> full = rows.get("full fine-tuning 100%");
        assertEquals(String.format("%,d", parameters), full.get(2));
        assertEquals(100.0 * (d * 10 + 10) / parameters, Double.parseDouble(full.get(3)), 0.01, "the head's share of all parameters");
        assertTrue(mean(full.get(5)) > mean(rows.get("pretrained model (no fine-tuning)").get(5)) + 20, "fine-tuning teaches 5-9: " + full);
        for (String arm : List.of("FISH mask", "random mask", "largest-magnitude mask")) {
            List<String> row = rows.get(arm + " 0.5%");
            assertEquals(String.format("%,d", (long) Math.floor(0.005 * parameters)), row.get(2), arm + " trains exactly the fraction");
            double inHead = Double.parseDouble(row.get(3));
            assertTrue(inHead >= 0 && inHead <= 100, row.toString());
            assertEquals(inHead, Double.parseDouble(parts.get(arm + " 0.5%").get(1)), 0.06,
                    "the output layer's share agrees (to the shown digits)");
        }
    }

    @Test
    void mergeWritesItsTableAndPlotForBothKindsOfContribution() throws IOException {
        CliRunner.ok(args("merge", dir, "--seeds", "1", "--rates", "3e-3"));
        assertEquals(List.of("merge.md", "merge.png"), CliRunner.listing(dir));
        checkPng(dir.resolve("merge.png"));
        String md = Files.readString(dir.resolve("merge.md"));
        List<String> sections = Arrays.asList(md.split("\n## "));
        List<String> tables = sections.stream().filter(s -> s.contains("| model |")).toList();
        assertEquals(2, tables.size(), "fully fine-tuned and FISH-patch contributions");
        assertTrue(tables.get(0).startsWith("Fully fine-tuned") && tables.get(1).startsWith("0.5% FISH-mask"), tables.toString());
        Map<String, List<String>> full = table(tables.get(0), "| model |");
        // fully fine-tuned, A's model learns task A and B's task B even at this scale: far above chance (1/3, 1/2)
        assertTrue(mean(full.get("A alone").get(2)) > 60, full.get("A alone").toString());
        assertTrue(mean(full.get("B alone").get(3)) > 75, full.get("B alone").toString());
        for (String section : tables) {
            Map<String, List<String>> rows = table(section, "| model |");
            assertEquals(List.of("A alone", "B alone", "one model on A+B", "average", "Fisher", "task arithmetic", "TIES (density 0.2)",
                    "DARE (drop 0.9)", "RegMean"), List.copyOf(rows.keySet()));
            double[] weights = Arrays.stream(rows.get("average").get(1).replace("weights ", "").split(", "))
                    .mapToDouble(Double::parseDouble).toArray();
            assertEquals(1, weights[0] + weights[1], 1e-9, "averaging weights sum to 1: " + rows.get("average"));
            for (List<String> row : rows.values()) {
                for (String cell : row.subList(2, 5)) {
                    assertTrue(mean(cell) >= 0 && mean(cell) <= 100, row.toString());
                }
            }
        }
    }

    @Test
    void aFailedRunLeavesThePreviousResultsAsTheyWere() throws IOException {
        Files.writeString(dir.resolve("fish.md"), "earlier results");
        CliRunner.fails(1, List.of("tessera", "/nonexistent/fashion"), "experiment", "fish", "--out-dir", dir.toString(), "--data",
                "/nonexistent/fashion");
        assertEquals(List.of("fish.md"), CliRunner.listing(dir));
        assertEquals("earlier results", Files.readString(dir.resolve("fish.md")));
    }

    @Test
    void badOptionsAreUsageErrors() throws IOException {
        Path out = dir.resolve("never");
        CliRunner.fails(2, List.of("tessera experiment fish", "--seeds"), "experiment", "fish", "--out-dir", out.toString(),
                "--seeds", "0");
        CliRunner.fails(2, List.of("--densities", "1.5"), "experiment", "fish", "--out-dir", out.toString(), "--densities", "0.01,1.5");
        CliRunner.fails(2, List.of("--rates"), "experiment", "fish", "--out-dir", out.toString(), "--rates", "-1");
        CliRunner.fails(2, List.of("--model must be mlp or vit, got 'resnet'"), "experiment", "fish", "--out-dir", out.toString(),
                "--model", "resnet");
        CliRunner.fails(2, List.of("--fish-density"), "experiment", "merge", "--out-dir", out.toString(), "--fish-density", "0");
        CliRunner.fails(2, List.of("Unknown option: '--bogus'"), "experiment", "merge", "--bogus");
        CliRunner.fails(2, List.of("tessera experiment"), "experiment");
        assertTrue(Files.notExists(out));
        assertTrue(CliRunner.ok("experiment", "fish", "--help").out().contains("--densities"));
        assertTrue(CliRunner.ok("experiment", "merge", "--help").out().contains("--fish-density"));
    }

    private static void checkPng(Path file) throws IOException {
        BufferedImage image = ImageIO.read(file.toFile());
        assertNotNull(image, file + " is a PNG");
        assertTrue(image.getWidth() >= 640 && image.getHeight() >= 400, image.getWidth() + "x" + image.getHeight());
    }

    /** The rows of the first markdown table whose header starts with {@code header}, keyed by the first cell (and the density). */
    private static Map<String, List<String>> table(String md, String header) {
        Map<String, List<String>> rows = new LinkedHashMap<>();
        List<String> lines = md.lines().toList();
        int start = 0;
        while (!lines.get(start).startsWith(header)) {
            start++;
        }
        boolean byDensity = lines.get(start).startsWith("| arm | density |");
        for (int i = start + 2; i < lines.size() && lines.get(i).startsWith("|"); i++) {
            String line = lines.get(i);
            List<String> cells = Arrays.stream(line.substring(1, line.length() - 1).split("\\|")).map(String::strip).toList();
            String key = byDensity && !cells.get(1).equals("-") ? cells.get(0) + " " + cells.get(1) : cells.get(0);
            rows.put(key, cells);
        }
        return rows;
    }

    /** The mean of a "mean ± std" or plain percentage cell. */
    private static double mean(String cell) {
        return Double.parseDouble(cell.split(" ")[0]);
    }
}
