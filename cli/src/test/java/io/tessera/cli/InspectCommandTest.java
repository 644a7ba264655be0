package io.tessera.cli;

import static io.tessera.cli.CliRunner.fails;
import static io.tessera.cli.CliRunner.ok;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.json.JsonMapper;
import io.tessera.engine.DType;
import io.tessera.engine.Tensor;
import io.tessera.engine.TensorScope;
import io.tessera.engine.io.Safetensors;
import io.tessera.engine.io.SafetensorsHeader;
import java.io.IOException;
import java.math.BigDecimal;
import java.math.BigInteger;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** tessera inspect: every dtype, statistics against float64 references, values that read back to the same bits. */
class InspectCommandTest {
    /** Reads numbers as written (BigDecimal / BigInteger), so a float's text is parsed once, as a float. */
    private static final JsonMapper EXACT = JsonMapper.builder().enable(DeserializationFeature.USE_BIG_DECIMAL_FOR_FLOATS)
            .enable(DeserializationFeature.USE_BIG_INTEGER_FOR_INTS).build();

    /** A tensor of the test file: its dtype, shape and elements (float bits, or integer values; U64 as their bits). */
    record Spec(DType dtype, long[] shape, long... raw) {}

    private static final Map<String, Spec> TENSORS = new LinkedHashMap<>();

    static {
        long f32Nan = Float.floatToRawIntBits(Float.NaN);
        TENSORS.put("f32", new Spec(DType.F32, new long[] {2, 3}, bits(0.1f), bits(-0.0f), bits(Float.MIN_VALUE),
                bits(Float.MAX_VALUE), bits(1e-5f), bits(-3.5f)));
        TENSORS.put("special", new Spec(DType.F32, new long[] {4}, f32Nan, bits(Float.POSITIVE_INFINITY),
                bits(Float.NEGATIVE_INFINITY), 0x7fc00001));
        TENSORS.put("f64", new Spec(DType.F64, new long[] {4}, Double.doubleToRawLongBits(0.1), Double.doubleToRawLongBits(-1e300),
                Double.doubleToRawLongBits(Double.MIN_VALUE), Double.doubleToRawLongBits(2.5)));
        TENSORS.put("bf16", new Spec(DType.BF16, new long[] {5}, 0x3dcd, 0x8000, 0x0001, 0x7f7f, 0xc060));
        TENSORS.put("f16", new Spec(DType.F16, new long[] {4}, 0x2e66, 0x0001, 0x7bff, 0xbc00));
        TENSORS.put("i8", new Spec(DType.I8, new long[] {3}, -128, 127, 0));
        TENSORS.put("u8", new Spec(DType.U8, new long[] {2}, 0, 255));
        TENSORS.put("i16", new Spec(DType.I16, new long[] {2}, -32768, 32767));
        TENSORS.put("u16", new Spec(DType.U16, new long[] {2}, 0, 65535));
        TENSORS.put("i32", new Spec(DType.I32, new long[] {2}, Integer.MIN_VALUE, Integer.MAX_VALUE));
        TENSORS.put("u32", new Spec(DType.U32, new long[] {2}, 0, 4294967295L));
        TENSORS.put("i64", new Spec(DType.I64, new long[] {3}, Long.MIN_VALUE, Long.MAX_VALUE, (1L << 53) + 1));
        TENSORS.put("u64", new Spec(DType.U64, new long[] {2}, -1L, 1));
        TENSORS.put("bool", new Spec(DType.BOOL, new long[] {4}, 1, 0, 1, 0xfe)); // 0xfe: not a canonical bool
        TENSORS.put("w_ü", new Spec(DType.F32, new long[] {0}));
    }

    private static long bits(float f) {
        return Float.floatToRawIntBits(f);
    }

    private static Path write(Path dir) throws IOException {
        Path file = dir.resolve("all.safetensors");
        try (TensorScope scope = TensorScope.open()) {
            Map<String, Tensor> tensors = new LinkedHashMap<>();
            TENSORS.forEach((name, s) -> {
                ByteBuffer b = ByteBuffer.allocate(s.raw().length * s.dtype().byteSize()).order(ByteOrder.LITTLE_ENDIAN);
                for (long v : s.raw()) {
                    switch (s.dtype().byteSize()) {
                        case 1 -> b.put((byte) v);
                        case 2 -> b.putShort((short) v);
                        case 4 -> b.putInt((int) v);
                        default -> b.putLong(v);
                    }
                }
                tensors.put(name, Tensor.ofBytes(b.array(), s.dtype(), s.shape()));
            });
            Safetensors.write(file, tensors, Map.of("format", "pt", "note", "Zürich ✓"));
        }
        return file;
    }

