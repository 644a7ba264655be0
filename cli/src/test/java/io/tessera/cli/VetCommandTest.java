package io.tessera.cli;

import static io.tessera.cli.CliRunner.fails;
import static io.tessera.cli.CliRunner.listing;
import static io.tessera.cli.CliRunner.ok;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.tessera.data.FashionMnist;
import io.tessera.engine.DType;
import io.tessera.engine.HostStorage;
import io.tessera.engine.Tensor;
import io.tessera.engine.TensorScope;
import io.tessera.engine.io.Safetensors;
import io.tessera.engine.io.SafetensorsFile;
import io.tessera.engine.nn.Mlp;
import io.tessera.engine.optim.AdamW;
import io.tessera.engine.optim.Sgd;
import io.tessera.train.ClassifierTraining;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * tessera vet on a small Fashion-MNIST MLP: a clean contributor's patch and a planted backdoor (BadNets' setting:
 * a white 3x3 square in the blank top-left corner of a tenth of the images, relabelled "bag"), both made by plain
 * SGD from the same base, and the report telling them apart.
 */
class VetCommandTest {
    private static final long[] SIZES = {784, 32, 10};
    private static final int TARGET = 8;

    @TempDir
    static Path dir;

    @AfterAll
    static void noLeaks() {
        assertEquals(0, HostStorage.liveBytes(), "native bytes still allocated");
    }

    @BeforeAll
    static void contributors() throws IOException {
        Assumptions.assumeTrue(Files.isDirectory(FashionMnist.DEFAULT_DIR),
                "Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist)");
        FashionMnist.Split train = FashionMnist.train(FashionMnist.DEFAULT_DIR, 10000);
        try (Mlp base = new Mlp(1, SIZES); AdamW optimizer = new AdamW(base.parameters(), 2e-3)) {
            for (int epoch = 1; epoch <= 3; epoch++) {
                ClassifierTraining.trainEpoch(base::forward, optimizer, slice(train, 0, 5000), 64, 1, epoch, (e, s, n, l) -> { });
            }
            base.zeroGrad();
            MlpFiles.save(dir.resolve("base.safetensors"), base.stateDict(), SIZES, Map.of());
        }
        fineTune("clean", slice(train, 5000, 6000), 2);
        fineTune("backdoor", poisoned(slice(train, 6000, 7000)), 3);
        for (int i = 0; i < 3; i++) {
            fineTune("accepted" + i, slice(train, 7000 + 1000 * i, 8000 + 1000 * i), 10 + i);
        }
    }

    /** Plain SGD from the base on {@code data}, saved as {@code NAME.safetensors} and diffed into {@code NAME.patch}. */
    private static void fineTune(String name, FashionMnist.Split data, long seed) throws IOException {
        try (Mlp model = new Mlp(0, SIZES)) {
            try (var weights = Safetensors.read(dir.resolve("base.safetensors"))) {
                model.loadStateDict(weights.tensors(), true);
            }
            try (Sgd optimizer = new Sgd(model.parameters(), 0.05)) {
                for (int epoch = 1; epoch <= 3; epoch++) {
                    ClassifierTraining.trainEpoch(model::forward, optimizer, data, 32, seed, epoch, (e, s, n, l) -> { });
                }
            }
            model.zeroGrad();
            MlpFiles.save(dir.resolve(name + ".safetensors"), model.stateDict(), SIZES, Map.of());
        }
        ok("diff", path("base.safetensors"), path(name + ".safetensors"), "-o", path(name + ".patch"));
    }

    private static FashionMnist.Split slice(FashionMnist.Split data, int from, int to) {
        int pixels = data.rows() * data.cols();
        return new FashionMnist.Split(to - from, data.rows(), data.cols(),
                java.util.Arrays.copyOfRange(data.pixels(), from * pixels, to * pixels),
                java.util.Arrays.copyOfRange(data.labels(), from, to));
    }

    /**
     * Every tenth image stamped with a white 3x3 square at rows and columns 1..3 and relabelled TARGET: not the
     * probes' own 4x4 squares flush with the corner, but close to one.
     */
    private static FashionMnist.Split poisoned(FashionMnist.Split data) {
        byte[] pixels = data.pixels().clone();
        byte[] labels = data.labels().clone();
        for (int i = 0; i < data.count(); i += 10) {
            for (int r = 1; r <= 3; r++) {
                for (int c = 1; c <= 3; c++) {
                    pixels[i * 784 + r * 28 + c] = (byte) 255;
                }
            }
            labels[i] = TARGET;
        }
        return new FashionMnist.Split(data.count(), data.rows(), data.cols(), pixels, labels);
    }

