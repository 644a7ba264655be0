package io.tessera.engine.io;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.tessera.engine.DType;
import io.tessera.engine.HostStorage;
import io.tessera.engine.InPlace;
import io.tessera.engine.Tensor;
import io.tessera.engine.TensorScope;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.NoSuchElementException;
import java.util.SplittableRandom;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

class SafetensorsTest {

    @TempDir
    Path dir;

    @AfterAll
    static void noLeaks() {
        assertEquals(0, HostStorage.liveBytes(), "native bytes still allocated");
    }

    // ---- helpers -------------------------------------------------------------------------------

    /** A file as the format lays it out: length field, header (padded with spaces to {@code pad}), data. */
    static byte[] file(String json, int pad, byte[] data) {
        byte[] header = json.getBytes(StandardCharsets.UTF_8);
        int n = pad <= 1 ? header.length : (header.length + pad - 1) / pad * pad;
        ByteBuffer out = ByteBuffer.allocate(8 + n + data.length).order(ByteOrder.LITTLE_ENDIAN);
        out.putLong(n).put(header);
        while (out.position() < 8 + n) {
            out.put((byte) ' ');
        }
        return out.put(data).array();
    }

    static byte[] withLength(long n, byte[] rest) {
        return ByteBuffer.allocate(8 + rest.length).order(ByteOrder.LITTLE_ENDIAN).putLong(n).put(rest).array();
    }

    static byte[] f32(float... values) {
        ByteBuffer b = ByteBuffer.allocate(values.length * 4).order(ByteOrder.LITTLE_ENDIAN);
        for (float v : values) {
            b.putFloat(v);
        }
        return b.array();
    }

    static byte[] i64(long... values) {
        ByteBuffer b = ByteBuffer.allocate(values.length * 8).order(ByteOrder.LITTLE_ENDIAN);
        for (long v : values) {
            b.putLong(v);
        }
        return b.array();
    }

