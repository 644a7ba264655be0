package io.tessera.engine.io;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class AtomicFilesTest {
    @TempDir
    Path dir;

    private List<String> listDir() throws IOException {
        try (Stream<Path> s = Files.list(dir)) {
            return s.map(p -> p.getFileName().toString()).sorted().toList();
        }
    }

    private static void write(Path file, String text) throws IOException {
        AtomicFiles.write(file, out -> out.write(java.nio.ByteBuffer.wrap(text.getBytes(StandardCharsets.UTF_8))));
    }

    /** The pid of a process that has exited (pids are not reused that fast). */
    private static long deadPid() throws Exception {
        Process p = new ProcessBuilder("true").start();
        p.waitFor();
        return p.pid();
    }

    @Test
    void aFailedCheckLeavesTheOldFileAndNoTempFile() throws IOException {
        Path file = dir.resolve("model.bin");
        write(file, "old");
        List<Path> checked = new java.util.ArrayList<>();
        IOException e = assertThrows(IOException.class, () -> AtomicFiles.write(file,
                out -> out.write(java.nio.ByteBuffer.wrap(new byte[] {'n', 'e', 'w'})), written -> {
                    checked.add(written);
                    assertEquals("new", Files.readString(written), "the check sees the written content");
                    throw new IOException("evaluation failed");
                }));
        assertEquals("evaluation failed", e.getMessage());
        assertEquals(1, checked.size());
        assertEquals("old", Files.readString(file));
        assertEquals(List.of("model.bin"), listDir());
    }

    @Test
    void staleTempFilesOfDeadProcessesAreDeletedByTheNextWrite() throws Exception {
        long dead = deadPid();
        long live = ProcessHandle.current().pid(); // e.g. another thread of this process writing the same file
        List<String> debris = List.of(".out.bin." + dead + ".1f2e.tmp", ".out.bin." + live + ".3a4b.tmp");
        List<String> others = List.of(".other.bin." + dead + ".5c.tmp", ".out.bin.9f.tmp", "out.bin.tmp", ".out.bin.1." + dead + ".7d.tmp");
        for (String name : Stream.concat(debris.stream(), others.stream()).toList()) {
            Files.writeString(dir.resolve(name), "half-written");
        }
        write(dir.resolve("out.bin"), "done");
        List<String> expected = new java.util.ArrayList<>(others);
        expected.add(debris.get(1));
        expected.add("out.bin");
        assertEquals(expected.stream().sorted().toList(), listDir());
        assertEquals("done", Files.readString(dir.resolve("out.bin")));
    }

    @Test
    void aBadTargetIsNamedWithTheReasonBeforeAnythingIsWritten() throws IOException {
        Path sub = Files.createDirectory(dir.resolve("sub"));
        Files.writeString(dir.resolve("plain"), "x");
        String[][] cases = {
            {sub.toString(), "cannot write " + sub + ": it is a directory"},
            {dir.resolve("missing/out.bin").toString(), "cannot write " + dir.resolve("missing/out.bin") + ": the directory "
                    + dir.resolve("missing") + " does not exist"},
            {dir.resolve("plain/out.bin").toString(), "cannot write " + dir.resolve("plain/out.bin") + ": " + dir.resolve("plain")
                    + " is not a directory"}};
        for (String[] c : cases) {
            IOException e = assertThrows(IOException.class, () -> write(Path.of(c[0]), "x"));
            assertEquals(c[1], e.getMessage());
        }
        assertEquals(List.of("plain", "sub"), listDir());
    }
}
