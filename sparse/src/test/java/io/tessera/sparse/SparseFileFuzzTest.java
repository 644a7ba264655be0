package io.tessera.sparse;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import io.tessera.engine.HostStorage;
import io.tessera.engine.Tensor;
import io.tessera.engine.TensorScope;
import io.tessera.engine.io.SafetensorsFormatException;
import java.lang.management.ManagementFactory;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Mutates valid patch and mask files thousands of times with a fixed seed (byte flips, truncation,
 * appended garbage, forged header lengths, edited JSON digits and names, spliced files). Every mutant
 * must either fail with {@link SafetensorsFormatException} or load as exactly the original (the content
 * checksum leaves no third outcome), without leaking native memory and without allocating more heap
 * than a small multiple of its size: sizes the file merely claims are never allocated.
 */
class SparseFileFuzzTest {
    private static final int ITERATIONS = 3000;
    /** Allowed heap allocation per load: this many times the file's (decompressed) size, plus a fixed allowance. */
    private static final long BYTES_PER_FILE_BYTE = 16;
    private static final long FIXED_ALLOWANCE = 1L << 20; // measured: at most ~450 KB (zstd stream buffers, JSON)

    @TempDir
    Path dir;

    @AfterAll
    static void noLeaks() {
        assertEquals(0, HostStorage.liveBytes(), "native bytes still allocated");
    }

    /** A valid file, what it must load as, and how large it is once decompressed. */
    private record Seed(byte[] bytes, Object expected, long plainSize, boolean mask) {}

    private List<Seed> seeds() throws Exception {
        List<Seed> seeds = new ArrayList<>();
        try (TensorScope _ = TensorScope.open()) {
            Map<String, Tensor> base = TestModels.random(1);
            Patch patch = Patch.diff(base, TestModels.perturbed(base, 0.1, 2), "fuzz seed");
            Patch small = Patch.diff(base, TestModels.perturbed(base, 0.01, 3), "small");
            for (Patch p : List.of(patch, small)) {
                Path plain = dir.resolve("seed-plain");
                p.save(plain, Compression.NONE);
                Path zstd = dir.resolve("seed-zstd");
                p.save(zstd, Compression.ZSTD);
                Patch expected = Patch.load(plain);
                seeds.add(new Seed(Files.readAllBytes(plain), expected, Files.size(plain), false));
                seeds.add(new Seed(Files.readAllBytes(zstd), expected, Files.size(plain), false));
            }
            Path mask = dir.resolve("seed-mask");
            SparseMask m = SparseMask.fromIndices(Map.of("w", new long[] {37, 29}, "b", new long[] {37}, "s", new long[] {}),
                    Map.of("w", patch.tensors().get("layer.0.weight").indices(), "b", SparseMaskTest.indicesOf(
                            SparseMaskTest.randomSet(new SplittableRandom(4), 37, 0.5)), "s", new long[] {0}));
            m.save(mask);
            seeds.add(new Seed(Files.readAllBytes(mask), m, Files.size(mask), true));
        }
        return seeds;
    }

