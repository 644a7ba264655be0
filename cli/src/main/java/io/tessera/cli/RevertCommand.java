package io.tessera.cli;

import io.tessera.engine.TensorScope;
import io.tessera.sparse.ModelDigest;
import io.tessera.sparse.Patch;
import java.io.IOException;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/** The base model back from a patched one, with the values the patch carries. */
@Command(name = "revert", description = {"Write the base model back from PATCHED: the values PATCH replaced are written back."
        + " Fails, writing nothing, unless PATCHED holds the patch and the result is exactly the patch's base.",
    "An int8 PATCHED comes back exactly when every row the patch touched kept its scale in 'tessera apply' (its new values"
        + " fit the old scale); a row whose scale had to grow lost resolution, and revert then fails."})
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
            // an int8 model holds the patch's values requantized, not bit for bit: only the result's digest can tell
            if (model.plain()) {
                try {
                    p.checkRevertible(model.tensors());
                } catch (IllegalArgumentException e) {
                    throw new IllegalArgumentException(patch + " does not revert " + patched + ": " + e.getMessage(), e);
                }
            }
            model.writeLike(out, p.tensors().keySet(), name -> p.writtenInto(name, model.tensors().get(name), true), written -> {
                String digest;
                try (Checkpoint result = Checkpoint.read(written)) {
                    digest = ModelDigest.of(result.tensors());
                }
                if (!digest.equals(p.baseDigest())) {
                    throw new IllegalArgumentException(patch + " does not revert " + patched + ": the result's digest is " + digest
                            + ", not the patch's base " + p.baseDigest() + (model.plain() ? " (the model differs from the base outside"
                            + " the patch)" : " (the model differs from the base outside the patch, or the patch raised an int8"
                            + " row's scale, which loses what revert would need)"));
                }
            });
        }
        PatchFiles.report(spec.commandLine().getOut(), json, "reverted " + patch + " from " + patched, out, p);
        return 0;
    }
}
