package io.tessera.data;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.management.ManagementFactory;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Random;
import java.util.zip.GZIPOutputStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class FashionMnistTest {
    private static final int IMAGES_MAGIC = 0x0000_0803;
    private static final int LABELS_MAGIC = 0x0000_0801;

    @TempDir
    Path dir;

    // ---- synthetic IDX files ----

    /** Magic, dims, then data, as an IDX file holds them (before compression). */
    private static byte[] idx(int magic, int[] dims, byte[] data) {
        ByteBuffer buffer = ByteBuffer.allocate(4 + 4 * dims.length + data.length);
        buffer.putInt(magic);
        for (int dim : dims) {
            buffer.putInt(dim);
        }
        return buffer.put(data).array();
    }

    private static byte[] gzip(byte[] bytes) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try (GZIPOutputStream gz = new GZIPOutputStream(out)) {
            gz.write(bytes);
        }
        return out.toByteArray();
    }

    private void writeGz(String name, byte[] content) throws IOException {
        Files.write(dir.resolve(name + ".gz"), gzip(content));
    }

    private void writeImages(String prefix, int[] dims, byte[] pixels) throws IOException {
        writeGz(prefix + "-images-idx3-ubyte", idx(IMAGES_MAGIC, dims, pixels));
    }

    private void writeLabels(String prefix, byte[] labels) throws IOException {
        writeGz(prefix + "-labels-idx1-ubyte", idx(LABELS_MAGIC, new int[] {labels.length}, labels));
    }

    private static byte[] randomBytes(int n, int bound, long seed) {
        Random random = new Random(seed);
        byte[] bytes = new byte[n];
        for (int i = 0; i < n; i++) {
            bytes[i] = (byte) random.nextInt(bound);
        }
        return bytes;
    }

    private UncheckedIOException trainFails() {
        return assertThrows(UncheckedIOException.class, () -> FashionMnist.train(dir));
    }

    private static void assertMentions(Exception e, String... parts) {
        for (String part : parts) {
            assertTrue(e.getMessage().contains(part), () -> "'" + part + "' missing from: " + e.getMessage());
        }
    }

    // ---- round trips ----

    @Test
    void readsGzipFilesExactly() throws IOException {
        byte[] pixels = randomBytes(7 * 3 * 5, 256, 1);
        byte[] labels = randomBytes(7, 10, 2);
        writeImages("train", new int[] {7, 3, 5}, pixels);
        writeLabels("train", labels);

        FashionMnist.Split split = FashionMnist.train(dir);

        assertEquals(7, split.count());
        assertEquals(3, split.rows());
        assertEquals(5, split.cols());
        assertArrayEquals(pixels, split.pixels());
        assertArrayEquals(labels, split.labels());
        for (int i = 0; i < 7; i++) {
            assertEquals(labels[i], split.label(i));
        }
    }

    @Test
    void readsTheTestSplitFromT10kFiles() throws IOException {
        byte[] pixels = randomBytes(2 * 2 * 2, 256, 3);
        writeImages("t10k", new int[] {2, 2, 2}, pixels);
        writeLabels("t10k", new byte[] {9, 0});

        FashionMnist.Split split = FashionMnist.test(dir);

        assertArrayEquals(pixels, split.pixels());
        assertEquals(9, split.label(0));
    }

    @Test
    void readsUncompressedFilesAndGzipDataWhateverTheName() throws IOException {
        byte[] pixels = randomBytes(3 * 4 * 4, 256, 4);
        byte[] labels = {1, 2, 3};
        Files.write(dir.resolve("train-images-idx3-ubyte"), idx(IMAGES_MAGIC, new int[] {3, 4, 4}, pixels));
        // A gzip file without .gz in its name is still decompressed: the reader looks at the bytes.
        Files.write(dir.resolve("train-labels-idx1-ubyte"), gzip(idx(LABELS_MAGIC, new int[] {3}, labels)));

        FashionMnist.Split split = FashionMnist.train(dir);

        assertArrayEquals(pixels, split.pixels());
        assertArrayEquals(labels, split.labels());
    }

    @Test
    void limitReadsOnlyTheFirstExamples() throws IOException {
        byte[] pixels = randomBytes(10 * 2 * 3, 256, 5);
        byte[] labels = randomBytes(10, 10, 6);
        writeImages("train", new int[] {10, 2, 3}, pixels);
        writeLabels("train", labels);

        FashionMnist.Split firstFour = FashionMnist.train(dir, 4);
        assertEquals(4, firstFour.count());
        assertArrayEquals(Arrays.copyOf(pixels, 4 * 6), firstFour.pixels());
        assertArrayEquals(Arrays.copyOf(labels, 4), firstFour.labels());

        assertEquals(10, FashionMnist.train(dir, 1000).count());
        assertEquals(0, FashionMnist.train(dir, 0).count());
        assertThrows(IllegalArgumentException.class, () -> FashionMnist.train(dir, -1));
    }

    @Test
    void normalizedPixelsScaleARangeOfExamplesToZeroOne() throws IOException {
        byte[] pixels = {0, 1, 2, 3, (byte) 128, (byte) 200, (byte) 254, (byte) 255};
        writeImages("train", new int[] {4, 1, 2}, pixels);
        writeLabels("train", new byte[] {0, 1, 2, 3});
        FashionMnist.Split split = FashionMnist.train(dir);

        assertArrayEquals(new float[] {2 / 255f, 3 / 255f, 128 / 255f, 200 / 255f}, split.normalizedPixels(1, 3));
        assertArrayEquals(new float[] {254 / 255f, 1f}, split.normalizedPixels(3, 4));
        assertEquals(0, split.normalizedPixels(2, 2).length);
        assertThrows(IndexOutOfBoundsException.class, () -> split.normalizedPixels(3, 5));
        assertThrows(IndexOutOfBoundsException.class, () -> split.label(4));
    }

    @Test
    void hasTenClassNames() {
        assertEquals(10, FashionMnist.CLASS_NAMES.size());
        assertEquals("T-shirt/top", FashionMnist.CLASS_NAMES.get(0));
        assertEquals("Ankle boot", FashionMnist.CLASS_NAMES.get(9));
    }

    // ---- absent and malformed files ----

    @Test
    void absentDirectorySaysHowToInstall() {
        Path missing = dir.resolve("nowhere");
        UncheckedIOException e = assertThrows(UncheckedIOException.class, () -> FashionMnist.test(missing));
        assertMentions(e, missing.toString(), "absent", "does not exist", "apt-get install dataset-fashion-mnist");
        assertInstanceOf(NoSuchFileException.class, e.getCause());
    }

    @Test
    void absentFileIsNamed() throws IOException {
        writeLabels("train", new byte[] {1});
        assertMentions(trainFails(), dir.resolve("train-images-idx3-ubyte.gz").toString(), "absent",
                "apt-get install dataset-fashion-mnist");
    }

    @Test
    void wrongMagicIsRejected() throws IOException {
        writeGz("train-images-idx3-ubyte", idx(0x0000_0903, new int[] {1, 1, 1}, new byte[1]));
        writeLabels("train", new byte[] {1});
        assertMentions(trainFails(), "train-images-idx3-ubyte.gz", "magic number 0x00000903, expected 0x00000803");
    }

    @Test
    void labelsFileWithImageMagicIsRejected() throws IOException {
        writeImages("train", new int[] {1, 1, 1}, new byte[1]);
        writeGz("train-labels-idx1-ubyte", idx(IMAGES_MAGIC, new int[] {1, 1, 1}, new byte[1]));
        assertMentions(trainFails(), "train-labels-idx1-ubyte.gz", "expected 0x00000801");
    }

    @Test
    void truncatedDataIsRejected() throws IOException {
        writeImages("train", new int[] {3, 2, 2}, new byte[11]);
        writeLabels("train", new byte[] {1, 2, 3});
        assertMentions(trainFails(), "train-images-idx3-ubyte.gz", "truncated", "12 bytes", "found only 11");
    }

    @Test
    void truncatedHeaderIsRejected() throws IOException {
        writeImages("train", new int[] {3, 2, 2}, new byte[12]);
        writeGz("train-labels-idx1-ubyte", new byte[] {0, 0, 8, 1, 0, 0});
        assertMentions(trainFails(), "train-labels-idx1-ubyte.gz", "truncated header");
    }

    @Test
    void truncatedGzipStreamIsRejected() throws IOException {
        writeImages("train", new int[] {3, 2, 2}, new byte[12]);
        byte[] labels = gzip(idx(LABELS_MAGIC, new int[] {500}, randomBytes(500, 10, 7)));
        Files.write(dir.resolve("train-labels-idx1-ubyte.gz"), Arrays.copyOf(labels, labels.length / 2));
        assertMentions(trainFails(), "train-labels-idx1-ubyte.gz", "truncated or corrupt gzip");
    }

    @Test
    void mismatchedCountsAreRejected() throws IOException {
        writeImages("train", new int[] {3, 2, 2}, new byte[12]);
        writeLabels("train", new byte[] {1, 2});
        assertMentions(trainFails(), "train-images-idx3-ubyte.gz", "3 images", "train-labels-idx1-ubyte.gz", "2 labels");
    }

    @Test
    void labelTenIsRejected() throws IOException {
        writeImages("train", new int[] {3, 1, 1}, new byte[3]);
        writeLabels("train", new byte[] {0, 9, 10});
        assertMentions(trainFails(), "train-labels-idx1-ubyte.gz", "label 10 at index 2", "outside 0..9");
    }

    @Test
    void absurdDimensionsAreRejected() throws IOException {
        writeLabels("train", new byte[] {1});
        writeImages("train", new int[] {1, 5000, 28}, new byte[0]);
        assertMentions(trainFails(), "train-images-idx3-ubyte.gz", "dimension 1 is 5000", "1..4096");

        writeImages("train", new int[] {1, 28, 0}, new byte[0]);
        assertMentions(trainFails(), "dimension 2 is 0");

        writeImages("train", new int[] {-1, 28, 28}, new byte[0]);
        assertMentions(trainFails(), "declares 4294967295 examples", "10000000");
    }

    @Test
    void hugeDeclaredCountWithoutTheDataFailsWithoutAllocatingIt() throws IOException {
        // 2,000,000 images of 28x28 are 1.5 GB: allocating that up front would show, and might not fit the heap.
        int count = 2_000_000;
        writeImages("train", new int[] {count, 28, 28}, new byte[5 * 28 * 28]);
        writeGz("train-labels-idx1-ubyte", idx(LABELS_MAGIC, new int[] {count}, new byte[count]));
        com.sun.management.ThreadMXBean threads = (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
        assumeTrue(threads.isThreadAllocatedMemorySupported() && threads.isThreadAllocatedMemoryEnabled(),
                "this JVM cannot measure per-thread allocation");

        long before = threads.getCurrentThreadAllocatedBytes();
        UncheckedIOException e = trainFails();
        long allocated = threads.getCurrentThreadAllocatedBytes() - before;

        assertMentions(e, "train-images-idx3-ubyte.gz", "truncated", "found only " + 5 * 28 * 28);
        // The labels (2 MB) are really there; 64 MB leaves room for them and buffers, not for 1.5 GB.
        assertTrue(allocated < 64L << 20, "allocated " + allocated + " bytes");
    }

    // ---- subsets ----

    /** Example i of a 2x3 split: all six pixels equal i, label i % 4. */
    private static FashionMnist.Split numbered(int count) {
        byte[] pixels = new byte[count * 6];
        byte[] labels = new byte[count];
        for (int i = 0; i < count; i++) {
            Arrays.fill(pixels, i * 6, i * 6 + 6, (byte) i);
            labels[i] = (byte) (i % 4);
        }
        return new FashionMnist.Split(count, 2, 3, pixels, labels);
    }

    @Test
    void rangeAndWithLabelsCopyTheChosenExamplesInOrder() {
        FashionMnist.Split all = numbered(10);
        FashionMnist.Split middle = all.range(3, 7);
        assertEquals(4, middle.count());
        for (int j = 0; j < 4; j++) {
            assertEquals((3 + j) % 4, middle.label(j));
            assertEquals(3 + j, middle.pixels()[j * 6 + 5]);
        }
        // labels 1 or 3 are examples 1, 3, 5, 7, 9; a limit of 3 keeps the first three
        FashionMnist.Split odd = all.withLabels(java.util.Set.of(1, 3), 3);
        assertEquals(3, odd.count());
        assertArrayEquals(new byte[] {1, 3, 1}, odd.labels());
        for (int j = 0; j < 3; j++) {
            assertEquals(2 * j + 1, odd.pixels()[j * 6]);
        }
        assertEquals(5, all.withLabels(java.util.Set.of(1, 3), Integer.MAX_VALUE).count());
        assertEquals(0, all.withLabels(java.util.Set.of(7), 5).count());
        assertThrows(IndexOutOfBoundsException.class, () -> all.range(4, 11));
        assertThrows(IllegalArgumentException.class, () -> all.withLabels(java.util.Set.of(1), -1));
    }

    // ---- the real data set ----

    @Test
    void realFilesLookLikeFashionMnist() {
        Path real = FashionMnist.DEFAULT_DIR;
        assumeTrue(Files.isDirectory(real),
                real + " is absent; install it with `apt-get install dataset-fashion-mnist` to run this test");

        checkRealSplit(FashionMnist.train(real, 1000), 1000);
        checkRealSplit(FashionMnist.test(real), 10_000);
    }

    private static void checkRealSplit(FashionMnist.Split split, int expectedCount) {
        assertEquals(expectedCount, split.count());
        assertEquals(28, split.rows());
        assertEquals(28, split.cols());
        int[] perClass = new int[10];
        for (int i = 0; i < split.count(); i++) {
            int label = split.label(i);
            assertTrue(label >= 0 && label <= 9, "label " + label + " at " + i);
            perClass[label]++;
        }
        for (int c = 0; c < 10; c++) {
            assertTrue(perClass[c] > 0, "no example of class " + FashionMnist.CLASS_NAMES.get(c));
        }
        double sum = 0;
        for (float pixel : split.normalizedPixels(0, split.count())) {
            sum += pixel;
        }
        double mean = sum / ((double) split.count() * 28 * 28);
        // Fashion-MNIST's published pixel mean is 0.286 (72.9 of 255).
        assertEquals(0.28, mean, 0.05, "pixel mean");
    }
}
