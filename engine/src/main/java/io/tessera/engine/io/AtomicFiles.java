package io.tessera.engine.io;

import java.io.FilterOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.channels.Channels;
import java.nio.channels.FileChannel;
import java.nio.file.AccessDeniedException;
import java.nio.file.DirectoryIteratorException;
import java.nio.file.DirectoryStream;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.concurrent.ThreadLocalRandom;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Replaces a file atomically: the content goes to a temporary file in the same directory, which is
 * fsynced, optionally checked (e.g. read back and evaluated), renamed over the target, and then the
 * directory is fsynced. On any failure the temporary file is deleted and the target is left as it was, so
 * a failed run never leaves a half-written or unchecked model, mask or patch.
 *
 * <p>A temporary file is named {@code .<target name>.<pid>.<random hex>.tmp}. A process that dies while
 * writing (a crash, a kill) cannot delete its own, so each write first deletes the temporary files of the
 * same target whose process is gone: a crash leaves debris only until the next write of that file.
 */
public final class AtomicFiles {
    private AtomicFiles() {}

    /** File names are limited (255 bytes on Linux): a long target name is cut to this many characters in its temporary's. */
    private static final int NAME_PREFIX = 100;

    /** Writes a file's content to a channel (which the caller must not close). */
    @FunctionalInterface
    public interface ChannelContent {
        void writeTo(FileChannel out) throws IOException;
    }

    /** Writes a file's content to a stream; closing the stream is allowed and only flushes. */
    @FunctionalInterface
    public interface StreamContent {
        void writeTo(OutputStream out) throws IOException;
    }

    /** Checks the written content, at {@code written} (the temporary file), before it replaces the target. */
    @FunctionalInterface
    public interface Check {
        void verify(Path written) throws IOException;
    }

    public static void write(Path file, ChannelContent content) throws IOException {
        write(file, content, written -> {});
    }

    /** {@link #write(Path, ChannelContent)}, renaming only if {@code check} returns normally. */
    public static void write(Path file, ChannelContent content, Check check) throws IOException {
        requireWritable(file);
        Path target = file.toAbsolutePath();
        Path dir = target.getParent();
        String prefix = tempPrefix(target);
        deleteStaleTemps(dir, prefix);
        Path temp = null;
        try {
            FileChannel channel = null;
            while (channel == null) {
                temp = dir.resolve(prefix + ProcessHandle.current().pid() + "."
                        + Long.toHexString(ThreadLocalRandom.current().nextLong()) + ".tmp");
                try {
                    channel = FileChannel.open(temp, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE);
                } catch (FileAlreadyExistsException e) {
                    temp = null;
                } catch (FileSystemException e) {
                    temp = null;
                    throw cannotWrite(file, e);
                }
            }
            try (FileChannel out = channel) {
                content.writeTo(out);
                out.force(true);
            }
            check.verify(temp);
            try {
                Files.move(temp, target, StandardCopyOption.ATOMIC_MOVE);
            } catch (FileSystemException e) {
                throw cannotWrite(file, e);
            }
            temp = null;
        } catch (Throwable failure) {
            if (temp != null) {
                try {
                    Files.deleteIfExists(temp);
                } catch (IOException e) {
                    failure.addSuppressed(e);
                }
            }
            throw failure;
        }
        syncDirectory(dir);
    }

    public static void writeStream(Path file, StreamContent content) throws IOException {
        write(file, channel -> {
            OutputStream stream = Channels.newOutputStream(channel);
            content.writeTo(new FilterOutputStream(stream) {
                @Override
                public void write(byte[] b, int off, int len) throws IOException {
                    stream.write(b, off, len);
                }

                @Override
                public void close() throws IOException {
                    flush(); // the channel stays open until it is fsynced
                }
            });
        });
    }

    /**
     * Throws an IOException naming {@code file} and the reason if it cannot be written: it is a directory,
     * or its directory is missing or is not a directory. A long computation whose result goes to {@code file}
     * can call this first, so it fails before the work rather than after.
     */
    public static void requireWritable(Path file) throws IOException {
        Path dir = file.toAbsolutePath().getParent();
        if (Files.isDirectory(file)) {
            throw new IOException("cannot write " + file + ": it is a directory");
        }
        if (!Files.isDirectory(dir)) {
            throw new IOException("cannot write " + file + ": " + (Files.exists(dir) ? dir + " is not a directory"
                    : "the directory " + dir + " does not exist"));
        }
    }

    /** The file-system failure of creating or renaming the temporary file, as the user sees it: their path, not ours. */
    private static IOException cannotWrite(Path file, FileSystemException e) {
        String reason = switch (e) {
            case NoSuchFileException missing -> "the directory " + file.toAbsolutePath().getParent() + " does not exist";
            case AccessDeniedException denied -> "permission denied";
            default -> e.getReason() != null ? e.getReason() : e.getClass().getSimpleName();
        };
        return new IOException("cannot write " + file + ": " + reason, e);
    }

    private static String tempPrefix(Path target) {
        String name = target.getFileName().toString();
        return "." + (name.length() > NAME_PREFIX ? name.substring(0, NAME_PREFIX) : name) + ".";
    }

    /**
     * Deletes the temporary files of this target left by processes that are gone (a live process, this
     * one included, may be writing the same target). Best effort: the write goes ahead if this fails.
     */
    private static void deleteStaleTemps(Path dir, String prefix) {
        Pattern temp = Pattern.compile(Pattern.quote(prefix) + "([0-9]+)\\.[0-9a-f]+\\.tmp");
        try (DirectoryStream<Path> entries = Files.newDirectoryStream(dir, p -> p.getFileName().toString().startsWith(prefix))) {
            for (Path entry : entries) {
                Matcher m = temp.matcher(entry.getFileName().toString());
                if (m.matches() && !alive(m.group(1))) {
                    Files.deleteIfExists(entry);
                }
            }
        } catch (IOException | DirectoryIteratorException e) {
            // unreadable directory or a file that vanished meanwhile: the debris stays for the next write
        }
    }

    private static boolean alive(String pid) {
        try {
            return ProcessHandle.of(Long.parseLong(pid)).isPresent();
        } catch (NumberFormatException e) {
            return false; // more digits than any pid
        }
    }

    private static void syncDirectory(Path dir) throws IOException {
        FileChannel directory;
        try {
            directory = FileChannel.open(dir, StandardOpenOption.READ);
        } catch (IOException | UnsupportedOperationException e) {
            return; // platforms that cannot open a directory (not Linux): the rename is atomic, only not yet durable
        }
        try (directory) {
            directory.force(true);
        }
    }
}