    /** Element j's value in float64, decoded independently of the command (U64 through BigInteger). */
    private static double value(Spec s, int j) {
        long r = s.raw()[j];
        return switch (s.dtype()) {
            case F32 -> Float.intBitsToFloat((int) r);
            case F64 -> Double.longBitsToDouble(r);
            case BF16 -> Float.intBitsToFloat((int) r << 16);
            case F16 -> Float.float16ToFloat((short) r);
            case U64 -> new BigDecimal(new BigInteger(Long.toUnsignedString(r))).doubleValue();
            default -> r;
        };
    }

    @Test
    void jsonHasEveryTensorsLayoutStatisticsAndBitExactValues(@TempDir Path dir) throws IOException {
        Path file = write(dir);
        String out = ok("inspect", file.toString(), "--json", "--values").out();
        assertTrue(out.chars().allMatch(c -> c < 128), "ASCII (so UTF-8 whatever the locale):\n" + out);
        JsonNode root = EXACT.readTree(out);
        Map<String, List<String>> texts = valueTexts(out);
        assertEquals("Zürich ✓", root.get("__metadata__").get("note").asText());
        assertEquals("pt", root.get("__metadata__").get("format").asText());
        Map<String, SafetensorsHeader.TensorInfo> layout = new LinkedHashMap<>();
        SafetensorsHeader.read(file).tensors().forEach(info -> layout.put(info.name(), info));
        assertEquals(List.copyOf(layout.keySet()), root.get("tensors").findValuesAsText("name"), "every tensor, in file order");
        for (JsonNode t : root.get("tensors")) {
            String name = t.get("name").asText();
            Spec s = TENSORS.get(name);
            assertEquals(s.dtype().safetensorsName(), t.get("dtype").asText(), name);
            assertEquals(Arrays.toString(s.shape()).replace(" ", ""), t.get("shape").toString(), name);
            SafetensorsHeader.TensorInfo info = layout.get(name);
            assertEquals("[" + info.begin() + "," + info.end() + "]", t.get("data_offsets").toString(), name);
            List<String> values = texts.get(name);
            assertEquals(s.raw().length, values.size(), name);
            for (int j = 0; j < s.raw().length; j++) {
                assertEquals(s.raw()[j], readBack(s.dtype(), values.get(j)), name + "[" + j + "] = " + values.get(j));
            }
            if (s.dtype() == DType.BOOL || s.raw().length == 0) {
                assertTrue(!t.has("min") && !t.has("mean"), name + ": no statistics");
                continue;
            }
            double min = Double.POSITIVE_INFINITY;
            double max = Double.NEGATIVE_INFINITY;
            double sum = 0;
            for (int j = 0; j < s.raw().length; j++) {
                min = Math.min(min, value(s, j));
                max = Math.max(max, value(s, j));
                sum += value(s, j);
            }
            if (s.dtype().isFloatingPoint()) {
                assertEquals(min, number(t.get("min")), name + " min");
                assertEquals(max, number(t.get("max")), name + " max");
            } else { // exact integers, which float64 is not beyond 2^53 (I64's max, U64's)
                List<BigInteger> exact = new ArrayList<>();
                for (int j = 0; j < s.raw().length; j++) {
                    long r = s.raw()[j];
                    exact.add(s.dtype() == DType.U64 ? new BigInteger(Long.toUnsignedString(r)) : BigInteger.valueOf(r));
                }
                assertTrue(t.get("min").isIntegralNumber() && t.get("max").isIntegralNumber(), name + ": integer extremes");
                assertEquals(exact.stream().min(BigInteger::compareTo).orElseThrow(), t.get("min").bigIntegerValue(), name + " min");
                assertEquals(exact.stream().max(BigInteger::compareTo).orElseThrow(), t.get("max").bigIntegerValue(), name + " max");
            }
            assertEquals(sum / s.raw().length, number(t.get("mean")), name + " mean"); // the same float64 sum, in the same order
        }
    }

