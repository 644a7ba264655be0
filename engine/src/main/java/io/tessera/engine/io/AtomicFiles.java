package io.tessera.engine.io;

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
 * Replaces a file atomically: the content goes to a temporary file in the same directory, which is
 * fsynced, renamed over the target, and then the directory is fsynced. On any failure the temporary file
 * is deleted and the target is left as it was, so a crash never leaves a half-written model, mask or patch.
 */
public final class AtomicFiles {
    private AtomicFiles() {}

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

    public static void write(Path file, ChannelContent content) throws IOException {
        Path target = file.toAbsolutePath();
        Path dir = target.getParent();
        Path temp = null;
        try {
            FileChannel channel = null;
            while (channel == null) {
                String name = target.getFileName().toString();
                temp = dir.resolve("." + (name.length() > 100 ? name.substring(0, 100) : name) + "."
                        + Long.toHexString(ThreadLocalRandom.current().nextLong()) + ".tmp");
                try {
                    channel = FileChannel.open(temp, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE);
                } catch (FileAlreadyExistsException e) {
                    temp = null;
                }
            }
            try (FileChannel out = channel) {
                content.writeTo(out);
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
