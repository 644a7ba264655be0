package io.tessera.ffi;

import static io.tessera.ffi.KernelTestSupport.assertAllClose;
import static io.tessera.ffi.KernelTestSupport.filled;
import static io.tessera.ffi.KernelTestSupport.get;
import static io.tessera.ffi.KernelTestSupport.select;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * ts_philox_f32 on every ISA tier. A Java Philox4x32-10 is checked against Random123's published
 * known-answer vectors, and the kernel against it: uniforms bit for bit, normals (Box-Muller in float)
 * within 5e-6; element i is the same whether drawn in one call or as a slice at a later offset; draws are
 * identical on every tier; 10^6 uniforms lie in [0, 1) with mean 1/2 and variance 1/12, 10^6 normals have
 * mean 0, variance 1 and the normal's mass within one standard deviation.
 */
class PhiloxKernelTest {
    private static final int M0 = 0xD2511F53;
    private static final int M1 = 0xCD9E8D57;
    private static final int W0 = 0x9E3779B9;
    private static final int W1 = 0xBB67AE85;

    private static final long[] SIZES = {0, 1, 7, 13, 1023, 100_003};
    /** Seeds using both key words; offsets where the block counter's low word overflows into the high one. */
    private static final long[][] SEEDS_AND_OFFSETS = {
        {0, 0}, {0x0123_4567_89AB_CDEFL, 5}, {-1L, 0xFFFF_FFF0L}, {42, 0x7FFF_FFFF_FFFF_0000L},
    };

    static Stream<Arguments> cases() {
        List<Object[]> cases = new ArrayList<>();
        for (long n : SIZES) {
            for (long[] so : SEEDS_AND_OFFSETS) {
                cases.add(new Object[] {n, so[0], so[1]});
            }
        }
        return KernelTestSupport.withTiers(cases);
    }

    @AfterAll
    static void restoreBestTier() {
        KernelTestSupport.restoreBestTier();
    }

    // ---- Java reference ----

    /** Philox4x32-10 of counter ctr under key (k0, k1), with unsigned 32-bit words held in ints. */
    static int[] philox4x32x10(int[] ctr, int k0, int k1) {
        int c0 = ctr[0];
        int c1 = ctr[1];
        int c2 = ctr[2];
        int c3 = ctr[3];
        for (int round = 0; round < 10; round++) {
            if (round > 0) {
                k0 += W0;
                k1 += W1;
            }
            long p0 = (M0 & 0xFFFF_FFFFL) * (c0 & 0xFFFF_FFFFL);
            long p1 = (M1 & 0xFFFF_FFFFL) * (c2 & 0xFFFF_FFFFL);
            int n0 = (int) (p1 >>> 32) ^ c1 ^ k0;
            int n1 = (int) p1;
            int n2 = (int) (p0 >>> 32) ^ c3 ^ k1;
            int n3 = (int) p0;
            c0 = n0;
            c1 = n1;
            c2 = n2;
            c3 = n3;
        }
        return new int[] {c0, c1, c2, c3};
    }

    /** The four words of block `block` of the stream keyed by seed (the kernel's layout). */
    static int[] block(long seed, long block) {
        return philox4x32x10(new int[] {(int) block, (int) (block >>> 32), 0, 0}, (int) seed, (int) (seed >>> 32));
    }

    static float uniform(int word) {
        return (word >>> 8) * 0x1p-24f;
    }

    static float[] referenceUniform(long n, long seed, long offset) {
        float[] y = new float[(int) n];
        for (int i = 0; i < n; i++) {
            y[i] = uniform(block(seed, offset + i / 4)[i % 4]);
        }
        return y;
    }

    /** Box-Muller in float64 from the same words: u1 in (0, 1], u2 in [0, 1). */
    static double[] referenceNormal(long n, long seed, long offset) {
        double[] y = new double[(int) n];
        for (int i = 0; i < n; i++) {
            int[] w = block(seed, offset + i / 2);
            double u1 = ((w[0] >>> 8) + 1) * 0x1p-24;
            double u2 = (w[1] >>> 8) * 0x1p-24;
            double r = Math.sqrt(-2 * Math.log(u1));
            y[i] = i % 2 == 0 ? r * Math.cos(2 * Math.PI * u2) : r * Math.sin(2 * Math.PI * u2);
        }
        return y;
    }