    private static byte[] mutate(byte[] seed, List<Seed> all, SplittableRandom rng) {
        byte[] b = seed.clone();
        switch (rng.nextInt(8)) {
            case 0 -> { // flip 1-4 bits
                for (int k = 1 + rng.nextInt(4); k > 0; k--) {
                    int at = rng.nextInt(b.length);
                    b[at] ^= (byte) (1 << rng.nextInt(8));
                }
            }
            case 1 -> b = Arrays.copyOf(b, rng.nextInt(b.length)); // truncate
            case 2 -> { // append garbage
                byte[] tail = new byte[1 + rng.nextInt(64)];
                rng.nextBytes(tail);
                byte[] out = Arrays.copyOf(b, b.length + tail.length);
                System.arraycopy(tail, 0, out, b.length, tail.length);
                b = out;
            }
            case 3 -> ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN).putLong(0, rng.nextLong(-1L >>> 1)); // forged header length
            case 4 -> { // edit a digit in the header (shapes, offsets, hashes)
                int headerEnd = (int) Math.min(b.length, 8 + ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN).getLong(0));
                for (int tries = 0; tries < 50 && headerEnd > 8; tries++) {
                    int at = 8 + rng.nextInt(headerEnd - 8);
                    if (Character.isDigit(b[at])) {
                        b[at] = (byte) ('0' + rng.nextInt(10));
                        break;
                    }
                }
            }
            case 5 -> { // rename: replace a header letter
                int headerEnd = (int) Math.min(b.length, 8 + ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN).getLong(0));
                if (headerEnd > 8) {
                    int at = 8 + rng.nextInt(headerEnd - 8);
                    String letters = "abcdefghijklmnopqrstuvwxyz_.\"{}[],:";
                    b[at] = (byte) letters.charAt(rng.nextInt(letters.length()));
                }
            }
            case 6 -> { // zero a range
                int from = rng.nextInt(b.length);
                Arrays.fill(b, from, Math.min(b.length, from + 1 + rng.nextInt(32)), (byte) 0);
            }
            default -> { // splice with another seed
                byte[] other = all.get(rng.nextInt(all.size())).bytes();
                int cut = rng.nextInt(Math.min(b.length, other.length));
                System.arraycopy(other, cut, b, cut, Math.min(b.length, other.length) - cut);
            }
        }
        return b;
    }

    @Test
    @Timeout(value = 90, unit = TimeUnit.SECONDS) // a hang guard: ~4 s on a quiet machine, over 20 s under a parallel build
    void mutantsAreRejectedCleanlyOrLoadUnchanged() throws Exception {
        List<Seed> seeds = seeds();
        com.sun.management.ThreadMXBean threads = (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
        SplittableRandom rng = new SplittableRandom(20261123);
        Path file = dir.resolve("mutant");
        int rejected = 0;
        int loaded = 0;
        long worstAllocation = 0;
        long worstSize = 0;
        for (int i = 0; i < ITERATIONS; i++) {
            Seed seed = seeds.get(rng.nextInt(seeds.size()));
            byte[] mutant = mutate(seed.bytes(), seeds, rng);
            Files.write(file, mutant);
            long liveBefore = HostStorage.liveBytes();
            long before = threads.getCurrentThreadAllocatedBytes();
            try {
                Object result = seed.mask() ? SparseMask.load(file) : Patch.load(file);
                loaded++;
                if (!result.equals(seed.expected())) {
                    fail("iteration " + i + ": a mutant loaded as something else than its seed: " + result);
                }
            } catch (SafetensorsFormatException e) {
                rejected++;
                assertTrue(e.getMessage().contains(file.toString()), "iteration " + i + ": the message names the file: " + e.getMessage());
            } catch (Throwable t) {
                throw new AssertionError("iteration " + i + ": unexpected " + t, t);
            }
            long allocated = threads.getCurrentThreadAllocatedBytes() - before;
            long justified = BYTES_PER_FILE_BYTE * Math.max(mutant.length, seed.plainSize()) + FIXED_ALLOWANCE;
            assertTrue(allocated <= justified, "iteration " + i + ": allocated " + allocated + " bytes for a " + mutant.length
                    + "-byte file (allowed " + justified + ")");
            if (allocated > worstAllocation) {
                worstAllocation = allocated;
                worstSize = Math.max(mutant.length, seed.plainSize());
            }
            assertEquals(liveBefore, HostStorage.liveBytes(), "iteration " + i + ": native memory leaked");
        }
        System.out.printf("fuzz: %d mutants, %d rejected, %d loaded unchanged; largest heap allocation %d bytes, for a %d-byte"
                + " file%n", ITERATIONS, rejected, loaded, worstAllocation, worstSize);
        assertTrue(rejected > ITERATIONS / 2, "most mutants must be rejected, got " + rejected);
    }
}
