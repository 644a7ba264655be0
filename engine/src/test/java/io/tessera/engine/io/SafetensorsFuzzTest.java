package io.tessera.engine.io;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.tessera.engine.DType;
import io.tessera.engine.HostStorage;
import io.tessera.engine.Tensor;
import io.tessera.engine.TensorScope;
import java.io.IOException;
import java.math.BigInteger;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Mutates valid files thousands of times (byte flips, truncation, forged header lengths, JSON edits) with
 * a fixed seed: every mutant must either load (and then close) or fail with {@link SafetensorsFormatException};
 * any other exception, an OutOfMemoryError or a crash fails the test.
 */
class SafetensorsFuzzTest {
    private static final int ITERATIONS = 3000;
    private static final JsonMapper JSON = JsonMapper.builder().build();
    private static final JsonNodeFactory NODES = JsonNodeFactory.instance;

    @TempDir
    Path dir;

    @AfterAll
    static void noLeaks() {
        assertEquals(0, HostStorage.liveBytes(), "native bytes still allocated");
    }

    private List<byte[]> seeds() throws IOException {
        List<byte[]> seeds = new ArrayList<>();
        SplittableRandom rng = new SplittableRandom(7);
        try (TensorScope scope = TensorScope.open()) {
            Map<String, Tensor> tensors = new LinkedHashMap<>();
            for (DType dtype : DType.values()) {
                long[] shape = {1 + rng.nextInt(3), 1 + rng.nextInt(4)};
                byte[] bytes = new byte[(int) (shape[0] * shape[1] * dtype.byteSize())];
                for (int i = 0; i < bytes.length; i++) {
                    bytes[i] = (byte) (dtype == DType.BOOL ? rng.nextInt(2) : rng.nextInt(256));
                }
                tensors.put("layer." + dtype + ".weight", Tensor.ofBytes(bytes, dtype, shape));
            }
            tensors.put("scalar", Tensor.scalar(3.5f));
            tensors.put("empty", Tensor.empty(DType.F32, 0, 4));
            Path a = dir.resolve("seed-a");
            Safetensors.write(a, tensors, Map.of("format", "pt", "note", "fuzz seed"));
            seeds.add(Files.readAllBytes(a));
            Path b = dir.resolve("seed-b");
            Safetensors.write(b, Map.of("w", Tensor.arange(6).reshape(2, 3), "idx", Tensor.of(new long[] {4, 5}, 2)));
            seeds.add(Files.readAllBytes(b));
        }
        // misaligned: an F32 right after one U8 byte
        seeds.add(SafetensorsTest.file("{\"u\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]},"
                + "\"f\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[1,9]}}", 8, new byte[9]));
        seeds.add(SafetensorsTest.file("{}", 8, new byte[0]));
        return seeds;
    }

    @Test
    @Timeout(60)
    void mutantsLoadOrFailWithAFormatError() throws IOException {
        List<byte[]> seeds = seeds();
        SplittableRandom rng = new SplittableRandom(20240607);
        Path p = dir.resolve("mutant.safetensors");
        int loaded = 0;
        int rejected = 0;
        Map<String, Integer> kinds = new LinkedHashMap<>();
        long live = HostStorage.liveBytes();
        for (int i = 0; i < ITERATIONS; i++) {
            byte[] seed = seeds.get(rng.nextInt(seeds.size()));
            int kind = rng.nextInt(7);
            byte[] mutant;
            try {
                mutant = mutate(seed, kind, rng);
            } catch (IOException e) {
                throw new AssertionError("test bug in mutation " + kind, e);
            }
            Files.write(p, mutant);
            boolean copy = rng.nextInt(4) == 0;
            try (SafetensorsFile f = Safetensors.read(p, copy)) {
                for (Tensor t : f.tensors().values()) {
                    assertEquals(t.numel() * t.dtype().byteSize(), t.toByteArray().length);
                }
                loaded++;
            } catch (SafetensorsFormatException e) {
                assertTrue(e.getMessage().startsWith(p.toString()), e.getMessage());
                rejected++;
                String what = e.getMessage().substring(p.toString().length() + 2).replaceAll("'[^']*'", "_").replaceAll("[0-9]+", "N");
                kinds.merge(what.substring(0, Math.min(what.length(), 36)), 1, Integer::sum);
            } catch (Throwable e) {
                Path keep = dir.resolve("failure-" + i + ".safetensors");
                Files.write(keep, mutant);
                fail("iteration " + i + " (mutation " + kind + ", copy=" + copy + ") threw " + e + "; header: "
                        + header(mutant), e);
            }
            assertEquals(live, HostStorage.liveBytes(), "iteration " + i + " leaked");
        }
        System.out.println("safetensors fuzz: " + loaded + " loaded, " + rejected + " rejected; rejections by kind " + kinds);
        // most mutants are rejected: any byte added to or cut from the data section leaves it untiled
        assertTrue(loaded > ITERATIONS / 40, "too few mutants loaded (" + loaded + "): the mutations are too destructive");
        assertTrue(rejected > ITERATIONS / 4, "too few mutants rejected (" + rejected + ")");
    }

