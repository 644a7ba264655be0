package io.tessera.cli;

import static io.tessera.cli.CliRunner.fails;
import static io.tessera.cli.CliRunner.listing;
import static io.tessera.cli.CliRunner.ok;
import static org.junit.jupiter.api.Assertions.assertEquals;

import io.tessera.engine.Tensor;
import io.tessera.engine.TensorScope;
import io.tessera.engine.io.Safetensors;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** tessera merge --method ...: the same file as the equivalent YAML, in tessera's keys or mergekit's; bad flags are usage errors. */
class MergeFlagsTest {
    @TempDir
    Path dir;

    private void model(String name, long seed, boolean positive, float poison) throws IOException {
        SplittableRandom random = new SplittableRandom(seed);
        try (TensorScope scope = TensorScope.open()) {
            Map<String, Tensor> tensors = new LinkedHashMap<>();
            for (Object[] t : new Object[][] {{"layer.weight", new long[] {6, 5}}, {"layer.bias", new long[] {6}}}) {
                long[] shape = (long[]) t[1];
                float[] v = new float[(int) (shape.length == 2 ? shape[0] * shape[1] : shape[0])];
                for (int i = 0; i < v.length; i++) {
                    v[i] = (float) (positive ? random.nextDouble() + 0.01 : random.nextGaussian());
                }
                v[0] = Float.isNaN(poison) ? poison : v[0];
                tensors.put((String) t[0], Tensor.of(v, shape));
            }
            Safetensors.write(dir.resolve(name), tensors, Map.of());
        }
    }

    @BeforeEach
    void models() throws IOException {
        model("base.safetensors", 1, false, 0);
        model("a.safetensors", 2, false, 0);
        model("b.safetensors", 3, false, 0);
        model("fa.safetensors", 4, true, 0);
        model("fb.safetensors", 5, true, 0);
        model("nan.safetensors", 6, false, Float.NaN);
    }

    private String path(String name) {
        return dir.resolve(name).toString();
    }

    private void write(String name, String yaml) throws IOException {
        Files.writeString(dir.resolve(name), yaml);
    }

    private void assertSameFile(String a, String b) throws IOException {
        assertEquals(-1, Files.mismatch(dir.resolve(a), dir.resolve(b)), a + " and " + b + " differ");
    }

    @Test
    void flagsAndTheEquivalentYamlWriteTheSameFile() throws IOException {
        String models = path("a.safetensors") + "," + path("b.safetensors");
        ok("merge", "--method", "fisher", "--models", models, "--fishers", path("fa.safetensors") + "," + path("fb.safetensors"),
                "--weights", "0.25,0.75", "-o", path("fisher-flags.safetensors"));
        write("fisher.yaml", """
                method: fisher
                models:
                  - {path: a.safetensors, fisher: fa.safetensors, weight: 0.25}
                  - {path: b.safetensors, fisher: fb.safetensors, weight: 0.75}
                out: fisher-yaml.safetensors
                """);
        ok("merge", path("fisher.yaml"));
        assertSameFile("fisher-flags.safetensors", "fisher-yaml.safetensors");

        ok("merge", "--method", "average", "--models", models, "--weights", "0.3,0.7", "--dtype", "bf16", "-o",
                path("linear-flags.safetensors"));
        write("linear.yaml", """
                merge_method: linear
                models:
                  - model: a.safetensors
                    parameters: {weight: 0.3}
                  - model: b.safetensors
                    parameters: {weight: 0.7}
                dtype: bfloat16
                """);
        ok("merge", path("linear.yaml"), "-o", path("linear-yaml.safetensors"));
        assertSameFile("linear-flags.safetensors", "linear-yaml.safetensors");

        ok("merge", "--method", "task-arithmetic", "--base", path("base.safetensors"), "--models", models, "--weights", "0.5,0.8",
                "-o", path("ta-flags.safetensors"));
        write("ta.yaml", """
                merge_method: task_arithmetic
                base_model: base.safetensors
                models:
                  - model: a.safetensors
                    parameters: {weight: 0.5}
                  - model: b.safetensors
                    parameters: {weight: 0.8}
                """);
        ok("merge", path("ta.yaml"), "-o", path("ta-yaml.safetensors"));
        assertSameFile("ta-flags.safetensors", "ta-yaml.safetensors");

        ok("merge", "--method", "dare", "--base", path("base.safetensors"), "--models", models, "--density", "0.4", "--seed", "3",
                "-o", path("dare-flags.safetensors"));
        write("dare.yaml", """
                merge_method: dare_linear
                base_model: base.safetensors
                models:
                  - model: a.safetensors
                    parameters: {weight: 1.0, density: 0.4}
                  - model: b.safetensors
                    parameters: {weight: 1.0, density: 0.4}
                parameters: {seed: 3}
                """);
        ok("merge", path("dare.yaml"), "-o", path("dare-yaml.safetensors"));
        assertSameFile("dare-flags.safetensors", "dare-yaml.safetensors");
    }

