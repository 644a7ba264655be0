package io.tessera.data;

import java.io.BufferedInputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.zip.GZIPInputStream;
import java.util.zip.ZipException;

/**
 * Reads unsigned-byte IDX files (the format of MNIST and its kin), gzip-compressed or not.
 *
 * <p>Layout: a big-endian magic {@code 0x0000_08_RR} (type 0x08 = unsigned byte, RR = rank), then RR
 * big-endian dimensions, the first being the number of examples, then the data, row-major.
 */
final class IdxReader {
    /** Far above any real IDX data set; a larger count means a corrupt or hostile header. */
    static final int MAX_COUNT = 10_000_000;
    /** Bound for every dimension after the count (image rows, columns, ...). */
    static final int MAX_SIDE = 4096;

    private static final int UNSIGNED_BYTE_TYPE = 0x08;
    /** The largest array the JVM reliably allocates. */
    private static final long MAX_ARRAY_LENGTH = Integer.MAX_VALUE - 8;
    private static final int BUFFER_SIZE = 1 << 16;

    /**
     * The header and the first examples of an IDX file.
     *
     * @param declaredCount the number of examples the header declares
     * @param exampleShape the dimensions after the count (empty for labels, {rows, cols} for images)
     * @param data the examples read, row-major, one byte per value
     */
    record IdxFile(int declaredCount, int[] exampleShape, byte[] data) {}

    private IdxReader() {}

    /** Reads the first {@code min(limit, declared count)} examples of an unsigned-byte IDX file of the given rank. */
    static IdxFile read(Path file, int rank, int limit) throws IOException {
        try (InputStream in = openDecompressed(file)) {
            int[] dims = readHeader(file, in, rank);
            int[] exampleShape = Arrays.copyOfRange(dims, 1, rank);
            long exampleSize = 1;
            for (int side : exampleShape) {
                exampleSize *= side;
            }
            int count = Math.min(dims[0], limit);
            long size = count * exampleSize;
            if (size > MAX_ARRAY_LENGTH) {
                throw formatError(file, count + " examples of " + exampleSize + " bytes exceed the largest Java array");
            }
            // readNBytes allocates as data arrives, so a header that lies about its size cannot make us
            // allocate more than the file really holds.
            byte[] data = in.readNBytes((int) size);
            if (data.length != size) {
                throw formatError(file, "truncated: " + count + " examples need " + size + " bytes of data, found only "
                        + data.length);
            }
            return new IdxFile(dims[0], exampleShape, data);
        } catch (EOFException | ZipException e) {
            throw formatError(file, "truncated or corrupt gzip stream (" + e.getMessage() + ")", e);
        }
    }

    /** Opens the file, decompressing it if it starts with the gzip magic (whatever its name says). */
    private static InputStream openDecompressed(Path file) throws IOException {
        BufferedInputStream raw = new BufferedInputStream(Files.newInputStream(file), BUFFER_SIZE);
        try {
            raw.mark(2);
            boolean gzip = raw.read() == 0x1f && raw.read() == 0x8b;
            raw.reset();
            return gzip ? new GZIPInputStream(raw, BUFFER_SIZE) : raw;
        } catch (IOException | RuntimeException e) {
            raw.close();
            throw e;
        }
    }

    /** Reads and checks the magic and the dimensions; returns the dimensions, count first. */
    private static int[] readHeader(Path file, InputStream in, int rank) throws IOException {
        int expectedMagic = UNSIGNED_BYTE_TYPE << 8 | rank;
        int magic = readInts(file, in, 1)[0];
        if (magic != expectedMagic) {
            throw formatError(file, String.format(
                    "magic number 0x%08X, expected 0x%08X (unsigned bytes, %d dimensions)", magic, expectedMagic, rank));
        }
        int[] dims = readInts(file, in, rank);
        // Checked before anything is allocated from them; negative values are huge unsigned ones.
        if (dims[0] < 0 || dims[0] > MAX_COUNT) {
            throw formatError(file, "declares " + Integer.toUnsignedString(dims[0])
                    + " examples, more than the plausible maximum of " + MAX_COUNT);
        }
        for (int i = 1; i < rank; i++) {
            if (dims[i] < 1 || dims[i] > MAX_SIDE) {
                throw formatError(file, "dimension " + i + " is " + Integer.toUnsignedString(dims[i])
                        + ", outside the plausible range 1.." + MAX_SIDE);
            }
        }
        return dims;
    }

    private static int[] readInts(Path file, InputStream in, int n) throws IOException {
        byte[] bytes = in.readNBytes(4 * n);
        if (bytes.length != 4 * n) {
            throw formatError(file, "truncated header: the file ends after " + bytes.length + " of " + 4 * n
                    + " expected header bytes");
        }
        ByteBuffer bigEndian = ByteBuffer.wrap(bytes);
        int[] values = new int[n];
        for (int i = 0; i < n; i++) {
            values[i] = bigEndian.getInt();
        }
        return values;
    }

    static IOException formatError(Path file, String problem) {
        return new IOException(file + ": " + problem);
    }

    private static IOException formatError(Path file, String problem, Throwable cause) {
        return new IOException(file + ": " + problem, cause);
    }
}