    /** Per tensor, the text of each of its values as written (a tree would turn -0.0 into a BigDecimal 0). */
    private static Map<String, List<String>> valueTexts(String json) throws IOException {
        Map<String, List<String>> texts = new LinkedHashMap<>();
        try (JsonParser p = EXACT.createParser(json)) {
            String tensor = null;
            for (JsonToken token = p.nextToken(); token != null; token = p.nextToken()) {
                if (token == JsonToken.FIELD_NAME && p.currentName().equals("name") && p.getParsingContext().getParent().inArray()) {
                    tensor = p.nextTextValue();
                } else if (token == JsonToken.FIELD_NAME && p.currentName().equals("values")) {
                    List<String> values = new ArrayList<>();
                    p.nextToken();
                    while (p.nextToken() != JsonToken.END_ARRAY) {
                        values.add(p.getText());
                    }
                    texts.put(tensor, values);
                }
            }
        }
        return texts;
    }

    /** A value's bits (or integer) as parsed from its JSON text by the dtype's own parser; NaN(0x..) and true(0x..) show the bits. */
    private static long readBack(DType dtype, String text) {
        if (text.startsWith("NaN(0x") || text.startsWith("true(0x")) {
            return Long.parseLong(text.substring(text.indexOf("(0x") + 3, text.length() - 1), 16);
        }
        return switch (dtype) {
            case F32 -> Float.floatToRawIntBits(Float.parseFloat(text));
            case F64 -> Double.doubleToRawLongBits(Double.parseDouble(text));
            case BF16 -> {
                int b = Float.floatToRawIntBits(Float.parseFloat(text));
                assertEquals(0, b & 0xffff, text + " is a bf16 value");
                yield b >>> 16;
            }
            case F16 -> Short.toUnsignedInt(Float.floatToFloat16(Float.parseFloat(text)));
            case BOOL -> Boolean.parseBoolean(text) ? 1 : 0;
            case U64 -> new BigInteger(text).longValue(); // the bits of the unsigned value
            default -> new BigInteger(text).longValueExact();
        };
    }

    private static double number(JsonNode node) {
        return node.isTextual() ? Double.parseDouble(node.asText()) : node.doubleValue();
    }

    @Test
    void textPrintsTheShortestDecimalsAndExactIntegers(@TempDir Path dir) throws IOException {
        Path file = write(dir);
        String out = ok("inspect", file.toString(), "--values").out();
        SafetensorsHeader.TensorInfo f32 = SafetensorsHeader.read(file).tensors().stream().filter(t -> t.name().equals("f32"))
                .findFirst().orElseThrow();
        for (String expected : new String[] {"format: pt", "note: Zürich ✓",
            "f32  F32 [2, 3]  data_offsets [" + f32.begin() + ", " + f32.end() + "]  min -3.5 max 3.4028234663852886E38",
            "values: 0.1 -0.0 1.4E-45 3.4028235E38 1.0E-5 -3.5", "values: NaN Infinity -Infinity NaN(0x7fc00001)",
            "values: -9223372036854775808 9223372036854775807 9007199254740993", "values: 18446744073709551615 1",
            "min -9223372036854775808 max 9223372036854775807 mean", "min 1 max 18446744073709551615 mean",
            "values: true false true true(0xfe)"}) {
            assertTrue(out.contains(expected), "'" + expected + "' missing from\n" + out);
        }
        assertTrue(out.startsWith(file + ": 15 tensors, "), out);
    }

    @Test
    void unreadableFilesAreOneLineNamingTheFile(@TempDir Path dir) throws IOException {
        Path missing = dir.resolve("missing.safetensors");
        fails(1, List.of("tessera inspect: no such file: " + missing), "inspect", missing.toString());
        fails(1, List.of("tessera inspect: " + dir + " is a directory, not a file"), "inspect", dir.toString());
        Path empty = Files.createFile(dir.resolve("empty.safetensors"));
        fails(1, List.of("tessera inspect: " + empty + ": file is 0 bytes long"), "inspect", empty.toString());
        Path file = write(dir);
        try (FileChannel c = FileChannel.open(file, StandardOpenOption.WRITE)) {
            c.truncate(c.size() - 3);
        }
        fails(1, List.of("tessera inspect: " + file + ": "), "inspect", file.toString());
        CliRunner.Run verbose = CliRunner.run("inspect", file.toString(), "--verbose");
        assertTrue(verbose.exitCode() == 1 && verbose.err().startsWith("tessera inspect: " + file + ": ")
                && verbose.err().contains("\tat "), "--verbose adds the stack trace:\n" + verbose.err());
    }
}