    private static String header(byte[] file) {
        if (file.length < 8) {
            return Arrays.toString(file);
        }
        long n = ByteBuffer.wrap(file).order(ByteOrder.LITTLE_ENDIAN).getLong(0);
        int len = (int) Math.max(0, Math.min(Math.min(n, 2000), file.length - 8));
        return "n=" + Long.toUnsignedString(n) + " " + new String(file, 8, len, StandardCharsets.UTF_8);
    }

    private static byte[] mutate(byte[] seed, int kind, SplittableRandom rng) throws IOException {
        byte[] m = seed.clone();
        long n = ByteBuffer.wrap(seed).order(ByteOrder.LITTLE_ENDIAN).getLong(0);
        int headerEnd = (int) (8 + n);
        switch (kind) {
            case 0 -> { // flip bytes in the header
                int flips = 1 + rng.nextInt(4);
                for (int k = 0; k < flips; k++) {
                    int at = 8 + rng.nextInt((int) Math.max(1, n));
                    if (at < m.length) {
                        m[at] ^= (byte) (1 << rng.nextInt(8));
                    }
                }
            }
            case 1 -> { // flip bytes anywhere, including the length field and the data
                int flips = 1 + rng.nextInt(8);
                for (int k = 0; k < flips; k++) {
                    int at = rng.nextInt(m.length);
                    m[at] = (byte) rng.nextInt(256);
                }
            }
            case 2 -> m = Arrays.copyOf(m, rng.nextInt(m.length + 1)); // truncate
            case 3 -> { // forge the header length
                long forged = switch (rng.nextInt(5)) {
                    case 0 -> rng.nextLong();
                    case 1 -> Safetensors.MAX_HEADER_BYTES + rng.nextInt(3) - 1;
                    case 2 -> n + rng.nextInt(-16, 17);
                    case 3 -> rng.nextLong(0, m.length + 16);
                    default -> -1L - rng.nextInt(10);
                };
                ByteBuffer.wrap(m).order(ByteOrder.LITTLE_ENDIAN).putLong(0, forged);
            }
            case 4 -> m = textEdit(seed, headerEnd, rng);
            case 5 -> m = treeEdit(seed, headerEnd, rng);
            default -> { // append or insert random bytes
                int extra = 1 + rng.nextInt(16);
                byte[] noise = new byte[extra];
                rng.nextBytes(noise);
                int at = rng.nextBoolean() ? m.length : rng.nextInt(m.length + 1);
                byte[] out = new byte[m.length + extra];
                System.arraycopy(m, 0, out, 0, at);
                System.arraycopy(noise, 0, out, at, extra);
                System.arraycopy(m, at, out, at + extra, m.length - at);
                m = out;
            }
        }
        return m;
    }

    private static final String[] TOKENS = {"{", "}", "[", "]", "\"", ",", ":", "-", "0", "1", "9", ".", "e", " ", "\\",
        "null", "true", "\"F32\"", "\"F64\"", "\"I64\"", "\"U8\"", "\"dtype\"", "\"shape\"", "\"data_offsets\"",
        "\"__metadata__\"", "18446744073709551616", "9223372036854775807", "-1", "4294967296", "\u00e9", "\ud83d\ude00"};

    /** Character-level edits of the JSON text; the length field is rewritten to match, so the JSON is parsed. */
    private static byte[] textEdit(byte[] seed, int headerEnd, SplittableRandom rng) {
        StringBuilder json = new StringBuilder(new String(seed, 8, headerEnd - 8, StandardCharsets.UTF_8));
        int edits = 1 + rng.nextInt(3);
        for (int k = 0; k < edits; k++) {
            int at = rng.nextInt(json.length() + 1);
            switch (rng.nextInt(5)) {
                case 0 -> json.insert(at, TOKENS[rng.nextInt(TOKENS.length)]);
                case 1 -> {
                    if (at < json.length()) {
                        json.delete(at, Math.min(json.length(), at + 1 + rng.nextInt(4)));
                    }
                }
                case 2 -> { // change a digit
                    for (int j = 0; j < json.length(); j++) {
                        int c = (at + j) % json.length();
                        if (Character.isDigit(json.charAt(c))) {
                            json.setCharAt(c, (char) ('0' + rng.nextInt(10)));
                            break;
                        }
                    }
                }
                case 3 -> { // duplicate a span (often a duplicate key or a repeated entry)
                    int end = Math.min(json.length(), at + rng.nextInt(80));
                    json.insert(end, json.substring(at, end));
                }
                default -> json.replace(at, Math.min(json.length(), at + 1), TOKENS[rng.nextInt(TOKENS.length)]);
            }
        }
        return rebuild(json.toString().getBytes(StandardCharsets.UTF_8), seed, headerEnd, rng.nextBoolean());
    }

