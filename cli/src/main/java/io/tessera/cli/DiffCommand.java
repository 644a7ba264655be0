package io.tessera.cli;

import io.tessera.engine.NonFinite;
import io.tessera.engine.TensorScope;
import io.tessera.engine.io.AtomicFiles;
import io.tessera.engine.io.InputFiles;
import io.tessera.engine.io.Safetensors;
import io.tessera.engine.io.SafetensorsFile;
import io.tessera.sparse.Compression;
import io.tessera.sparse.Patch;
import io.tessera.sparse.SparseMask;
import java.io.IOException;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/** The sparse patch from a base model to a fine-tuned one. */
@Command(name = "diff", description = {"Write the patch that turns BASE into TUNED: every entry whose bits differ (only inside"
        + " --mask, if given), with the values it replaces, so that 'tessera revert' needs no base.",
    "With --zstd the patch is compressed and its name ends in " + PatchFiles.ZSTD_SUFFIX + " (appended if missing).",
    "With --fisher the patch carries the contributor's Fisher diagonal at its entries, so that 'tessera merge --method"
        + " fisher' can weigh it without their data."})
final class DiffCommand implements Callable<Integer> {

    @Parameters(index = "0", paramLabel = "BASE", description = "The base model (safetensors, or a Hugging Face directory).")
    Path base;

    @Parameters(index = "1", paramLabel = "TUNED", description = "The fine-tuned model: same tensor names, dtypes and shapes.")
    Path tuned;

    @Option(names = "--mask", paramLabel = "MASK", description = "Keep only changes inside this mask (tessera mask).")
    Path mask;

    @Option(names = "--fisher", paramLabel = "F", description = "The Fisher diagonal of TUNED on the contributor's data"
            + " (tessera fisher), stored at the patched entries.")
    Path fisher;

    @Option(names = "--zstd", description = "Compress the patch (zstd).")
    boolean zstd;

    @Option(names = {"-o", "--out"}, required = true, paramLabel = "PATCH", description = "The patch file to write.")
    Path out;

    @Option(names = "--json", description = "Print the report as JSON.")
    boolean json;

    @Spec
    CommandSpec spec;

    @Override
    public Integer call() throws IOException {
        boolean named = out.getFileName().toString().endsWith(PatchFiles.ZSTD_SUFFIX);
        if (named && !zstd) {
            throw new ParameterException(spec.commandLine(), "-o " + out + " names a compressed patch (" + PatchFiles.ZSTD_SUFFIX
                    + "): add --zstd, or choose another name");
        }
        Path target = zstd && !named ? out.resolveSibling(out.getFileName() + PatchFiles.ZSTD_SUFFIX) : out;
        AtomicFiles.requireWritable(target);
        for (Path input : new Path[] {base, tuned}) {
            Checkpoint.requireReadable(input); // all checked before any is read
        }
        if (fisher != null) {
            InputFiles.requireFile(fisher);
        }
        try (TensorScope scope = TensorScope.open(); Checkpoint b = Checkpoint.read(base); Checkpoint t = Checkpoint.read(tuned);
             SafetensorsFile f = fisher == null ? null : Safetensors.read(fisher)) {
            SparseMask selected = mask == null ? null : SparseMask.load(mask);
            Patch patch;
            try {
                String description = tuned.getFileName().toString();
                patch = selected == null ? Patch.diff(b.tensors(), t.tensors(), description)
                        : Patch.diff(b.tensors(), t.tensors(), selected, description);
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException(tuned + " against " + base + (mask == null ? "" : " within " + mask) + ": "
                        + e.getMessage(), e);
            }
            if (f != null) {
                NonFinite.requireNone("Fisher " + fisher, f.tensors());
                try {
                    patch = patch.withFisher(f.tensors());
                } catch (IllegalArgumentException e) {
                    throw new IllegalArgumentException(fisher + ": " + e.getMessage(), e);
                }
            }
            patch.save(target, zstd ? Compression.ZSTD : Compression.NONE, true);
            PatchFiles.report(spec.commandLine().getOut(), json, "diff of " + tuned + " against " + base, target, patch);
        }
        return 0;
    }
}