    /** mergekit's own TIES example, paths aside: runs unchanged, and agrees with the flags. */
    @Test
    void aMergekitConfigRunsUnchanged() throws IOException {
        write("mergekit.yaml", """
                models:
                  - model: a.safetensors
                    parameters:
                      density: 0.5
                      weight: 0.5
                  - model: b.safetensors
                    parameters:
                      density: 0.5
                      weight: 0.5
                merge_method: ties
                base_model: base.safetensors
                parameters:
                  normalize: true
                  int8_mask: true
                dtype: float16
                """);
        ok("merge", path("mergekit.yaml"), "-o", path("mergekit.safetensors"));
        ok("merge", "--method", "ties", "--base", path("base.safetensors"), "--models", path("a.safetensors") + ","
                + path("b.safetensors"), "--density", "0.5", "--dtype", "f16", "-o", path("ties-flags.safetensors"));
        assertSameFile("mergekit.safetensors", "ties-flags.safetensors");
    }

    @Test
    void badFlagsAreUsageErrorsAndBadInputFailsWithoutOutput() throws IOException {
        String models = path("a.safetensors") + "," + path("b.safetensors");
        write("m.yaml", "method: average\nmodels: [{path: a.safetensors}]\nout: x.safetensors\n");
        List<String> before = listing(dir);
        String out = path("out.safetensors");
        fails(2, List.of("tessera merge: --method must be one of", "'slerp'"), "merge", "--method", "slerp", "--models", models,
                "-o", out);
        fails(2, List.of("tessera merge: --weights has 3 values for 2 models"), "merge", "--method", "average", "--models", models,
                "--weights", "1,2,3", "-o", out);
        fails(2, List.of("tessera merge: --method fisher needs --fishers"), "merge", "--method", "fisher", "--models", models,
                "-o", out);
        fails(2, List.of("tessera merge: --density is for ties and dare only"), "merge", "--method", "average", "--models", models,
                "--density", "0.5", "-o", out);
        fails(2, List.of("tessera merge: give a merge config, or --method, --models and -o"), "merge", "--method", "average",
                "--models", models);
        fails(2, List.of("tessera merge: give a config or the flags"), "merge", path("m.yaml"), "--method", "average");
        fails(2, List.of("tessera merge: ", "'--weights'"), "merge", "--method", "average", "--models", models, "--weights", "x",
                "-o", out);
        fails(2, List.of("tessera merge: --method task-arithmetic needs --base"), "merge", "--method", "task-arithmetic", "--models",
                models, "-o", out);
        fails(2, List.of("tessera merge: --dtype must be f32, bf16 or f16, got 'f8'"), "merge", "--method", "average", "--models",
                models, "--dtype", "f8", "-o", out);
        fails(1, List.of("tessera merge: ", "missing.safetensors"), "merge", "--method", "average", "--models",
                path("missing.safetensors") + "," + path("a.safetensors"), "-o", out);
        fails(1, List.of("tessera merge: model ", "nan.safetensors", "holds 1 NaN"), "merge", "--method", "average", "--models",
                path("nan.safetensors") + "," + path("a.safetensors"), "-o", out);
        assertEquals(before, listing(dir), "no output, no temporary left behind");
    }

    @Test
    void mergekitMethodsWithoutACounterpartAndUnknownKeysAreRefusedByName() throws IOException {
        String[][] configs = {
            {"merge_method: dare_ties\nbase_model: base.safetensors\nmodels: [{model: a.safetensors}]\n",
                "mergekit's method 'dare_ties' has no tessera counterpart"},
            {"merge_method: slerp\nmodels: [{model: a.safetensors}]\n", "mergekit's method 'slerp' has no tessera counterpart"},
            {"merge_method: linear\nmodels: [{model: a.safetensors}]\ntokenizer_source: union\n", "unknown key 'tokenizer_source'"},
            {"merge_method: linear\nmethod: average\nmodels: [{model: a.safetensors}]\n", "'method' and 'merge_method' say the same"},
            {"merge_method: ties\nbase_model: base.safetensors\nmodels:\n  - {model: a.safetensors, parameters: {density: 0.5}}\n"
                + "  - {model: b.safetensors, parameters: {density: 0.3}}\n", "per-model densities [0.5, 0.3] differ"},
            {"merge_method: ties\nbase_model: base.safetensors\nmodels:\n  - {model: a.safetensors, parameters: {weight: 1}}\n"
                + "  - {model: b.safetensors, parameters: {weight: 2}}\n", "ties weighs models equally here"},
            {"merge_method: linear\nmodels: [{model: a.safetensors}]\nparameters: {normalize: false}\n",
                "'parameters.normalize: false' is not what method linear does here"},
            {"merge_method: dare_linear\nbase_model: base.safetensors\nmodels: [{model: a.safetensors}]\nparameters: {rescale: false}\n",
                "'parameters.rescale: false' is not what method dare_linear does here"},
            {"merge_method: task_arithmetic\nbase_model: base.safetensors\nmodels: [{model: a.safetensors}]\nparameters: {lambda: 0.5}\n",
                "'parameters.lambda' scales ties only here"},
            {"merge_method: linear\nmodels: [{model: a.safetensors}]\n", "'out' is missing (or give -o)"}};
        for (String[] c : configs) {
            write("k.yaml", c[0]);
            List<String> before = listing(dir);
            fails(1, List.of("tessera merge: " + path("k.yaml") + ": ", c[1]), "merge", path("k.yaml"));
            assertEquals(before, listing(dir), c[0]);
        }
    }
}