    /** Structural edits: a random field of a random entry gets a random JSON value, or is removed or copied. */
    private static byte[] treeEdit(byte[] seed, int headerEnd, SplittableRandom rng) throws IOException {
        ObjectNode root = (ObjectNode) JSON.readTree(new String(seed, 8, headerEnd - 8, StandardCharsets.UTF_8));
        List<String> names = new ArrayList<>();
        root.properties().forEach(e -> names.add(e.getKey()));
        int edits = 1 + rng.nextInt(2);
        for (int k = 0; k < edits; k++) {
            if (names.isEmpty() || rng.nextInt(8) == 0) {
                root.set(rng.nextBoolean() ? "__metadata__" : "new" + k, randomValue(rng));
                continue;
            }
            String name = names.get(rng.nextInt(names.size()));
            JsonNode entry = root.get(name);
            if (!(entry instanceof ObjectNode object) || rng.nextInt(10) == 0) {
                root.set(name, randomValue(rng));
                continue;
            }
            List<String> fields = new ArrayList<>();
            object.properties().forEach(e -> fields.add(e.getKey()));
            if (fields.isEmpty()) {
                object.set("dtype", randomValue(rng));
                continue;
            }
            String field = fields.get(rng.nextInt(fields.size()));
            JsonNode value = object.get(field);
            switch (rng.nextInt(5)) {
                case 0 -> object.remove(field);
                case 1 -> root.set(name + ".copy", object.deepCopy()); // a second tensor over the same bytes
                case 2 -> {
                    if (value instanceof ArrayNode array && !array.isEmpty()) {
                        array.set(rng.nextInt(array.size()), randomValue(rng));
                    } else {
                        object.set(field, randomValue(rng));
                    }
                }
                case 3 -> {
                    if (value instanceof ArrayNode array) {
                        if (rng.nextBoolean() && !array.isEmpty()) {
                            array.remove(rng.nextInt(array.size()));
                        } else {
                            array.add(randomValue(rng));
                        }
                    } else {
                        object.set(field, randomValue(rng));
                    }
                }
                default -> object.set(field, randomValue(rng));
            }
        }
        return rebuild(JSON.writeValueAsBytes(root), seed, headerEnd, rng.nextBoolean());
    }

    private static JsonNode randomValue(SplittableRandom rng) {
        return switch (rng.nextInt(14)) {
            case 0 -> NODES.numberNode(rng.nextInt(-2, 20));
            case 1 -> NODES.numberNode(rng.nextLong());
            case 2 -> NODES.numberNode(new BigInteger("18446744073709551617"));
            case 3 -> NODES.numberNode(1.5);
            case 4 -> NODES.textNode(DType.values()[rng.nextInt(DType.values().length)].safetensorsName());
            case 5 -> NODES.textNode(new String[] {"F64", "F8_E4M3", "U16", "", "f32"}[rng.nextInt(5)]);
            case 6 -> NODES.nullNode();
            case 7 -> NODES.booleanNode(true);
            case 8 -> NODES.arrayNode();
            case 9 -> NODES.arrayNode().add(rng.nextInt(0, 40)).add(rng.nextInt(0, 40));
            case 10 -> NODES.arrayNode().add(rng.nextInt(0, 4)).add(rng.nextInt(0, 4)).add(rng.nextInt(0, 4));
            case 11 -> NODES.objectNode();
            case 12 -> NODES.objectNode().put("k", "v");
            default -> NODES.numberNode(1L << rng.nextInt(63));
        };
    }

    /** A file with {@code json} as its header and the seed's data section, optionally padded to 8 bytes. */
    private static byte[] rebuild(byte[] json, byte[] seed, int headerEnd, boolean pad) {
        int n = pad ? (json.length + 7) / 8 * 8 : json.length;
        ByteBuffer out = ByteBuffer.allocate(8 + n + seed.length - headerEnd).order(ByteOrder.LITTLE_ENDIAN);
        out.putLong(n).put(json);
        while (out.position() < 8 + n) {
            out.put((byte) ' ');
        }
        return out.put(seed, headerEnd, seed.length - headerEnd).array();
    }
}
