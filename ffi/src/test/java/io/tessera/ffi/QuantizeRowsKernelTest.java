package io.tessera.ffi;

import static io.tessera.ffi.KernelTestSupport.select;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * ts_quantize_rows_q8 (F32 rows) and ts_quantize_rows_bf16_q8 / _f16_q8 (BF16 / F16 rows, a checkpoint's weight
 * quantized as it is read) on every ISA tier, with and without excluded columns, rows strided (ldx > cols), against a plain Java
 * reference: scale = max |x| / 127 over the kept columns, code = round-half-even(x / scale) clamped to +-127, 0 in
 * excluded columns; both exact. A NaN or an infinity anywhere is reported (TS_ERR_NONFINITE).
 */
class QuantizeRowsKernelTest {

    static Stream<Arguments> cases() {
        List<Object[]> cases = new ArrayList<>();
        for (long[] s : KernelTestSupport.ROW_SHAPES) {
            for (String type : TYPES) {
                for (boolean exclude : new boolean[] {false, true}) {
                    cases.add(new Object[] {s[0], s[1], type, exclude});
                }
            }
        }
        return KernelTestSupport.withTiers(cases);
    }

    @AfterAll
    static void restoreBestTier() {
        KernelTestSupport.restoreBestTier();
    }

    private static final String[] TYPES = {"f32", "bf16", "f16"};

    /** f as a value of `type` (BF16: its high half, truncated; F16: rounded), exact in F32 too. */
    private static float representable(float f, String type) {
        return switch (type) {
            case "bf16" -> Float.intBitsToFloat(Float.floatToRawIntBits(f) & 0xffff0000);
            case "f16" -> Float.float16ToFloat(Float.floatToFloat16(f));
            default -> f;
        };
    }

    /** The 16 bits of a value exact in `type` (BF16 or F16). */
    private static short half(float f, String type) {
        return type.equals("bf16") ? (short) (Float.floatToRawIntBits(f) >>> 16) : Float.floatToFloat16(f);
    }

    private static int quantize(Arena arena, long rows, long cols, long ldx, float[] x, String type, boolean[] excluded,
                                MemorySegment q, MemorySegment scales) {
        long elements = Math.max(1, rows * ldx);
        boolean half = !type.equals("f32");
        MemorySegment in = half ? arena.allocate(JAVA_SHORT, elements) : arena.allocate(JAVA_FLOAT, elements);
        for (int i = 0; i < x.length; i++) {
            if (half) {
                in.setAtIndex(JAVA_SHORT, i, half(x[i], type));
            } else {
                in.setAtIndex(JAVA_FLOAT, i, x[i]);
            }
        }
        MemorySegment skip = MemorySegment.NULL;
        if (excluded != null) {
            skip = arena.allocate(JAVA_BYTE, Math.max(1, cols));
            for (int c = 0; c < cols; c++) {
                skip.set(JAVA_BYTE, c, (byte) (excluded[c] ? 1 : 0));
            }
        }
        return switch (type) {
            case "bf16" -> TesseraCpu.ts_quantize_rows_bf16_q8(rows, cols, in, ldx, skip, q, scales);
            case "f16" -> TesseraCpu.ts_quantize_rows_f16_q8(rows, cols, in, ldx, skip, q, scales);
            default -> TesseraCpu.ts_quantize_rows_q8(rows, cols, in, ldx, skip, q, scales);
        };
    }

    @ParameterizedTest(name = "tier {0}, {1} x {2}, {3}, exclude {4}")
    @MethodSource("cases")
    void codesAndScalesMatchTheReference(int tier, long rows, long cols, String type, boolean exclude) {
        select(tier);
        SplittableRandom random = new SplittableRandom(rows * 7919 + cols * 31 + type.hashCode() + (exclude ? 2 : 0));
        long ldx = cols + 3;
        float[] x = new float[Math.toIntExact(rows * ldx)];
        for (int i = 0; i < x.length; i++) {
            float v = (float) ((random.nextDouble() * 2 - 1) * Math.exp(random.nextDouble() * 6 - 3));
            x[i] = representable(v, type);
        }
        boolean[] excluded = null;
        if (exclude) {
            excluded = new boolean[Math.toIntExact(cols)];
            for (int c = 0; c < cols; c++) {
                excluded[c] = random.nextInt(5) == 0;
            }
            // an excluded column's large value must not set the scale
            for (long r = 0; r < rows; r++) {
                for (int c = 0; c < cols; c++) {
                    if (excluded[c]) {
                        x[Math.toIntExact(r * ldx + c)] = 8192f;
                    }
                }
            }
        }
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment q = arena.allocate(JAVA_BYTE, Math.max(1, rows * cols));
            MemorySegment scales = arena.allocate(JAVA_FLOAT, Math.max(1, rows));
            assertEquals(TesseraCpu.TS_OK, quantize(arena, rows, cols, ldx, x, type, excluded, q, scales));
            for (long r = 0; r < rows; r++) {
                double absmax = 0;
                for (int c = 0; c < cols; c++) {
                    if (excluded == null || !excluded[c]) {
                        absmax = Math.max(absmax, Math.abs(x[Math.toIntExact(r * ldx + c)]));
                    }
                }
                float scale = (float) absmax / 127f;
                assertEquals(scale, scales.getAtIndex(JAVA_FLOAT, r), "row " + r + " scale");
                for (int c = 0; c < cols; c++) {
                    long expected = excluded != null && excluded[c] || scale == 0 ? 0
                            : Math.clamp((long) Math.rint(x[Math.toIntExact(r * ldx + c)] / scale), -127, 127);
                    assertEquals(expected, q.get(JAVA_BYTE, r * cols + c), "row " + r + ", column " + c);
                }
            }
        }
    }

    @ParameterizedTest(name = "tier {0}")
    @MethodSource("io.tessera.ffi.KernelTestSupport#tierArguments")
    void nonFiniteValuesAreReported(int tier) {
        select(tier);
        for (String type : TYPES) {
            for (float bad : new float[] {Float.NaN, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY}) {
                float[] x = new float[3 * 1031];
                java.util.Arrays.fill(x, 0.5f);
                x[2 * 1031 + 1030] = bad;
                try (Arena arena = Arena.ofConfined()) {
                    MemorySegment q = arena.allocate(JAVA_BYTE, x.length);
                    MemorySegment scales = arena.allocate(JAVA_FLOAT, 3);
                    assertEquals(-3, quantize(arena, 3, 1031, 1031, x, type, null, q, scales), type + ", " + bad);
                }
            }
        }
    }
}
