package io.tessera.data;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Objects;
import java.util.Set;

/**
 * Fashion-MNIST (Zalando): 28x28 grayscale images of clothing in 10 classes, 60,000 for training and
 * 10,000 for testing, read from the IDX files that Debian's {@code dataset-fashion-mnist} installs.
 *
 * <p>Each file is {@code <name>.gz} or, if that is absent, the uncompressed {@code <name>}. Every problem
 * (absent or malformed files) is an {@link UncheckedIOException} whose message names the file.
 */
public final class FashionMnist {
    public static final Path DEFAULT_DIR = Path.of("/usr/share/datasets/fashion-mnist");

    /** Class names, indexed by label. */
    public static final List<String> CLASS_NAMES = List.of(
            "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot");

    private static final String INSTALL_HINT = "install it with `apt-get install dataset-fashion-mnist`";

    /**
     * Examples of one split. The arrays are shared, not copied, since the training pixels alone are 47 MB.
     *
     * @param pixels {@code count * rows * cols} unsigned bytes, example after example, each row-major
     * @param labels {@code count} labels in 0..9, indexes into {@link #CLASS_NAMES}
     */
    public record Split(int count, int rows, int cols, byte[] pixels, byte[] labels) {
        public Split {
            Objects.requireNonNull(pixels, "pixels");
            Objects.requireNonNull(labels, "labels");
            if (count < 0 || rows < 1 || cols < 1) {
                throw new IllegalArgumentException("bad shape: " + count + " x " + rows + " x " + cols);
            }
            if (pixels.length != (long) count * rows * cols || labels.length != count) {
                throw new IllegalArgumentException("shape " + count + " x " + rows + " x " + cols + " does not match "
                        + pixels.length + " pixels and " + labels.length + " labels");
            }
        }

        /** Pixels of examples {@code from} (inclusive) to {@code to} (exclusive) scaled to 0..1, row-major. */
        public float[] normalizedPixels(int from, int to) {
            Objects.checkFromToIndex(from, to, count);
            int exampleSize = rows * cols;
            float[] out = new float[(to - from) * exampleSize];
            int offset = from * exampleSize;
            for (int i = 0; i < out.length; i++) {
                out[i] = (pixels[offset + i] & 0xFF) / 255f;
            }
            return out;
        }

        public int label(int i) {
            return labels[Objects.checkIndex(i, count)];
        }

        /** Examples {@code from} (inclusive) to {@code to} (exclusive), copied. */
        public Split range(int from, int to) {
            Objects.checkFromToIndex(from, to, count);
            int size = rows * cols;
            return new Split(to - from, rows, cols, Arrays.copyOfRange(pixels, from * size, to * size),
                    Arrays.copyOfRange(labels, from, to));
        }

        /** The first {@code limit} examples (in order) whose label is one of {@code classes}, copied. */
        public Split withLabels(Set<Integer> classes, int limit) {
            if (limit < 0) {
                throw new IllegalArgumentException("limit must be >= 0, got " + limit);
            }
            int size = rows * cols;
            int[] chosen = new int[Math.min(limit, count)];
            int n = 0;
            for (int i = 0; i < count && n < chosen.length; i++) {
                if (classes.contains(label(i))) {
                    chosen[n++] = i;
                }
            }
            byte[] outPixels = new byte[n * size];
            byte[] outLabels = new byte[n];
            for (int j = 0; j < n; j++) {
                System.arraycopy(pixels, chosen[j] * size, outPixels, j * size, size);
                outLabels[j] = labels[chosen[j]];
            }
            return new Split(n, rows, cols, outPixels, outLabels);
        }
    }

    private FashionMnist() {}

    public static Split train(Path dir) {
        return train(dir, Integer.MAX_VALUE);
    }

    /** The first {@code limit} training examples (all of them if there are fewer). */
    public static Split train(Path dir, int limit) {
        return load(dir, "train", limit);
    }

    public static Split test(Path dir) {
        return test(dir, Integer.MAX_VALUE);
    }

    /** The first {@code limit} test examples (all of them if there are fewer). */
    public static Split test(Path dir, int limit) {
        return load(dir, "t10k", limit);
    }

    private static Split load(Path dir, String prefix, int limit) {
        if (limit < 0) {
            throw new IllegalArgumentException("limit must be >= 0, got " + limit);
        }
        Path labelsFile = locate(dir, prefix + "-labels-idx1-ubyte");
        Path imagesFile = locate(dir, prefix + "-images-idx3-ubyte");
        try {
            // Labels first: the small file finds most problems before the large one is read.
            IdxReader.IdxFile labels = IdxReader.read(labelsFile, 1, limit);
            checkLabels(labelsFile, labels.data());
            IdxReader.IdxFile images = IdxReader.read(imagesFile, 3, limit);
            if (images.declaredCount() != labels.declaredCount()) {
                throw new IOException(imagesFile + " declares " + images.declaredCount() + " images but "
                        + labelsFile + " declares " + labels.declaredCount() + " labels");
            }
            int[] shape = images.exampleShape();
            return new Split(labels.data().length, shape[0], shape[1], images.data(), labels.data());
        } catch (IOException e) {
            throw new UncheckedIOException(e.getMessage(), e);
        }
    }

    private static Path locate(Path dir, String name) {
        Path compressed = dir.resolve(name + ".gz");
        if (Files.isRegularFile(compressed)) {
            return compressed;
        }
        Path uncompressed = dir.resolve(name);
        if (Files.isRegularFile(uncompressed)) {
            return uncompressed;
        }
        String where = Files.isDirectory(dir) ? "" : " (the directory does not exist)";
        throw new UncheckedIOException("Fashion-MNIST file " + compressed + " (or " + uncompressed.getFileName()
                + " uncompressed) is absent" + where + "; " + INSTALL_HINT + ", or pass the directory that holds it",
                new NoSuchFileException(compressed.toString()));
    }

    private static void checkLabels(Path file, byte[] labels) throws IOException {
        for (int i = 0; i < labels.length; i++) {
            int label = labels[i] & 0xFF;
            if (label >= CLASS_NAMES.size()) {
                throw IdxReader.formatError(file, "label " + label + " at index " + i + " is outside 0.."
                        + (CLASS_NAMES.size() - 1));
            }
        }
    }
}
