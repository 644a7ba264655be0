package io.tessera.cli;

import io.tessera.engine.TensorScope;
import io.tessera.sparse.Patch;
import java.io.IOException;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/** A base model with a patch written in. */
@Command(name = "apply", description = {"Write BASE with PATCH applied (plain or .zst). A patch applies only to the model it"
        + " was made from: another base fails and writes nothing.",
    "An int8 BASE (tessera quantize) is patched in float and written as int8: rows the patch leaves alone keep their codes and"
        + " scales; a patched row keeps its scale unless a new value needs a larger one."})
final class ApplyCommand implements Callable<Integer> {

    @Parameters(index = "0", paramLabel = "BASE", description = "The base model the patch was made from (safetensors, or a Hugging Face"
            + " directory: OUT is then a copy of it).")
    Path base;

    @Parameters(index = "1", paramLabel = "PATCH", description = "The patch (tessera diff).")
    Path patch;

    @Option(names = {"-o", "--out"}, required = true, paramLabel = "OUT", description = "The patched model to write.")
    Path out;

    @Option(names = "--json", description = "Print the report as JSON.")
    boolean json;

    @Spec
    CommandSpec spec;

    @Override
    public Integer call() throws IOException {
        Checkpoint.requireWritable(base, out);
        Patch p = PatchFiles.load(patch);
        try (TensorScope scope = TensorScope.open(); Checkpoint b = Checkpoint.read(base)) {
            try {
                p.checkBase(b.tensors());
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException(patch + " does not apply to " + base + ": " + e.getMessage(), e);
            }
            b.writeLike(out, p.tensors().keySet(), name -> p.writtenInto(name, b.tensors().get(name), false), written -> {});
        }
        PatchFiles.report(spec.commandLine().getOut(), json, "applied " + patch + " to " + base, out, p);
        return 0;
    }
}
