package io.tessera.cli;

import io.tessera.engine.io.InputFiles;
import io.tessera.sparse.Patch;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/** What diff, apply and revert share: the patch file's name and reading, and their one-line report. */
final class PatchFiles {
    /** A compressed patch's name ends so; readers take either form (the library detects zstd by its magic bytes). */
    static final String ZSTD_SUFFIX = ".zst";

    private PatchFiles() {}

    /** Reads a plain or compressed patch, naming the file when it is missing or a directory. */
    static Patch load(Path file) throws IOException {
        InputFiles.requireFile(file);
        return Patch.load(file);
    }

    /** Prints "WHAT -> OUT (N entries in T tensors, B bytes)" or the same as JSON. */
    static void report(PrintWriter stdout, boolean json, String what, Path out, Patch patch) throws IOException {
        long bytes = Files.size(out);
        if (json) {
            Map<String, Object> report = new LinkedHashMap<>();
            report.put("out", out.toString());
            report.put("entries", patch.count());
            report.put("tensors", patch.tensors().size());
            report.put("bytes", bytes);
            Json.print(stdout, report);
        } else {
            stdout.printf("%s -> %s (%d entries in %d tensors, %d bytes)%n", what, out, patch.count(), patch.tensors().size(), bytes);
            stdout.flush();
        }
    }
}
