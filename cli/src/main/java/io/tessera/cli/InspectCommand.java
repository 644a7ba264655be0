package io.tessera.cli;

import com.fasterxml.jackson.core.JsonGenerator;
import io.tessera.engine.DType;
import io.tessera.engine.HostStorage;
import io.tessera.engine.Tensor;
import io.tessera.engine.io.Safetensors;
import io.tessera.engine.io.SafetensorsFile;
import io.tessera.engine.io.SafetensorsHeader;
import io.tessera.engine.io.SafetensorsHeader.TensorInfo;
import java.io.IOException;
import java.io.PrintWriter;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.math.BigInteger;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/** Lists a safetensors file's tensors with their statistics (and values), and its metadata. */
@Command(name = "inspect", description = {"Show every tensor of a safetensors file (name, dtype, shape, byte range,"
        + " min / max: float64 for floats, exact for integers; mean: float64) and its __metadata__.",
    "--values prints each value so that it parses back to the same bits."})
final class InspectCommand implements Callable<Integer> {
    private static final ValueLayout.OfShort I16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfInt I32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfLong I64 = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    @Parameters(index = "0", paramLabel = "FILE", description = "The safetensors file.")
    Path file;

    @Option(names = "--json", description = "Print the report as JSON.")
    boolean json;

    @Option(names = "--values", description = "Also print every value (integers exact, floats as the shortest decimal that"
            + " reads back to the same bits; BF16 / F16 as their float value; a NaN with a payload and a BOOL byte other than"
            + " 0 or 1 with their bits: NaN(0x7fc00001), true(0x02)).")
    boolean values;

    @Spec
    CommandSpec spec;

    @Override
    public Integer call() throws IOException {
        PrintWriter out = spec.commandLine().getOut();
        try (SafetensorsFile f = Safetensors.read(file)) {
            SafetensorsHeader header = SafetensorsHeader.read(file);
            if (json) {
                try (JsonGenerator g = Json.MAPPER.createGenerator(out).useDefaultPrettyPrinter()) {
                    g.configure(JsonGenerator.Feature.AUTO_CLOSE_TARGET, false);
                    writeJson(g, f, header);
                }
                out.println();
            } else {
                writeText(out, f, header);
            }
        }
        out.flush();
        return 0;
    }

    private void writeText(PrintWriter out, SafetensorsFile f, SafetensorsHeader header) {
        long dataBytes = header.tensors().stream().mapToLong(TensorInfo::byteSize).sum();
        out.printf(Locale.ROOT, "%s: %d tensors, %d bytes of data%n", file, header.tensors().size(), dataBytes);
        out.println("__metadata__:" + (header.metadata().isEmpty() ? " (none)" : ""));
        header.metadata().forEach((key, value) -> out.println("  " + key + ": " + value));
        for (TensorInfo info : header.tensors()) {
            MemorySegment data = bytes(f.tensor(info.name()));
            StringBuilder line = new StringBuilder(info.name()).append("  ").append(info.dtype().safetensorsName())
                    .append(' ').append(Arrays.toString(info.shape())).append("  data_offsets [").append(info.begin()).append(", ")
                    .append(info.end()).append(']');
            Stats s = stats(data, info.dtype());
            if (s != null) {
                line.append("  min ").append(s.min()).append(" max ").append(s.max()).append(" mean ").append(s.mean());
            }
            out.println(line);
            if (values) {
                out.print("  values:"); // value by value: a large tensor is never one string
                long n = data.byteSize() / info.dtype().byteSize();
                for (long i = 0; i < n; i++) {
                    out.print(' ');
                    out.print(text(data, info.dtype(), i));
                }
                out.println();
            }
        }
    }