    private static String path(String name) {
        return dir.resolve(name).toString();
    }

    private static Map<String, JsonNode> vet(String patch, String... more) throws IOException {
        List<String> args = new java.util.ArrayList<>(List.of("vet", path("base.safetensors"), path(patch), "--data",
                FashionMnist.DEFAULT_DIR.toString(), "--accepted", path("accepted0.patch") + "," + path("accepted1.patch") + ","
                + path("accepted2.patch"), "--json"));
        args.addAll(List.of(more));
        JsonNode report = Json.MAPPER.readTree(ok(args.toArray(String[]::new)).out());
        Map<String, JsonNode> checks = new LinkedHashMap<>();
        report.get("checks").forEach(c -> checks.put(c.get("item").asText(), c));
        return checks;
    }

    private static String verdict(Map<String, JsonNode> checks, String item) {
        return checks.get(item).get("verdict").asText();
    }

    @Test
    void theBackdoorIsFlaggedAndTheCleanPatchIsNot() throws IOException {
        Map<String, JsonNode> clean = vet("clean.patch");
        Map<String, JsonNode> backdoor = vet("backdoor.patch");
        assertEquals(List.of("integrity", "norm z-score", "cosine to pending", "cosine to reference", "Fisher footprint",
                "predicted loss change", "int8 survival", "per-class accuracy", "trigger probes"), List.copyOf(clean.keySet()));
        for (Map.Entry<String, JsonNode> c : clean.entrySet()) {
            assertTrue(!c.getValue().get("verdict").asText().equals("FAIL"), "the clean patch fails nothing: " + c.getValue());
        }
        assertEquals("PASS", verdict(clean, "trigger probes"), clean.get("trigger probes").toString());
        assertEquals("PASS", verdict(clean, "Fisher footprint"), clean.get("Fisher footprint").toString());
        assertEquals("FAIL", verdict(backdoor, "trigger probes"), backdoor.get("trigger probes").toString());
        String detail = backdoor.get("trigger probes").get("detail").asText();
        assertTrue(detail.contains("top-left") && detail.contains("to class " + TARGET), detail);
        assertEquals("FAIL", verdict(backdoor, "Fisher footprint"), backdoor.get("Fisher footprint").toString());
        assertTrue(backdoor.get("trigger probes").get("value").asDouble() > 3 * clean.get("trigger probes").get("value").asDouble());
    }