    static byte[] concat(byte[]... parts) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (byte[] p : parts) {
            out.writeBytes(p);
        }
        return out.toByteArray();
    }

    Path save(String name, byte[] bytes) throws IOException {
        return Files.write(dir.resolve(name), bytes);
    }

    static byte[] randomBytes(SplittableRandom rng, DType dtype, long numel) {
        byte[] b = new byte[Math.toIntExact(numel * dtype.byteSize())];
        for (int i = 0; i < b.length; i++) {
            b[i] = (byte) (dtype == DType.BOOL ? rng.nextInt(2) : rng.nextInt(256));
        }
        return b;
    }

    static MemorySegment segmentOf(Tensor t) {
        return ((HostStorage) t.storage()).segment();
    }

    private List<String> listDir() throws IOException {
        try (Stream<Path> s = Files.list(dir)) {
            return s.map(p -> p.getFileName().toString()).sorted().toList();
        }
    }

    // ---- round trips ---------------------------------------------------------------------------

    @Test
    void everyDtypeAndShapeRoundTrips() throws IOException {
        SplittableRandom rng = new SplittableRandom(1);
        long[][] shapes = {{}, {0}, {1}, {3, 5, 7}, {2, 0, 3}};
        Map<String, byte[]> expected = new LinkedHashMap<>();
        Map<String, long[]> expectedShapes = new LinkedHashMap<>();
        Path p = dir.resolve("all.safetensors");
        try (TensorScope scope = TensorScope.open()) {
            Map<String, Tensor> tensors = new LinkedHashMap<>();
            for (DType dtype : DType.values()) {
                for (long[] shape : shapes) {
                    String name = dtype + "_" + Arrays.toString(shape);
                    long numel = Arrays.stream(shape).reduce(1, Math::multiplyExact);
                    byte[] bytes = randomBytes(rng, dtype, numel);
                    tensors.put(name, Tensor.ofBytes(bytes, dtype, shape));
                    expected.put(name, bytes);
                    expectedShapes.put(name, shape);
                }
            }
            Safetensors.write(p, tensors);
        }
        for (boolean copy : new boolean[] {false, true}) {
            try (SafetensorsFile f = Safetensors.read(p, copy)) {
                assertEquals(expected.keySet(), f.tensors().keySet());
                assertTrue(f.metadata().isEmpty());
                for (String name : expected.keySet()) {
                    Tensor t = f.tensor(name);
                    assertEquals(DType.valueOf(name.substring(0, name.indexOf('_')).toUpperCase(Locale.ROOT)), t.dtype(), name);
                    assertArrayEquals(expectedShapes.get(name), t.shape(), name);
                    assertTrue(t.isContiguous(), name);
                    assertArrayEquals(expected.get(name), t.toByteArray(), name + " copy=" + copy);
                }
            }
        }
    }

    @Test
    void nonContiguousViewsAreWrittenAsTheirRowMajorValues() throws IOException {
        Path p = dir.resolve("views.safetensors");
        try (TensorScope scope = TensorScope.open()) {
            Tensor x = Tensor.arange(24).reshape(2, 3, 4);
            Tensor permuted = x.permute(2, 0, 1);
            Tensor sliced = x.slice(2, 1, 4, 2);
            Tensor longs = Tensor.of(new long[] {1, 2, 3, 4, 5, 6}, 2, 3).t();
            Tensor expandedView = Tensor.of(new float[] {1, 2}, 2, 1).expand(2, 3);
            assertFalse(permuted.isContiguous());
            assertFalse(sliced.isContiguous());
            assertFalse(longs.isContiguous());
            Safetensors.write(p, Map.of("permuted", permuted, "sliced", sliced, "longs", longs, "expanded", expandedView));
            try (SafetensorsFile f = Safetensors.read(p)) {
                assertArrayEquals(permuted.toFloatArray(), f.tensor("permuted").toFloatArray());
                assertArrayEquals(new long[] {4, 2, 3}, f.tensor("permuted").shape());
                assertArrayEquals(new float[] {1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23}, f.tensor("sliced").toFloatArray());
                assertArrayEquals(new long[] {1, 4, 2, 5, 3, 6}, f.tensor("longs").toLongArray());
                assertArrayEquals(new float[] {1, 1, 1, 2, 2, 2}, f.tensor("expanded").toFloatArray());
            }
        }
    }

    @Test
    void metadataRoundTrips() throws IOException {
        Path p = dir.resolve("meta.safetensors");
        Map<String, String> metadata = Map.of("format", "pt",
                "description", "quotes \" backslash \\ newline \n unicode \u00e9\u4e2d\ud83d\ude00",
                "", "empty key");
        try (Tensor t = Tensor.of(new float[] {1, 2, 3}, 3)) {
            Safetensors.write(p, Map.of("x", t), metadata);
        }
        try (SafetensorsFile f = Safetensors.read(p)) {
            assertEquals(metadata, f.metadata());
            assertArrayEquals(new float[] {1, 2, 3}, f.tensor("x").toFloatArray());
        }
        assertEquals(metadata, SafetensorsHeader.read(p).metadata());
    }

    /**
     * Evicting a mapped tensor's pages (a weight read once while loading) leaves it and its neighbours readable, with
     * the file's values; a copied tensor and a tensor of another file are left alone.
     */
    @Test
    void evictedTensorsReadTheFileAgain() throws IOException {
        Path p = dir.resolve("evict.safetensors");
        float[] big = new float[3 * 4096 + 7]; // spans whole pages and partial ones at both ends
        for (int i = 0; i < big.length; i++) {
            big[i] = (float) Math.sin(i);
        }
        try (Tensor a = Tensor.of(new float[] {1, 2, 3}, 3); Tensor b = Tensor.of(big, big.length)) {
            Safetensors.write(p, Map.of("a", a, "big", b));
        }
        try (SafetensorsFile mapped = Safetensors.read(p); SafetensorsFile copied = Safetensors.read(p, true)) {
            assertTrue(((HostStorage) mapped.tensor("big").storage()).segment().isReadOnly(), "a zero-copy view of the mapping");
            mapped.evict(mapped.tensor("big"));
            mapped.evict(copied.tensor("big")); // not a view of this mapping: ignored
            copied.evict(copied.tensor("a"));
            assertArrayEquals(big, mapped.tensor("big").toFloatArray());
            assertArrayEquals(new float[] {1, 2, 3}, mapped.tensor("a").toFloatArray());
            assertArrayEquals(big, copied.tensor("big").toFloatArray());
            assertArrayEquals(new float[] {1, 2, 3}, copied.tensor("a").toFloatArray());
        }
    }

    // ---- compatibility with the reference implementation ---------------------------------------

    /** The byte-exact outputs from the reference implementation's own tests (safetensors/src/tensor.rs). */
    @Test
    void writerMatchesTheReferenceLayoutByteForByte() throws IOException {
        Path p = dir.resolve("ref.safetensors");
        try (Tensor t = Tensor.of(new float[] {0, 1, 2, 3, 4, 5}, 1, 1, 2, 3)) {
            Safetensors.write(p, Map.of("attn0", t));
        }
        byte[] expected = {72, 0, 0, 0, 0, 0, 0, 0, 123, 34, 97, 116, 116, 110, 48, 34, 58, 123, 34, 100, 116,
            121, 112, 101, 34, 58, 34, 70, 51, 50, 34, 44, 34, 115, 104, 97, 112, 101, 34, 58,
            91, 49, 44, 49, 44, 50, 44, 51, 93, 44, 34, 100, 97, 116, 97, 95, 111, 102, 102,
            115, 101, 116, 115, 34, 58, 91, 48, 44, 50, 52, 93, 125, 125, 32, 32, 32, 32, 32,
            32, 32, 0, 0, 0, 0, 0, 0, (byte) 128, 63, 0, 0, 0, 64, 0, 0, 64, 64, 0, 0, (byte) 128, 64, 0, 0,
            (byte) 160, 64};
        assertArrayEquals(expected, Files.readAllBytes(p));

        Safetensors.write(p, Map.of());
        assertArrayEquals(new byte[] {8, 0, 0, 0, 0, 0, 0, 0, 123, 125, 32, 32, 32, 32, 32, 32}, Files.readAllBytes(p));

        Safetensors.write(p, Map.of(), Map.of("framework", "pt"));
        assertArrayEquals(new byte[] {40, 0, 0, 0, 0, 0, 0, 0, 123, 34, 95, 95, 109, 101, 116, 97, 100, 97, 116, 97, 95,
            95, 34, 58, 123, 34, 102, 114, 97, 109, 101, 119, 111, 114, 107, 34, 58, 34, 112,
            116, 34, 125, 125, 32, 32, 32, 32, 32}, Files.readAllBytes(p));
        try (SafetensorsFile f = Safetensors.read(p)) {
            assertTrue(f.tensors().isEmpty());
            assertEquals(Map.of("framework", "pt"), f.metadata());
        }
    }

    /**
     * A two-tensor file laid out as Python's {@code safetensors.torch.save_file({"weight": ..., "bias": ...},
     * metadata={"format": "pt"})} lays it out: metadata first, tensors by descending dtype alignment (I64
     * before F32), header padded with spaces to 8 bytes.
     */
    @Test
    void readsAFileLaidOutByThePythonWriter() throws IOException {
        String json = "{\"__metadata__\":{\"format\":\"pt\"},"
                + "\"bias\":{\"dtype\":\"I64\",\"shape\":[2],\"data_offsets\":[0,16]},"
                + "\"weight\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[16,32]}}";
        byte[] bytes = file(json, 8, concat(i64(-1, 1L << 40), f32(1.5f, -2f, 3.25f, Float.MIN_VALUE)));
        assertEquals(0, (bytes.length - 32) % 8);
        Path p = save("python.safetensors", bytes);
        try (SafetensorsFile f = Safetensors.read(p)) {
            assertEquals(List.of("bias", "weight"), List.copyOf(f.tensors().keySet()));
            assertEquals(Map.of("format", "pt"), f.metadata());
            Tensor bias = f.tensor("bias");
            assertEquals(DType.I64, bias.dtype());
            assertArrayEquals(new long[] {2}, bias.shape());
            assertArrayEquals(new long[] {-1, 1L << 40}, bias.toLongArray());
            Tensor weight = f.tensor("weight");
            assertEquals(DType.F32, weight.dtype());
            assertArrayEquals(new long[] {2, 2}, weight.shape());
            assertArrayEquals(new float[] {1.5f, -2f, 3.25f, Float.MIN_VALUE}, weight.toFloatArray());

            // and writing the same tensors back gives the same bytes
            Path again = dir.resolve("again.safetensors");
            Safetensors.write(again, Map.of("weight", weight, "bias", bias), f.metadata());
            assertArrayEquals(bytes, Files.readAllBytes(again));
        }
    }

    /** The {@code size} low bytes of {@code v}, least significant first. */
    static byte[] le(int size, long v) {
        byte[] b = new byte[size];
        for (int i = 0; i < size; i++) {
            b[i] = (byte) (v >>> (8 * i));
        }
        return b;
    }

    /**
     * F64, U64, U32, U16 and I16 tensors laid out byte by byte as the reference writer lays them out (by
     * descending alignment: U64, F64, U32, U16, I16): read exactly, convert, and write back to the same bytes.
     */
    @Test
    void readsAndWritesF64AndTheUnsignedAndSixteenBitIntegers() throws IOException {
        String json = "{\"q\":{\"dtype\":\"U64\",\"shape\":[2],\"data_offsets\":[0,16]},"
                + "\"d\":{\"dtype\":\"F64\",\"shape\":[2],\"data_offsets\":[16,32]},"
                + "\"u\":{\"dtype\":\"U32\",\"shape\":[1],\"data_offsets\":[32,36]},"
                + "\"w\":{\"dtype\":\"U16\",\"shape\":[2],\"data_offsets\":[36,40]},"
                + "\"s\":{\"dtype\":\"I16\",\"shape\":[2,1],\"data_offsets\":[40,44]}}";
        byte[] bytes = file(json, 8, concat(le(8, -1L), le(8, 1L << 63), le(8, Double.doubleToRawLongBits(0.1)),
                le(8, Double.doubleToRawLongBits(-1e300)), le(4, 0xffff_fffeL), le(2, 0xffff), le(2, 1), le(2, -2), le(2, 0x7fff)));
        Path p = save("added-dtypes.safetensors", bytes);
        for (boolean copy : new boolean[] {false, true}) {
            try (SafetensorsFile f = Safetensors.read(p, copy); TensorScope scope = TensorScope.open()) {
                assertEquals(List.of("q", "d", "u", "w", "s"), List.copyOf(f.tensors().keySet()));
                Tensor d = f.tensor("d");
                assertEquals(DType.F64, d.dtype());
                assertArrayEquals(new double[] {0.1, -1e300}, d.toDoubleArray());
                assertArrayEquals(new float[] {0.1f, Float.NEGATIVE_INFINITY}, d.to(DType.F32).toFloatArray());
                assertEquals(DType.U64, f.tensor("q").dtype());
                assertArrayEquals(new long[] {-1L, 1L << 63}, f.tensor("q").toLongArray());
                assertArrayEquals(new double[] {0x1p64, 0x1p63}, f.tensor("q").toDoubleArray());
                assertEquals(DType.U32, f.tensor("u").dtype());
                assertArrayEquals(new long[] {0xffff_fffeL}, f.tensor("u").toLongArray());
                assertEquals(DType.U16, f.tensor("w").dtype());
                assertArrayEquals(new int[] {0xffff, 1}, f.tensor("w").toIntArray());
                Tensor s = f.tensor("s");
                assertEquals(DType.I16, s.dtype());
                assertArrayEquals(new long[] {2, 1}, s.shape());
                assertArrayEquals(new int[] {-2, 0x7fff}, s.toIntArray());

                Path again = dir.resolve("again-" + copy + ".safetensors");
                Safetensors.write(again, f.tensors());
                assertArrayEquals(bytes, Files.readAllBytes(again));
            }
        }
    }

    @Test
    void headerInspectionReadsNoData() throws IOException {
        String json = "{\"b\":{\"dtype\":\"U8\",\"shape\":[3],\"data_offsets\":[4,7]},"
                + "\"a\":{\"dtype\":\"BF16\",\"shape\":[2],\"data_offsets\":[0,4]}}";
        Path p = save("h.safetensors", file(json, 8, new byte[7]));
        SafetensorsHeader h = SafetensorsHeader.read(p);
        assertEquals(List.of("a", "b"), h.tensors().stream().map(SafetensorsHeader.TensorInfo::name).toList());
        assertEquals(DType.BF16, h.tensors().get(0).dtype());
        assertArrayEquals(new long[] {3}, h.tensors().get(1).shape());
        assertEquals(3, h.tensors().get(1).byteSize());
        assertEquals(8 + h.headerLength(), h.dataStart());
    }

    @Test
    void acceptsWhatTheFormatAllows() throws IOException {
        // null metadata, unknown extra fields, empty tensors sharing an offset (with each other, with the start
        // of a tensor and with the end of the data), tensors listed out of offset order, whitespace and
        // newlines in the header
        String json = " {\n \"__metadata__\": null,"
                + " \"z\": {\"shape\": [0], \"dtype\": \"F32\", \"data_offsets\": [1, 1], \"extra\": [1]},\n"
                + " \"y\": {\"dtype\": \"I8\", \"shape\": [0, 5], \"data_offsets\": [1, 1]},"
                + " \"x\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [1, 5]},"
                + " \"v\": {\"dtype\": \"U8\", \"shape\": [2, 0], \"data_offsets\": [5, 5]},"
                + " \"w\": {\"dtype\": \"I8\", \"shape\": [], \"data_offsets\": [0, 1]} }";
        Path p = save("lenient.safetensors", file(json, 1, concat(new byte[] {-7}, f32(42f))));
        try (SafetensorsFile f = Safetensors.read(p)) {
            assertEquals(List.of("w", "z", "y", "x", "v"), List.copyOf(f.tensors().keySet()), "by offset, ties in header order");
            assertTrue(f.metadata().isEmpty());
            assertArrayEquals(new byte[] {-7}, f.tensor("w").toByteArray());
            assertArrayEquals(new long[] {}, f.tensor("w").shape());
            assertArrayEquals(new float[] {42f}, f.tensor("x").toFloatArray());
            assertEquals(0, f.tensor("z").numel());
            assertArrayEquals(new long[] {2, 0}, f.tensor("v").shape());
            assertThrows(NoSuchElementException.class, () -> f.tensor("nope"));
        }
    }

    @Test
    void theWriterTilesTheDataSectionExactly() throws IOException {
        Path p = dir.resolve("tiled.safetensors");
        try (TensorScope scope = TensorScope.open()) {
            Safetensors.write(p, Map.of("a", Tensor.of(new float[] {1, 2, 3}, 3), "b", Tensor.empty(DType.I64, 0),
                    "c", Tensor.ofBytes(new byte[] {1, 0, 1}, DType.BOOL, 3), "d", Tensor.empty(DType.F16, 2, 0)));
        }
        SafetensorsHeader header = SafetensorsHeader.read(p);
        long covered = 0;
        for (SafetensorsHeader.TensorInfo info : header.tensors()) {
            assertEquals(covered, info.begin(), info.name());
            covered = info.end();
        }
        assertEquals(Files.size(p) - header.dataStart(), covered);
    }

    // ---- zero-copy, alignment and ownership ----------------------------------------------------

    @Test
    void alignedTensorsAreReadOnlyViewsOfTheMapping() throws IOException {
        Path p = dir.resolve("mapped.safetensors");
        try (TensorScope scope = TensorScope.open()) {
            Safetensors.write(p, Map.of("a", Tensor.of(new float[] {1, 2, 3}, 3), "b", Tensor.of(new long[] {7, 8}, 2),
                    "c", Tensor.ofBytes(new byte[] {1, 0, 1}, DType.BOOL, 3)));
        }
        long live = HostStorage.liveBytes();
        SafetensorsHeader header = SafetensorsHeader.read(p);
        try (SafetensorsFile f = Safetensors.read(p)) {
            assertEquals(live, HostStorage.liveBytes(), "zero-copy read allocates nothing");
            MemorySegment mapping = f.mapping();
            assertNotNull(mapping);
            assertEquals(Files.size(p), mapping.byteSize());
            for (SafetensorsHeader.TensorInfo info : header.tensors()) {
                MemorySegment s = segmentOf(f.tensor(info.name()));
                assertTrue(s.isMapped() && s.isReadOnly(), info.name());
                assertEquals(mapping.address() + header.dataStart() + info.begin(), s.address(), info.name());
                assertTrue(s.address() + s.byteSize() <= mapping.address() + mapping.byteSize());
                assertEquals(0, s.address() % info.dtype().byteSize());
            }
            Tensor a = f.tensor("a");
            assertArrayEquals(new float[] {1, 2, 3}, a.toFloatArray());
            // writing into the read-only mapping fails with an exception, not a crash, and changes nothing
            assertThrows(RuntimeException.class, () -> segmentOf(a).set(ValueLayout.JAVA_FLOAT_UNALIGNED, 0, 9f));
            assertThrows(RuntimeException.class,
                    () -> MemorySegment.copy(new float[] {9}, 0, segmentOf(a), ValueLayout.JAVA_FLOAT_UNALIGNED, 0, 1));
            assertArrayEquals(new float[] {1, 2, 3}, a.toFloatArray());
            // computing from mapped tensors works
            try (TensorScope scope = TensorScope.open()) {
                assertArrayEquals(new float[] {2, 4, 6}, a.add(a).toFloatArray());
            }
            // the tensors share the mapping: closing one closes all
            f.tensor("b").close();
            assertTrue(a.isClosed());
            assertThrows(IllegalStateException.class, a::toFloatArray);
        }
    }

    /**
     * Today this crashes the JVM (SIGSEGV in ts_unary_f32 / memcpy writing the read-only mapping): the CPU
     * backend passes output tensors to native code without checking {@code segment().isReadOnly()}. Enable
     * once it does.
     */
    @Test
    void nativeInPlaceWritesIntoAMappedTensorThrow() throws IOException {
        Path p = dir.resolve("inplace.safetensors");
        try (Tensor t = Tensor.of(new float[] {1, 2, 3}, 3)) {
            Safetensors.write(p, Map.of("w", t));
        }
        try (SafetensorsFile f = Safetensors.read(p); Tensor src = Tensor.of(new float[] {9, 9, 9}, 3)) {
            Tensor w = f.tensor("w");
            var e = assertThrows(IllegalArgumentException.class, () -> InPlace.scale(w, 2));
            assertTrue(e.getMessage().contains("read-only"), e.getMessage());
            assertThrows(IllegalArgumentException.class, () -> InPlace.copy(src, w));
            assertArrayEquals(new float[] {1, 2, 3}, w.toFloatArray());
        }
    }

    @Test
    void copiedTensorsAreWritableAndOwnNoMapping() throws IOException {
        Path p = dir.resolve("copy.safetensors");
        try (Tensor t = Tensor.of(new float[] {1, 2, 3}, 3)) {
            Safetensors.write(p, Map.of("w", t));
        }
        long live = HostStorage.liveBytes();
        try (SafetensorsFile f = Safetensors.read(p, true)) {
            assertNull(f.mapping());
            Tensor w = f.tensor("w");
            assertFalse(segmentOf(w).isMapped());
            assertFalse(segmentOf(w).isReadOnly());
            assertEquals(live + 12, HostStorage.liveBytes());
            InPlace.scale(w, 2);
            assertArrayEquals(new float[] {2, 4, 6}, w.toFloatArray());
            // the file is untouched
            try (SafetensorsFile again = Safetensors.read(p)) {
                assertArrayEquals(new float[] {1, 2, 3}, again.tensor("w").toFloatArray());
            }
        }
        assertEquals(live, HostStorage.liveBytes());
    }

    @Test
    void misalignedDataIsCopied() throws IOException {
        // one U8 byte first, so the F32 data starts at an odd file offset
        String json = "{\"u\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]},"
                + "\"f\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[1,13]},"
                + "\"h\":{\"dtype\":\"F16\",\"shape\":[1],\"data_offsets\":[13,15]}}";
        byte[] bytes = file(json, 8, concat(new byte[] {(byte) 200}, f32(-1f, 0.5f, 1e30f), new byte[] {0, 0x3c}));
        Path p = save("odd.safetensors", bytes);
        SafetensorsHeader header = SafetensorsHeader.read(p);
        assertEquals(1, (header.dataStart() + 1) % 2, "the F32 tensor starts at an odd offset");
        long live = HostStorage.liveBytes();
        try (SafetensorsFile f = Safetensors.read(p)) {
            Tensor t = f.tensor("f");
            assertArrayEquals(new float[] {-1f, 0.5f, 1e30f}, t.toFloatArray());
            assertFalse(segmentOf(t).isMapped(), "misaligned F32 is a copy");
            assertEquals(0, segmentOf(t).address() % 64);
            assertTrue(segmentOf(f.tensor("u")).isMapped(), "U8 is always aligned");
            assertArrayEquals(new byte[] {(byte) 200}, f.tensor("u").toByteArray());
            assertFalse(segmentOf(f.tensor("h")).isMapped(), "F16 at an odd offset is a copy");
            assertEquals(live + 12 + 2, HostStorage.liveBytes());
            try (TensorScope scope = TensorScope.open()) { // frees the F32 conversion toFloatArray makes
                assertArrayEquals(new float[] {1f}, f.tensor("h").toFloatArray());
            }
            f.tensor("u").close(); // unmaps; the copies stay usable until the file closes
            assertArrayEquals(new float[] {-1f, 0.5f, 1e30f}, t.toFloatArray());
        }
        assertEquals(live, HostStorage.liveBytes());
    }

    @Test
    void aTensorScopeAlsoFreesWhatWasReadInsideIt() throws IOException {
        Path p = dir.resolve("scoped.safetensors");
        try (Tensor t = Tensor.of(new float[] {1, 2}, 2)) {
            Safetensors.write(p, Map.of("t", t));
        }
        SafetensorsFile mapped;
        SafetensorsFile copied;
        long live = HostStorage.liveBytes();
        try (TensorScope scope = TensorScope.open()) {
            mapped = Safetensors.read(p);
            copied = Safetensors.read(p, true);
            assertEquals(live + 8, HostStorage.liveBytes());
        }
        assertTrue(mapped.tensor("t").isClosed());
        assertTrue(copied.tensor("t").isClosed());
        assertEquals(live, HostStorage.liveBytes());
        mapped.close(); // idempotent
        copied.close();
    }

    // ---- atomic write --------------------------------------------------------------------------

    @Test
    void overwritingAMappedFileLeavesItsTensorsValid() throws IOException {
        Path p = dir.resolve("model.safetensors");
        try (Tensor t = Tensor.of(new float[] {1, 2, 3}, 3)) {
            Safetensors.write(p, Map.of("w", t));
        }
        try (SafetensorsFile old = Safetensors.read(p)) {
            try (TensorScope scope = TensorScope.open()) {
                Safetensors.write(p, Map.of("w", old.tensor("w").mul(10)));
            }
            assertArrayEquals(new float[] {1, 2, 3}, old.tensor("w").toFloatArray());
            try (SafetensorsFile fresh = Safetensors.read(p)) {
                assertArrayEquals(new float[] {10, 20, 30}, fresh.tensor("w").toFloatArray());
            }
        }
        assertEquals(List.of("model.safetensors"), listDir());
    }

    @Test
    void aFailureMidwayLeavesTheOldFileAndNoTempFile() throws IOException {
        Path p = dir.resolve("good.safetensors");
        try (Tensor t = Tensor.of(new float[] {1, 2, 3}, 3)) {
            Safetensors.write(p, Map.of("w", t));
        }
        byte[] before = Files.readAllBytes(p);
        Tensor first = Tensor.of(new float[] {4, 5}, 2);
        Tensor closed = Tensor.of(new float[] {6, 7}, 2);
        closed.close();
        // "a" is written (header and data) before "z" turns out to be closed
        IllegalStateException e = assertThrows(IllegalStateException.class,
                () -> Safetensors.write(p, Map.of("a", first, "z", closed)));
        first.close();
        assertTrue(e.getMessage().contains("'z'") && e.getMessage().contains("closed"), e.getMessage());
        assertArrayEquals(before, Files.readAllBytes(p));
        assertEquals(List.of("good.safetensors"), listDir());
    }

    @Test
    void aFailedRenameLeavesTheTargetAndNoTempFile() throws IOException {
        Path target = Files.createDirectory(dir.resolve("occupied"));
        Files.writeString(target.resolve("keep.txt"), "x");
        try (Tensor t = Tensor.of(new float[] {1}, 1)) {
            assertThrows(IOException.class, () -> Safetensors.write(target, Map.of("w", t)));
        }
        assertEquals("x", Files.readString(target.resolve("keep.txt")));
        assertEquals(List.of("occupied"), listDir());
        try (Tensor t = Tensor.of(new float[] {1}, 1)) {
            assertThrows(IOException.class, () -> Safetensors.write(dir.resolve("missing/dir/x.safetensors"), Map.of("w", t)));
        }
        assertEquals(List.of("occupied"), listDir());
    }

    @Test
    void aReadOnlyDirectoryLeavesTheOldFileUntouched() throws IOException {
        Path sub = Files.createDirectory(dir.resolve("ro"));
        Path p = sub.resolve("good.safetensors");
        try (Tensor t = Tensor.of(new float[] {1, 2, 3}, 3)) {
            Safetensors.write(p, Map.of("w", t));
        }
        byte[] before = Files.readAllBytes(p);
        Files.setPosixFilePermissions(sub, PosixFilePermissions.fromString("r-xr-xr-x"));
        try {
            Path probe = sub.resolve("probe");
            boolean enforced;
            try {
                Files.createFile(probe);
                Files.delete(probe);
                enforced = false;
            } catch (IOException e) {
                enforced = true;
            }
            assumeTrue(enforced, "directory permissions are not enforced for this user (root)");
            try (Tensor t = Tensor.of(new float[] {9}, 1)) {
                assertThrows(IOException.class, () -> Safetensors.write(p, Map.of("w", t)));
            }
            assertArrayEquals(before, Files.readAllBytes(p));
            try (Stream<Path> s = Files.list(sub)) {
                assertEquals(List.of(p), s.toList());
            }
        } finally {
            Files.setPosixFilePermissions(sub, PosixFilePermissions.fromString("rwxr-xr-x"));
        }
    }

    @Test
    void writeRejectsBadArguments() throws IOException {
        Path p = dir.resolve("bad.safetensors");
        try (Tensor t = Tensor.of(new float[] {1}, 1)) {
            assertThrows(IllegalArgumentException.class, () -> Safetensors.write(p, Map.of("__metadata__", t)));
            Map<String, String> nullValue = new LinkedHashMap<>();
            nullValue.put("k", null);
            assertThrows(IllegalArgumentException.class, () -> Safetensors.write(p, Map.of("t", t), nullValue));
            Map<String, Tensor> nullTensor = new LinkedHashMap<>();
            nullTensor.put("t", null);
            assertThrows(IllegalArgumentException.class, () -> Safetensors.write(p, nullTensor));
        }
        assertEquals(List.of(), listDir());
    }

    // ---- malformed files -----------------------------------------------------------------------

    private static final String OK_ENTRY = "{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}";

    static String one(String entry) {
        return "{\"t\":" + entry + "}";
    }

    static Stream<Arguments> malformed() {
        byte[] data = new byte[16];
        return Stream.of(
                Arguments.of("shorter than 8 bytes", new byte[] {1, 0, 0, 0, 0}, List.of("5 bytes", "shorter than the 8-byte")),
                Arguments.of("empty file", new byte[0], List.of("0 bytes")),
                Arguments.of("header length over the limit", withLength(Safetensors.MAX_HEADER_BYTES + 1, "{}".getBytes()),
                        List.of("header length 100000001", "limit")),
                Arguments.of("a JSON file", "{\n  \"architectures\": [\"GPT2LMHeadModel\"]\n}\n".getBytes(StandardCharsets.UTF_8),
                        List.of("exceeds the limit", "starts with text (\"{   \"arc\")", "probably not a safetensors file")),
                Arguments.of("header length 2^64-1", withLength(-1L, "{}".getBytes()), List.of("18446744073709551615", "limit")),
                Arguments.of("header length beyond the file", withLength(1000, "{}      ".getBytes()),
                        List.of("header length 1000", "exceeds the 8 bytes")),
                Arguments.of("header not UTF-8", withLength(3, new byte[] {'{', (byte) 0xff, '}'}), List.of("not valid UTF-8")),
                Arguments.of("header not JSON", file("{\"t\":", 1, data), List.of("not valid JSON")),
                Arguments.of("trailing garbage", file("{} x", 1, data), List.of("not valid JSON")),
                Arguments.of("trailing NULs", file("{}\0\0", 1, data), List.of("not valid JSON")),
                Arguments.of("empty header", file("", 1, data), List.of("not a JSON object but empty")),
                Arguments.of("header not an object", file("[1,2]", 1, data), List.of("not a JSON object", "array")),
                Arguments.of("entry not an object", file("{\"t\":5}", 1, data), List.of("tensor 't'", "not an object")),
                Arguments.of("missing dtype", file(one("{\"shape\":[2],\"data_offsets\":[0,8]}"), 1, data),
                        List.of("tensor 't'", "missing 'dtype'")),
                Arguments.of("dtype not a string", file(one("{\"dtype\":4,\"shape\":[2],\"data_offsets\":[0,8]}"), 1, data),
                        List.of("tensor 't'", "dtype is not a string")),
                Arguments.of("unknown dtype C64", file(one("{\"dtype\":\"C64\",\"shape\":[1],\"data_offsets\":[0,8]}"), 1, data),
                        List.of("tensor 't'", "unsupported dtype 'C64'",
                                "(supported: F32, BF16, F16, I8, U8, BOOL, I32, I64, F64, I16, U16, U32, U64)")),
                Arguments.of("unknown dtype F8_E4M3", file(one("{\"dtype\":\"F8_E4M3\",\"shape\":[1],\"data_offsets\":[0,1]}"), 1, data),
                        List.of("tensor 't'", "unsupported dtype 'F8_E4M3'")),
                Arguments.of("missing shape", file(one("{\"dtype\":\"F32\",\"data_offsets\":[0,8]}"), 1, data),
                        List.of("tensor 't'", "missing 'shape'")),
                Arguments.of("shape not an array", file(one("{\"dtype\":\"F32\",\"shape\":2,\"data_offsets\":[0,8]}"), 1, data),
                        List.of("tensor 't'", "shape is not an array")),
                Arguments.of("shape of floats", file(one("{\"dtype\":\"F32\",\"shape\":[2.0],\"data_offsets\":[0,8]}"), 1, data),
                        List.of("tensor 't'", "not a 64-bit integer")),
                Arguments.of("shape of strings", file(one("{\"dtype\":\"F32\",\"shape\":[\"2\"],\"data_offsets\":[0,8]}"), 1, data),
                        List.of("tensor 't'", "not a 64-bit integer")),
                Arguments.of("shape dim over 2^63",
                        file(one("{\"dtype\":\"F32\",\"shape\":[18446744073709551616],\"data_offsets\":[0,8]}"), 1, data),
                        List.of("tensor 't'", "not a 64-bit integer")),
                Arguments.of("negative dim", file(one("{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}"), 1, data),
                        List.of("tensor 't'", "negative dim -2")),
                Arguments.of("shape product overflow",
                        file(one("{\"dtype\":\"U8\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,8]}"), 1, data),
                        List.of("tensor 't'", "overflows")),
                Arguments.of("byte size overflow",
                        file(one("{\"dtype\":\"I64\",\"shape\":[4611686018427387904],\"data_offsets\":[0,8]}"), 1, data),
                        List.of("tensor 't'", "overflows")),
                Arguments.of("too many dims",
                        file(one("{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,2],\"data_offsets\":[0,8]}"), 1, data),
                        List.of("tensor 't'", "9 dims")),
                Arguments.of("missing data_offsets", file(one("{\"dtype\":\"F32\",\"shape\":[2]}"), 1, data),
                        List.of("tensor 't'", "missing 'data_offsets'")),
                Arguments.of("data_offsets a string", file(one("{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":\"0,8\"}"), 1, data),
                        List.of("tensor 't'", "not an array of two integers")),
                Arguments.of("data_offsets of three", file(one("{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8,8]}"), 1, data),
                        List.of("tensor 't'", "not an array of two integers")),
                Arguments.of("negative data_offsets", file(one("{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[-8,0]}"), 1, data),
                        List.of("tensor 't'", "non-negative")),
                Arguments.of("float data_offsets", file(one("{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8.0]}"), 1, data),
                        List.of("tensor 't'", "non-negative")),
                Arguments.of("begin after end", file(one("{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]}"), 1, data),
                        List.of("tensor 't'", "begin after they end")),
                Arguments.of("end beyond the data", file(one("{\"dtype\":\"F32\",\"shape\":[8],\"data_offsets\":[0,32]}"), 1, data),
                        List.of("tensor 't'", "beyond the data section", "16 bytes")),
                Arguments.of("huge end", file(one("{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,9223372036854775807]}"), 1, data),
                        List.of("tensor 't'", "beyond the data section")),
                Arguments.of("size disagrees with shape", file(one("{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,12]}"), 1, data),
                        List.of("tensor 't'", "span 12 bytes", "needs 8")),
                Arguments.of("overlapping tensors",
                        file("{\"a\":" + OK_ENTRY + ",\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 1, data),
                        List.of("'a' [0, 8)", "'b' [4, 12)", "overlap")),
                Arguments.of("empty tensor inside another",
                        file("{\"a\":" + OK_ENTRY + ",\"b\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[4,4]}}", 1, data),
                        List.of("'b' [4, 4)", "overlap")),
                Arguments.of("hole between tensors",
                        file("{\"a\":" + OK_ENTRY + ",\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[12,16]}}", 1, data),
                        List.of("bytes [8, 12) between 'a' and 'b' are not indexed by any tensor")),
                Arguments.of("hole after an empty tensor", file("{\"a\":" + OK_ENTRY
                        + ",\"e\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[8,8]},"
                        + "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[12,16]}}", 1, data),
                        List.of("bytes [8, 12) between 'e' and 'b' are not indexed by any tensor")),
                Arguments.of("hole before the first tensor",
                        file("{\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}", 1, data),
                        List.of("bytes [0, 8) before 'b' are not indexed by any tensor")),
                Arguments.of("empty tensor beyond the last",
                        file("{\"a\":" + OK_ENTRY + ",\"e\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[16,16]}}", 1, data),
                        List.of("bytes [8, 16) between 'a' and 'e' are not indexed by any tensor")),
                Arguments.of("trailing bytes", file(one(OK_ENTRY), 1, data),
                        List.of("8 trailing bytes [8, 16) after the last tensor 't' are not indexed by any tensor")),
                Arguments.of("trailing bytes after an empty tensor",
                        file(one("{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]}"), 1, new byte[1]),
                        List.of("1 trailing bytes [0, 1) after the last tensor 't'")),
                Arguments.of("data but no tensors", file("{\"__metadata__\":{\"k\":\"v\"}}", 8, new byte[3]),
                        List.of("3 trailing bytes [0, 3) after the header, which indexes no tensor")),
                Arguments.of("metadata not an object", file("{\"__metadata__\":[\"a\"]}", 1, data),
                        List.of("__metadata__ is not an object")),
                Arguments.of("metadata value not a string", file("{\"__metadata__\":{\"step\":1000}}", 1, data),
                        List.of("__metadata__ value of 'step' is not a string")),
                Arguments.of("duplicate tensor", file("{\"t\":" + OK_ENTRY + ",\"t\":" + OK_ENTRY + "}", 1, data),
                        List.of("not valid JSON", "Duplicate", "'t'")),
                Arguments.of("duplicate field",
                        file(one("{\"dtype\":\"F32\",\"dtype\":\"I32\",\"shape\":[2],\"data_offsets\":[0,8]}"), 1, data),
                        List.of("not valid JSON", "Duplicate", "dtype")),
                Arguments.of("duplicate metadata key", file("{\"__metadata__\":{\"k\":\"a\",\"k\":\"b\"}}", 1, data),
                        List.of("not valid JSON", "Duplicate")),
                Arguments.of("deep nesting", file("{\"__metadata__\":" + "[".repeat(5000) + "]".repeat(5000) + "}", 1, data),
                        List.of("not valid JSON")));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("malformed")
    void rejectsMalformedFiles(String name, byte[] bytes, List<String> fragments) throws IOException {
        Path p = save("bad-" + name.replace(' ', '-') + ".safetensors", bytes);
        for (boolean copy : new boolean[] {false, true}) {
            SafetensorsFormatException e = assertThrows(SafetensorsFormatException.class, () -> Safetensors.read(p, copy).close());
            String message = e.getMessage();
            assertTrue(message.startsWith(p.toString() + ": "), message);
            for (String fragment : fragments) {
                assertTrue(message.contains(fragment), "expected '" + fragment + "' in: " + message);
            }
        }
        assertThrows(SafetensorsFormatException.class, () -> SafetensorsHeader.read(p));
    }

    @Test
    void aMissingFileOrADirectoryIsAnIOExceptionThatSaysSo() throws IOException {
        IOException e = assertThrows(IOException.class, () -> Safetensors.read(dir.resolve("nope.safetensors")));
        assertFalse(e instanceof SafetensorsFormatException);
        assertEquals("no such file: " + dir.resolve("nope.safetensors"), e.getMessage());
        Path folder = Files.createDirectory(dir.resolve("folder.safetensors"));
        assertEquals(folder + " is a directory, not a file", assertThrows(IOException.class, () -> Safetensors.read(folder)).getMessage());
    }
    @Test
    void streamingWritesProduceOneTensorAtATimeAndReadBackAsWritten() throws IOException {
        Path file = dir.resolve("streamed.safetensors");
        long before = HostStorage.liveBytes();
        long[] peak = new long[1];
        Map<String, Safetensors.Pending> pending = new LinkedHashMap<>();
        for (int i = 0; i < 4; i++) {
            int seed = i;
            pending.put("t" + i, new Safetensors.Pending(DType.F32, new long[] {1000, 257}, () -> {
                peak[0] = Math.max(peak[0], HostStorage.liveBytes() - before); // what earlier tensors left behind
                return Tensor.rand(seed, 0, 1000, 257).mul(2); // a temporary and its result, freed after writing
            }));
        }
        Safetensors.writeStreaming(file, pending, Map.of("kind", "streamed"));
        assertEquals(0, peak[0], "an earlier tensor was still allocated when the next was produced");
        assertEquals(before, HostStorage.liveBytes());
        try (SafetensorsFile read = Safetensors.read(file); TensorScope scope = TensorScope.open()) {
            assertEquals("streamed", read.metadata().get("kind"));
            for (int i = 0; i < 4; i++) {
                assertArrayEquals(Tensor.rand(i, 0, 1000, 257).mul(2).toFloatArray(), read.tensor("t" + i).toFloatArray());
            }
        }
    }

    @Test
    void streamingRejectsATensorThatDiffersFromItsDeclarationAndLeavesNoFile() {
        Path file = dir.resolve("mismatch.safetensors");
        Map<String, Safetensors.Pending> pending = Map.of("w",
                new Safetensors.Pending(DType.F32, new long[] {3, 4}, () -> Tensor.zeros(4, 3)));
        String message = assertThrows(IllegalStateException.class, () -> Safetensors.writeStreaming(file, pending, Map.of())).getMessage();
        assertTrue(message.contains("'w'") && message.contains("[3, 4]"), message);
        assertFalse(Files.exists(file));
    }
}
