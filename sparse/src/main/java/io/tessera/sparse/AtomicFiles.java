package io.tessera.sparse;

import java.io.FilterOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.channels.Channels;
import java.nio.channels.FileChannel;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.concurrent.ThreadLocalRandom;

/**
 * Replaces a file atomically with bytes produced by a stream writer, as engine's Safetensors.write does
 * for plain safetensors: a temporary file in the same directory, fsynced, renamed over the target, then
 * the directory fsynced. On failure the temporary file is deleted and the target is left as it was.
 */
final class AtomicFiles {
    /** Writes a file's content; closing {@code out} is allowed and only flushes. */
    @FunctionalInterface
    interface Content {
        void writeTo(OutputStream out) throws IOException;
    }

    private AtomicFiles() {}

    static void write(Path file, Content content) throws IOException {
        Path target = file.toAbsolutePath();
        Path dir = target.getParent();
        Path temp = null;
        try {
            FileChannel channel = null;
            while (channel == null) {
                temp = dir.resolve("." + target.getFileName() + "." + Long.toHexString(ThreadLocalRandom.current().nextLong()) + ".tmp");
                try {
                    channel = FileChannel.open(temp, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE);
                } catch (FileAlreadyExistsException e) {
                    temp = null;
                }
            }
            try (FileChannel out = channel) {
                OutputStream stream = Channels.newOutputStream(out);
                content.writeTo(new FilterOutputStream(stream) {
                    @Override
                    public void write(byte[] b, int off, int len) throws IOException {
                        stream.write(b, off, len);
                    }

                    @Override
                    public void close() throws IOException {
                        flush(); // the channel stays open until it is fsynced below
                    }
                });
                out.force(true);
            }
            Files.move(temp, target, StandardCopyOption.ATOMIC_MOVE);
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
