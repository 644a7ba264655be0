package io.tessera.cli;

import io.tessera.engine.Tensor;
import io.tessera.engine.TensorScope;
import io.tessera.sparse.ModelDigest;
import io.tessera.sparse.Patch;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/** The base model back from a patched one, with the values the patch carries. */
@Command(name = "revert", description = {"Write the base model back from PATCHED: the values PATCH replaced are written back."
        + " Fails, writing nothing, unless PATCHED holds the patch and the result is exactly the patch's base."})
final class RevertCommand implements Callable<Integer> {

    @Parameters(index = "0", paramLabel = "PATCHED", description = "The patched model (tessera apply): safetensors, or a Hugging Face"
            + " directory (BASE is then a copy of it).")
    Path patched;

    @Parameters(index = "1", paramLabel = "PATCH", description = "The patch (tessera diff).")
    Path patch;

    @Option(names = {"-o", "--out"}, required = true, paramLabel = "BASE", description = "The base model to write.")
    Path out;

    @Option(names = "--json", description = "Print the report as JSON.")
    boolean json;

    @Spec
    CommandSpec spec;

    @Override
    public Integer call() throws IOException {
        Checkpoint.requireWritable(patched, out);
        Patch p = PatchFiles.load(patch);
        if (!p.hasBaseValues()) {
            throw new IllegalArgumentException(patch + " does not carry the values it replaces (it was saved without them),"
                    + " so it cannot revert a model; 'tessera diff' writes patches that can");
        }
        try (TensorScope scope = TensorScope.open(); Checkpoint model = Checkpoint.read(patched)) {
            Map<String, Tensor> reverted;
            try {
                reverted = p.revert(model.tensors());
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException(patch + " does not revert " + patched + ": " + e.getMessage(), e);
            }
            String digest = ModelDigest.of(reverted);
            if (!digest.equals(p.baseDigest())) {
                throw new IllegalArgumentException(patch + " does not revert " + patched + ": the result's digest is " + digest
                        + ", not the patch's base " + p.baseDigest() + " (the model differs from the base outside the patch)");
            }
            model.writeLike(out, reverted);
        }
        PatchFiles.report(spec.commandLine().getOut(), json, "reverted " + patch + " from " + patched, out, p);
        return 0;
    }
}