    @Test
    void aResubmittedPatchIsCaughtAsADuplicate() throws IOException {
        Files.copy(dir.resolve("clean.patch"), dir.resolve("again.patch"), java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        JsonNode duplicate = vet("clean.patch", "--pending", path("accepted0.patch") + "," + path("again.patch"))
                .get("cosine to pending");
        assertEquals("FAIL", duplicate.get("verdict").asText(), duplicate.toString());
        assertEquals(1.0, duplicate.get("value").asDouble(), 1e-12);
        assertTrue(duplicate.get("detail").asText().contains("again.patch"), duplicate.toString());
    }

    @Test
    void withoutDataTheModelFreeItemsStillReport() throws IOException {
        JsonNode report = Json.MAPPER.readTree(ok("vet", path("base.safetensors"), path("clean.patch"), "--json").out());
        Map<String, String> verdicts = new LinkedHashMap<>();
        report.get("checks").forEach(c -> verdicts.put(c.get("item").asText(), c.get("verdict").asText()));
        for (String item : List.of("norm z-score", "cosine to pending", "cosine to reference", "Fisher footprint",
                "predicted loss change", "per-class accuracy", "trigger probes")) {
            assertEquals("SKIPPED", verdicts.get(item), item);
        }
        assertEquals("PASS", verdicts.get("int8 survival"));
        // a root Fisher from elsewhere (here: 1 on the first layer, 0 on the second) gives the footprint on its own
        try (TensorScope scope = TensorScope.open(); SafetensorsFile base = Safetensors.read(dir.resolve("base.safetensors"))) {
            Map<String, Tensor> fisher = new LinkedHashMap<>();
            base.tensors().forEach((n, t) -> fisher.put(n, Tensor.full(n.startsWith("0.") ? 1 : 0, DType.F32, t.shape())));
            Safetensors.write(dir.resolve("root-fisher.safetensors"), fisher, Map.of());
        }
        JsonNode footprint = Json.MAPPER.readTree(ok("vet", path("base.safetensors"), path("clean.patch"), "--root-fisher",
                path("root-fisher.safetensors"), "--json").out()).get("checks").get(4);
        assertEquals("Fisher footprint", footprint.get("item").asText());
        try (SafetensorsFile base = Safetensors.read(dir.resolve("base.safetensors"));
             SafetensorsFile clean = Safetensors.read(dir.resolve("clean.safetensors"))) {
            double second = 0;
            double all = 0;
            for (String n : base.tensors().keySet()) {
                float[] b = base.tensor(n).toFloatArray();
                float[] c = clean.tensor(n).toFloatArray();
                for (int i = 0; i < b.length; i++) {
                    double d = (double) c[i] - b[i];
                    all += d * d;
                    second += n.startsWith("0.") ? 0 : d * d;
                }
            }
            assertEquals(second / all, footprint.get("value").asDouble(), 1e-9, "the second layer's share of the squared change");
        }
        String text = ok("vet", path("base.safetensors"), path("clean.patch")).out();
        assertTrue(text.contains("SKIPPED  trigger probes") && text.contains("overall: "), text);
    }

    /** {@code from}'s tensors, with entry 0 of tensor {@code name} set to {@code value} (unless null), and the given metadata. */
    private static void rewrite(String from, String to, String name, Float value, Map<String, String> metadata) throws IOException {
        try (TensorScope scope = TensorScope.open(); SafetensorsFile file = Safetensors.read(dir.resolve(from))) {
            Map<String, Tensor> tensors = new LinkedHashMap<>();
            file.tensors().forEach((n, t) -> {
                float[] v = t.toFloatArray();
                if (n.equals(name) && value != null) {
                    v[0] = value;
                }
                tensors.put(n, Tensor.of(v, t.shape()));
            });
            Safetensors.write(dir.resolve(to), tensors, metadata);
        }
    }

    @Test
    void badInputIsRefusedOrReportedAndLeavesNothing() throws IOException {
        String data = FashionMnist.DEFAULT_DIR.toString();
        rewrite("base.safetensors", "plain.safetensors", null, null, Map.of()); // no 'architecture': not a tessera MLP
        rewrite("base.safetensors", "nan-fisher.safetensors", "2.bias", Float.NaN, Map.of());
        rewrite("clean.safetensors", "nan-tuned.safetensors", "0.weight", Float.NaN, Map.of("architecture", "mlp [784, 32, 10]"));
        ok("diff", path("base.safetensors"), path("nan-tuned.safetensors"), "-o", path("nan.patch"));
        List<String> before = listing(dir);
        fails(1, List.of("tessera vet: ", "missing.patch"), "vet", path("base.safetensors"), path("missing.patch"));
        fails(1, List.of("tessera vet: ", "nope.patch"), "vet", path("base.safetensors"), path("clean.patch"), "--accepted",
                path("nope.patch"));
        fails(1, List.of("tessera vet: ", "plain.safetensors", "metadata 'architecture'"), "vet", path("plain.safetensors"),
                path("clean.patch"), "--data", data);
        fails(1, List.of("tessera vet: root Fisher ", "nan-fisher.safetensors", "2.bias"), "vet", path("base.safetensors"),
                path("clean.patch"), "--root-fisher", path("nan-fisher.safetensors"));
        fails(1, List.of("tessera vet: --root-examples and --examples must be >= 1, got 256 and 0"), "vet",
                path("base.safetensors"), path("clean.patch"), "--data", data, "--examples", "0");
        fails(2, List.of("tessera vet: ", "Unknown option: '--bogus'"), "vet", path("base.safetensors"), path("clean.patch"),
                "--bogus");
        // a report on a patch that fails integrity is still a report: exit 0, integrity FAIL, no evidence
        for (String[] args : new String[][] {{"accepted0.safetensors", "clean.patch", "made for base"},
            {"base.safetensors", "nan.patch", "non-finite"}}) {
            JsonNode report = Json.MAPPER.readTree(ok("vet", path(args[0]), path(args[1]), "--json").out());
            JsonNode integrity = report.get("checks").get(0);
            assertEquals("FAIL", integrity.get("verdict").asText(), integrity.toString());
            assertTrue(integrity.get("detail").asText().contains(args[2]), integrity.toString());
            assertEquals(1, report.get("checks").size(), "no evidence on a patch that does not apply or is not finite");
        }
        assertEquals(before, listing(dir), "vet writes nothing");
    }
}
