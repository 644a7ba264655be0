package io.tessera.engine.io;

import java.io.FileNotFoundException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * What is wrong with an input path, said plainly before a reader fails on it with less: Java's own
 * exceptions give a missing file's bare path, and reading a directory fails with "Is a directory" and no path.
 */
public final class InputFiles {
    private InputFiles() {}

    /** "no such file: PATH", "PATH is a directory, not a file", or null if {@code file} exists and is not a directory. */
    public static String problem(Path file) {
        if (Files.isDirectory(file)) {
            return file + " is a directory, not a file";
        }
        return Files.exists(file) ? null : "no such file: " + file;
    }

    /** Throws a FileNotFoundException with {@link #problem}'s message if there is one. */
    public static void requireFile(Path file) throws FileNotFoundException {
        String problem = problem(file);
        if (problem != null) {
            throw new FileNotFoundException(problem);
        }
    }
}