    private void writeJson(JsonGenerator g, SafetensorsFile f, SafetensorsHeader header) throws IOException {
        g.writeStartObject();
        g.writeStringField("file", file.toString());
        g.writeObjectFieldStart("__metadata__");
        for (Map.Entry<String, String> e : header.metadata().entrySet()) {
            g.writeStringField(e.getKey(), e.getValue());
        }
        g.writeEndObject();
        g.writeArrayFieldStart("tensors");
        for (TensorInfo info : header.tensors()) {
            MemorySegment data = bytes(f.tensor(info.name()));
            g.writeStartObject();
            g.writeStringField("name", info.name());
            g.writeStringField("dtype", info.dtype().safetensorsName());
            g.writeFieldName("shape");
            g.writeArray(info.shape(), 0, info.shape().length);
            g.writeFieldName("data_offsets");
            g.writeArray(new long[] {info.begin(), info.end()}, 0, 2);
            Stats s = stats(data, info.dtype());
            if (s != null) {
                writeNumber(g, "min", s.min());
                writeNumber(g, "max", s.max());
                writeNumber(g, "mean", s.mean());
            }
            if (values) {
                g.writeArrayFieldStart("values");
                long n = data.byteSize() / info.dtype().byteSize();
                for (long i = 0; i < n; i++) {
                    String value = text(data, info.dtype(), i);
                    if (value.equals("true") || value.equals("false")) {
                        g.writeBoolean(value.equals("true"));
                    } else if (Character.isDigit(value.charAt(value.charAt(0) == '-' ? 1 : 0))) {
                        g.writeRawValue(value); // the exact text: a JSON number parser gets the same bits back
                    } else {
                        g.writeString(value); // NaN, the infinities and true(0x02) are not JSON numbers
                    }
                }
                g.writeEndArray();
            }
            g.writeEndObject();
        }
        g.writeEndArray();
        g.writeEndObject();
    }

    /** JSON has no NaN or infinity: those are strings, as Jackson and Python's json module write them; integers exact. */
    private static void writeNumber(JsonGenerator g, String field, Number value) throws IOException {
        switch (value) {
            case Long l -> g.writeNumberField(field, l);
            case BigInteger b -> g.writeNumberField(field, b);
            default -> {
                double d = value.doubleValue();
                if (Double.isFinite(d)) {
                    g.writeNumberField(field, d);
                } else {
                    g.writeStringField(field, Double.toString(d));
                }
            }
        }
    }

    /**
     * min / max / mean over the stored values, null for BOOL and empty tensors. A float tensor's min and max are float64
     * (NaN if any value is NaN); an integer tensor's are exact integers (Long, or BigInteger for U64), which float64
     * is not beyond 2^53; the mean is float64 either way.
     */
    record Stats(Number min, Number max, double mean) {}

    static Stats stats(MemorySegment data, DType dtype) {
        long n = data.byteSize() / dtype.byteSize();
        if (dtype == DType.BOOL || n == 0) {
            return null;
        }
        double sum = 0; // float64, in element order, whichever branch
        if (dtype.isFloatingPoint()) {
            double min = Double.POSITIVE_INFINITY;
            double max = Double.NEGATIVE_INFINITY;
            for (long i = 0; i < n; i++) {
                double v = number(data, dtype, i);
                min = Math.min(min, v);
                max = Math.max(max, v);
                sum += v;
            }
            return new Stats(min, max, sum / n);
        }
        boolean unsigned = dtype == DType.U64;
        long min = integer(data, dtype, 0);
        long max = min;
        for (long i = 0; i < n; i++) {
            long v = integer(data, dtype, i);
            if (unsigned ? Long.compareUnsigned(v, min) < 0 : v < min) {
                min = v;
            }
            if (unsigned ? Long.compareUnsigned(v, max) > 0 : v > max) {
                max = v;
            }
            sum += unsigned ? number(data, dtype, i) : v; // a U64 beyond 2^63 is not its long's value
        }
        return unsigned
                ? new Stats(new BigInteger(Long.toUnsignedString(min)), new BigInteger(Long.toUnsignedString(max)), sum / n)
                : new Stats(min, max, sum / n);
    }

