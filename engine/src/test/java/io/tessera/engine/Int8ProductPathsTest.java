package io.tessera.engine;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.SplittableRandom;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The CPU's int8 product runs different code by row count: up to 64 rows (decoding, batched) the AVX-512 VNNI / AVX2
 * tiles on the persistent pool (from 2^16 multiply-adds); above 8 rows, on CPUs with AMX, AMX tiles (for k a multiple
 * of 64, the last n % 16 channels on the VNNI tiles again), and on CPUs with VNNI but no AMX, packed 48-channel panels
 * (for k a multiple of 4) above 64 rows and for smaller products above 8. All
 * compute exact int32 sums and the same epilogue, so a product of many rows must equal, bit for bit, the same rows
 * taken 8 at a time. (BackendConformanceNnTest checks both against float64 sums.)
 */
class Int8ProductPathsTest {
    private static final CpuBackend CPU = CpuBackend.INSTANCE;

    @ParameterizedTest(name = "m={0} n={1} k={2}")
    @CsvSource({"9, 16, 64", "64, 67, 256", "130, 48, 768", "40, 2304, 768", "24, 5, 128", "17, 33, 100", "530, 35, 192",
        "23, 97, 148", "12, 50, 66", "65, 301, 256", "16, 260, 512"})
    void manyRowsEqualEightRowSlicesBitForBit(int m, int n, int k) {
        System.out.printf("int8 products of more than 8 rows on AMX tiles: %s%n", CpuBackend.amx().int8());
        SplittableRandom rng = new SplittableRandom(m * 31L + n * 7L + k);
        try (TensorScope scope = TensorScope.open()) {
            Tensor x = Tensor.ofBytes(codes(rng, m * k), DType.I8, m, k);
            Tensor w = Tensor.ofBytes(codes(rng, n * k), DType.I8, n, k);
            Tensor xs = Tensor.of(floats(rng, m, 1e-3, 1e-2), m);
            Tensor ws = Tensor.of(floats(rng, n, 1e-3, 1e-2), n);
            Tensor bias = Tensor.of(floats(rng, n, -1, 1), n);
            Tensor whole = Tensor.empty(DType.F32, m, n);
            CPU.matmulQ8(x, xs, w, ws, bias, whole);
            float[] all = whole.toFloatArray();
            for (int r0 = 0; r0 < m; r0 += 8) {
                int r1 = Math.min(m, r0 + 8);
                Tensor part = Tensor.empty(DType.F32, r1 - r0, n);
                CPU.matmulQ8(x.slice(0, r0, r1), xs.slice(0, r0, r1), w, ws, bias, part);
                float[] rows = part.toFloatArray();
                for (int i = 0; i < rows.length; i++) {
                    int at = r0 * n + i;
                    assertEquals(Float.floatToRawIntBits(all[at]), Float.floatToRawIntBits(rows[i]),
                            "y[" + at / n + "][" + at % n + "]: " + all[at] + " in one product of " + m + " rows, "
                                    + rows[i] + " from 8 rows");
                }
            }
        }
    }

    /** Random int8 codes in [-127, 127] (the quantizers never make -128). */
    private static byte[] codes(SplittableRandom rng, int count) {
        byte[] codes = new byte[count];
        for (int i = 0; i < count; i++) {
            codes[i] = (byte) rng.nextInt(-127, 128);
        }
        return codes;
    }

    private static float[] floats(SplittableRandom rng, int count, double from, double to) {
        float[] values = new float[count];
        for (int i = 0; i < count; i++) {
            values[i] = (float) rng.nextDouble(from, to);
        }
        return values;
    }
}