    private static float[] draw(long n, long seed, long offset, boolean normal) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment y = filled(arena, n + 1, Float.NaN); // one guard element
            assertEquals(TesseraCpu.TS_OK, TesseraCpu.ts_philox_f32(n, seed, offset, normal ? 1 : 0, y));
            float[] out = get(y, n + 1);
            assertTrue(Float.isNaN(out[(int) n]), "wrote past the end");
            return Arrays.copyOf(out, (int) n);
        }
    }

    // ---- tests ----

    /** Random123 tests/kat_vectors, the three philox4x32 10 lines: counter (4 words), key (2), expected (4). */
    @Test
    void referenceMatchesRandom123KnownAnswers() {
        int[][][] kat = {
            {{0, 0, 0, 0}, {0, 0}, {0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}},
            {{-1, -1, -1, -1}, {-1, -1}, {0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}},
            {{0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344}, {0xa4093822, 0x299f31d0},
                {0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}},
        };
        for (int[][] v : kat) {
            assertArrayEquals(v[2], philox4x32x10(v[0], v[1][0], v[1][1]));
        }
    }

    /** The first known answer (counter 0, key 0) is block 0 of seed 0: the kernel's first four uniforms. */
    @ParameterizedTest(name = "tier {0}")
    @MethodSource("io.tessera.ffi.KernelTestSupport#tierArguments")
    void kernelReproducesTheZeroKnownAnswer(int tier) {
        select(tier);
        int[] expected = {0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8};
        float[] y = draw(4, 0, 0, false);
        for (int k = 0; k < 4; k++) {
            assertEquals((expected[k] >>> 8) * 0x1p-24f, y[k], "word " + k);
        }
    }

    @ParameterizedTest(name = "tier {0}, n {1}, seed {2}, offset {3}")
    @MethodSource("cases")
    void uniformMatchesReferenceBitForBit(int tier, long n, long seed, long offset) {
        select(tier);
        assertArrayEquals(referenceUniform(n, seed, offset), draw(n, seed, offset, false));
    }

    @ParameterizedTest(name = "tier {0}, n {1}, seed {2}, offset {3}")
    @MethodSource("cases")
    void normalMatchesFloat64BoxMuller(int tier, long n, long seed, long offset) {
        select(tier);
        // float rounding of 2 pi u2 (<= 2.4e-7) times r <= 5.8, plus logf/sinf/cosf's own ~1 ulp
        assertAllClose(referenceNormal(n, seed, offset), draw(n, seed, offset, true), 5e-6, 0, "normal");
    }

    @ParameterizedTest(name = "tier {0}")
    @MethodSource("io.tessera.ffi.KernelTestSupport#tierArguments")
    void aSliceIsTheSameDrawAtALaterOffset(int tier) {
        select(tier);
        long seed = 0xDEADBEEFL;
        long offset = 1000;
        int n = 1003;
        for (boolean normal : new boolean[] {false, true}) {
            int perBlock = normal ? 2 : 4;
            float[] whole = draw(n, seed, offset, normal);
            for (int startBlock : new int[] {0, 1, 3, 77, 250}) {
                for (int length : new int[] {1, 2, 3, 5, 8, 13}) {
                    int start = startBlock * perBlock;
                    int len = Math.min(length, n - start);
                    float[] slice = draw(len, seed, offset + startBlock, normal);
                    assertArrayEquals(Arrays.copyOfRange(whole, start, start + len), slice,
                            (normal ? "normal" : "uniform") + " slice at " + start + ", length " + len);
                }
            }
        }
    }

    @Test
    void everyTierDrawsTheSameBits() {
        try {
            float[][] reference = null;
            for (int tier : KernelTestSupport.tiers()) {
                select(tier);
                float[][] draws = {draw(100_003, 7, 3, false), draw(100_003, 7, 3, true)};
                if (reference == null) {
                    reference = draws;
                } else {
                    assertArrayEquals(reference[0], draws[0], "uniform, tier " + tier);
                    assertArrayEquals(reference[1], draws[1], "normal, tier " + tier);
                }
            }
        } finally {
            KernelTestSupport.restoreBestTier();
        }
    }

    @ParameterizedTest(name = "tier {0}")
    @MethodSource("io.tessera.ffi.KernelTestSupport#tierArguments")
    void millionDrawsHaveTheRightMoments(int tier) {
        select(tier);
        int n = 1_000_000;
        float[] u = draw(n, 2024, 0, false);
        double sum = 0;
        double sumSq = 0;
        for (float v : u) {
            assertTrue(v >= 0f && v < 1f, "uniform out of [0, 1): " + v);
            sum += v;
            sumSq += (double) v * v;
        }
        double mean = sum / n;
        // standard error of the mean: sqrt(1/12 / n) = 2.9e-4; of the variance: sqrt(1/180 / n) = 7.5e-5
        assertEquals(0.5, mean, 5 * 2.9e-4, "uniform mean");
        assertEquals(1.0 / 12, sumSq / n - mean * mean, 5 * 7.5e-5, "uniform variance");

        float[] z = draw(n, 2024, 0, true);
        sum = 0;
        sumSq = 0;
        int withinOne = 0;
        for (float v : z) {
            assertTrue(Math.abs(v) <= 5.8f, "normal out of the reachable range: " + v);
            sum += v;
            sumSq += (double) v * v;
            withinOne += Math.abs(v) < 1 ? 1 : 0;
        }
        mean = sum / n;
        // standard errors: mean 1e-3, variance sqrt(2 / n) = 1.4e-3, P(|z| < 1) sqrt(p (1 - p) / n) = 4.7e-4
        assertEquals(0, mean, 5e-3, "normal mean");
        assertEquals(1, sumSq / n - mean * mean, 5 * 1.4e-3, "normal variance");
        assertEquals(0.682689492, withinOne / (double) n, 5 * 4.7e-4, "normal mass within one sigma");
    }
}