    /** Element {@code i} of an integer tensor as a long (a U64 element: its bits). */
    private static long integer(MemorySegment data, DType dtype, long i) {
        return switch (dtype) {
            case I64, U64 -> data.getAtIndex(I64, i);
            default -> (long) number(data, dtype, i); // exact: every other integer type fits a double
        };
    }

    /** The little-endian bytes of a tensor read from a file (contiguous, on the CPU). */
    private static MemorySegment bytes(Tensor t) {
        long size = t.dtype().byteSize();
        return ((HostStorage) t.storage()).segment().asSlice(t.offset() * size, t.numel() * size);
    }

    /** Element {@code i} as a double (exact but for 64-bit integers beyond 2^53). */
    static double number(MemorySegment data, DType dtype, long i) {
        return switch (dtype) {
            case F32 -> Float.intBitsToFloat(data.getAtIndex(I32, i));
            case F64 -> Double.longBitsToDouble(data.getAtIndex(I64, i));
            case BF16 -> Float.intBitsToFloat(data.getAtIndex(I16, i) << 16);
            case F16 -> Float.float16ToFloat(data.getAtIndex(I16, i));
            case I8 -> data.get(ValueLayout.JAVA_BYTE, i);
            case U8, BOOL -> Byte.toUnsignedInt(data.get(ValueLayout.JAVA_BYTE, i));
            case I16 -> data.getAtIndex(I16, i);
            case U16 -> Short.toUnsignedInt(data.getAtIndex(I16, i));
            case I32 -> data.getAtIndex(I32, i);
            case U32 -> Integer.toUnsignedLong(data.getAtIndex(I32, i));
            case I64 -> data.getAtIndex(I64, i);
            case U64 -> Double.parseDouble(Long.toUnsignedString(data.getAtIndex(I64, i)));
        };
    }

    /**
     * Element {@code i} as text that reads back to the same bits: integers exact, floats as the shortest decimal
     * that parses to the same float (Java's Float/Double.toString), BF16 / F16 as that of their float value, which
     * converts back exactly. A NaN other than the dtype's canonical quiet NaN shows its bits: NaN(0x7fc00001); so does
     * a BOOL byte other than 0 or 1, which PyTorch reads as true: true(0x02).
     */
    static String text(MemorySegment data, DType dtype, long i) {
        return switch (dtype) {
            case F32 -> {
                int bits = data.getAtIndex(I32, i);
                yield floatText(Float.intBitsToFloat(bits), bits, 0x7fc00000);
            }
            case F64 -> {
                long bits = data.getAtIndex(I64, i);
                double v = Double.longBitsToDouble(bits);
                yield Double.isNaN(v) && bits != 0x7ff8000000000000L ? String.format("NaN(0x%x)", bits) : Double.toString(v);
            }
            case BF16 -> {
                short bits = data.getAtIndex(I16, i);
                yield floatText(Float.intBitsToFloat(bits << 16), Short.toUnsignedInt(bits), 0x7fc0);
            }
            case F16 -> {
                short bits = data.getAtIndex(I16, i);
                yield floatText(Float.float16ToFloat(bits), Short.toUnsignedInt(bits), 0x7e00);
            }
            case BOOL -> {
                int b = Byte.toUnsignedInt(data.get(ValueLayout.JAVA_BYTE, i));
                yield b == 0 ? "false" : b == 1 ? "true" : String.format("true(0x%02x)", b);
            }
            case I64 -> Long.toString(data.getAtIndex(I64, i));
            case U64 -> Long.toUnsignedString(data.getAtIndex(I64, i));
            default -> Long.toString((long) number(data, dtype, i)); // every other integer type fits a double exactly
        };
    }

    private static String floatText(float value, int bits, int canonicalNaN) {
        return Float.isNaN(value) && bits != canonicalNaN ? String.format("NaN(0x%x)", bits) : Float.toString(value);
    }
}
