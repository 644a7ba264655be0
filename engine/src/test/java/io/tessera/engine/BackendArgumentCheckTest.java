package io.tessera.engine;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.lang.foreign.Arena;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.function.Function;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Every public op of {@link Backend}, found by reflection, on each backend: a valid call succeeds, and the
 * same call with any one tensor argument replaced by one of a wrong dtype, a wrong size, on another device,
 * closed, or (index lists) holding an entry out of range is refused with an exception before a kernel
 * runs. The allowed dtypes of each argument are this test's own table, written from the ops' contracts,
 * not read from the checks under test. A new op without a case here fails {@link #everyOpHasACase}.
 */
class BackendArgumentCheckTest {
    private static final Set<DType> ANY = EnumSet.allOf(DType.class);
    private static final Set<DType> INDEX = EnumSet.of(DType.I32, DType.I64);
    /** Public methods of Backend that take no tensor, so there is nothing of theirs to sweep here. */
    private static final Set<String> NOT_OPS = Set.of("device", "synchronize", "allocate");

    /**
     * A valid call of one op on a device. {@code allowed} maps argument positions to the dtypes the op
     * accepts there beyond the valid argument's own; {@code anySize} lists arguments for which a larger
     * tensor is still a valid call (e.g. an embedding table with more rows).
     */
    record Case(Function<Device, Object[]> args, Map<Integer, Set<DType>> allowed, Set<Integer> anySize) {}

    private static Tensor f32(Device d, long... shape) {
        return Tensor.randn(d, 42, 0, shape);
    }

    private static Tensor zeros(Device d, DType dtype, long... shape) {
        return Tensor.full(d, 0, dtype, shape);
    }

    private static Tensor i64(Device d, long... values) {
        return Tensor.of(values, values.length).to(d);
    }

    private static final Map<String, Case> CASES = new TreeMap<>();

    private static void add(String op, Function<Device, Object[]> args, Map<Integer, Set<DType>> allowed, Integer... anySize) {
        CASES.put(op, new Case(args, allowed, Set.of(anySize)));
    }

    static {
        Arena arena = Arena.ofAuto(); // host buffers for write/read; test-only
        add("write", d -> new Object[] {f32(d, 3, 4), arena.allocate(48)}, Map.of(0, ANY));
        add("read", d -> new Object[] {f32(d, 3, 4), arena.allocate(48)}, Map.of(0, ANY));
        add("copy", d -> new Object[] {f32(d, 3, 4), f32(d, 3, 4)}, Map.of(0, ANY, 1, ANY));
        add("fill", d -> new Object[] {f32(d, 3, 4), 1.5}, Map.of(0, ANY), 0);
        add("unary", d -> new Object[] {Ops.Unary.RELU, 0f, f32(d, 3, 4), f32(d, 3, 4)}, Map.of());
        add("binary", d -> new Object[] {Ops.Binary.ADD, f32(d, 3, 4), f32(d, 3, 4), f32(d, 3, 4)}, Map.of());
        add("compare", d -> new Object[] {Ops.Compare.LT, f32(d, 3, 4), f32(d, 3, 4), zeros(d, DType.BOOL, 3, 4)}, Map.of());
        add("where", d -> new Object[] {zeros(d, DType.BOOL, 3, 4), f32(d, 3, 4), f32(d, 3, 4), f32(d, 3, 4)}, Map.of());
        add("reduce", d -> new Object[] {Ops.Reduce.SUM, f32(d, 3, 4), new int[] {1}, f32(d, 3)}, Map.of());
        add("matmul", d -> new Object[] {f32(d, 2, 3), f32(d, 3, 4), f32(d, 2, 4)}, Map.of());
        add("sampledMatmul", d -> new Object[] {f32(d, 5, 3), f32(d, 5, 4), i64(d, 0, 5, 11), f32(d, 3)}, Map.of(2, INDEX));
        add("softmax", d -> new Object[] {f32(d, 3, 4), f32(d, 3, 4), false}, Map.of());
        add("softmaxBackward", d -> new Object[] {f32(d, 3, 4), f32(d, 3, 4), f32(d, 3, 4), true}, Map.of());
        add("layerNorm", d -> new Object[] {f32(d, 3, 4), f32(d, 4), f32(d, 4), 1e-5f, f32(d, 3, 4), f32(d, 3), f32(d, 3)}, Map.of());
        add("layerNormBackward", d -> new Object[] {f32(d, 3, 4), f32(d, 4), f32(d, 3), f32(d, 3), f32(d, 3, 4), f32(d, 3, 4),
            f32(d, 4), f32(d, 4)}, Map.of());
        add("rmsNorm", d -> new Object[] {f32(d, 3, 4), f32(d, 4), 1e-5f, f32(d, 3, 4), f32(d, 3)}, Map.of());
        add("rmsNormBackward", d -> new Object[] {f32(d, 3, 4), f32(d, 4), f32(d, 3), f32(d, 3, 4), f32(d, 3, 4), f32(d, 4)},
                Map.of());
        add("crossEntropy", d -> new Object[] {f32(d, 3, 4), i64(d, 0, 3, 1), f32(d, 3), f32(d, 3)}, Map.of(1, INDEX));
        add("crossEntropyBackward", d -> new Object[] {f32(d, 3, 4), i64(d, 0, 3, 1), f32(d, 3), f32(d, 3), f32(d, 3, 4)},
                Map.of(1, INDEX));
        add("rope", d -> new Object[] {f32(d, 3, 2, 4), f32(d, 5, 4), f32(d, 5, 4), i64(d, 0, 4, 2), false, f32(d, 3, 2, 4)},
                Map.of(3, EnumSet.of(DType.I64)));
        add("embedding", d -> new Object[] {f32(d, 5, 4), i64(d, 4, 0, 4), f32(d, 3, 4)}, Map.of(1, INDEX), 0);
        add("embeddingBackward", d -> new Object[] {f32(d, 3, 4), i64(d, 4, 0, 4), f32(d, 5, 4)}, Map.of(1, INDEX), 2);
        add("causalAttention", d -> new Object[] {f32(d, 1, 2, 3, 4), f32(d, 1, 2, 5, 4), f32(d, 1, 2, 5, 4), 0.5f, f32(d, 1, 3, 2, 4)},
                Map.of());
        add("causalMask", d -> new Object[] {f32(d, 2, 3, 3), 0L, Float.NEGATIVE_INFINITY}, Map.of(), 0);
        add("random", d -> new Object[] {f32(d, 3, 4), 7L, 0L, true}, Map.of(), 0);
        add("adamw", d -> new Object[] {f32(d, 7), f32(d, 7), f32(d, 7), f32(d, 7), 1e-3f, 0.9f, 0.999f, 1e-8f, 0.01f, 0.1f, 0.001f},
                Map.of());
        add("sgd", d -> new Object[] {f32(d, 7), f32(d, 7), f32(d, 7), 0.1f, 0.9f, 0f, 0f, false, true}, Map.of());
        add("adamwIndexed", d -> new Object[] {i64(d, 1, 4), f32(d, 7), f32(d, 7), f32(d, 2), f32(d, 2), 1e-3f, 0.9f, 0.999f, 1e-8f,
            0.01f, 0.1f, 0.001f}, Map.of(0, INDEX));
        add("adamwMasked", d -> new Object[] {zeros(d, DType.U8, 7), f32(d, 7), f32(d, 7), f32(d, 7), f32(d, 7), 1e-3f, 0.9f,
            0.999f, 1e-8f, 0.01f, 0.1f, 0.001f}, Map.of());
        add("sgdIndexed", d -> new Object[] {i64(d, 1, 4), f32(d, 7), f32(d, 7), f32(d, 2), 0.1f, 0.9f, 0f, 0f, false, true},
                Map.of(0, INDEX));
        add("sgdMasked", d -> new Object[] {zeros(d, DType.U8, 7), f32(d, 7), f32(d, 7), f32(d, 7), 0.1f, 0.9f, 0f, 0f, false, true},
                Map.of());
        add("kahanAccumulate", d -> new Object[] {f32(d, 7), true, f32(d, 7), f32(d, 7)}, Map.of());
        add("radixHistogram", d -> new Object[] {f32(d, 7), 0L, 0, 24, 8, new long[256]}, Map.of(), 0);
        add("selectAbove", d -> new Object[] {f32(d, 7), 0, 0L, zeros(d, DType.I64, 7), zeros(d, DType.I32, 7)}, Map.of(), 0);
        add("fisherMerge", d -> new Object[] {new Tensor[] {f32(d, 7), f32(d, 7)}, new Tensor[] {f32(d, 7), f32(d, 7)},
            new float[] {0.5f, 0.5f}, new float[] {1f, 1f}, 1e-6f, f32(d, 7)}, Map.of());
        add("solvePositiveDefinite", d -> new Object[] {Tensor.of(new float[] {2, 0, 0, 0, 2, 0, 0, 0, 2}, 3, 3).to(d), f32(d, 3, 2)},
                Map.of());
        add("quantizeBlockwise", d -> new Object[] {f32(d, 10), 4, zeros(d, DType.I8, 10), f32(d, 3)}, Map.of());
        add("dequantizeBlockwise", d -> new Object[] {zeros(d, DType.I8, 10), f32(d, 3), 4, f32(d, 10)}, Map.of());
        add("outlierColumns", d -> new Object[] {f32(d, 3, 4), 6f, zeros(d, DType.U8, 4)}, Map.of(), 0);
        add("quantizeRows", d -> new Object[] {f32(d, 3, 4), zeros(d, DType.U8, 4), zeros(d, DType.I8, 3, 4), f32(d, 3)},
                Map.of(0, EnumSet.of(DType.BF16, DType.F16)));
        add("matmulQ8", d -> new Object[] {zeros(d, DType.I8, 2, 3), f32(d, 2), zeros(d, DType.I8, 4, 3), f32(d, 4), f32(d, 4),
            f32(d, 2, 4)}, Map.of());
        add("matmulHalfWeight", d -> new Object[] {f32(d, 2, 3), zeros(d, DType.BF16, 4, 3), false, f32(d, 2, 4)},
                Map.of(1, EnumSet.of(DType.F16)));
        add("matmulBf16Rounded", d -> new Object[] {f32(d, 2, 3), zeros(d, DType.BF16, 4, 3), false, f32(d, 2, 4)}, Map.of());
        add("matmulQ8Outliers", d -> new Object[] {f32(d, 2, 3), i64(d, 0, 2), zeros(d, DType.I8, 4, 3), f32(d, 4), f32(d, 2, 4)},
                Map.of(), 1);
    }

    static List<Method> ops() {
        List<Method> ops = new ArrayList<>();
        for (Method m : Backend.class.getDeclaredMethods()) {
            if (Modifier.isPublic(m.getModifiers()) && !Modifier.isStatic(m.getModifiers()) && !NOT_OPS.contains(m.getName())) {
                ops.add(m);
            }
        }
        ops.sort((a, b) -> a.getName().compareTo(b.getName()));
        return ops;
    }

    static List<ConformanceTargets> targets() {
        return ConformanceTargets.all();
    }

    @Test
    void everyOpHasACase() {
        List<String> missing = new ArrayList<>();
        for (Method m : ops()) {
            if (!CASES.containsKey(m.getName())) {
                missing.add(m.getName());
            }
        }
        assertEquals(List.of(), missing, "Backend ops without a case in BackendArgumentCheckTest");
        assertEquals(ops().size(), CASES.size(), "cases for ops Backend no longer has");
    }

    /** Calls op with args; returns what it threw (null if nothing), unwrapped from reflection. */
    private static Throwable call(Backend backend, Method op, Object[] args) {
        try (TensorScope _ = TensorScope.open()) {
            op.invoke(backend, args);
            backend.synchronize();
            return null;
        } catch (InvocationTargetException e) {
            return e.getCause();
        } catch (IllegalAccessException e) {
            throw new AssertionError(e);
        }
    }

    /** A tensor argument's place (position, element of a Tensor[] or -1) and the dtype of its valid value. */
    record Slot(int position, int element, DType dtype) {}

    private static List<Slot> tensorSlots(Object[] args) {
        List<Slot> slots = new ArrayList<>();
        for (int i = 0; i < args.length; i++) {
            if (args[i] instanceof Tensor t) {
                slots.add(new Slot(i, -1, t.dtype()));
            } else if (args[i] instanceof Tensor[] array) {
                for (int e = 0; e < array.length; e++) {
                    slots.add(new Slot(i, e, array[e].dtype()));
                }
            }
        }
        return slots;
    }

    private static Tensor get(Object[] args, Slot slot) {
        return slot.element() < 0 ? (Tensor) args[slot.position()] : ((Tensor[]) args[slot.position()])[slot.element()];
    }

    private static void set(Object[] args, Slot slot, Tensor t) {
        if (slot.element() < 0) {
            args[slot.position()] = t;
        } else {
            ((Tensor[]) args[slot.position()])[slot.element()] = t;
        }
    }

    private static String where(Method op, Slot slot) {
        return op.getName() + " argument " + slot.position() + (slot.element() < 0 ? "" : "[" + slot.element() + "]");
    }

    /** Runs op with one slot replaced by {@code replace(original)}; asserts it is refused with {@code expected}. */
    private static void assertRefused(Backend backend, Method op, Case c, Slot slot, Function<Tensor, Tensor> replace,
                                      Class<? extends Throwable> expected, String what) {
        try (TensorScope _ = TensorScope.open()) {
            Object[] args = c.args().apply(backend.device());
            set(args, slot, replace.apply(get(args, slot)));
            Throwable thrown = call(backend, op, args);
            if (thrown == null) {
                fail(where(op, slot) + " " + what + " was accepted on " + backend.device());
            }
            assertInstanceOf(expected, thrown, where(op, slot) + " " + what + ": " + thrown);
            assertTrue(thrown.getMessage() != null && !thrown.getMessage().isBlank(), where(op, slot) + ": no message");
        }
    }

    @ParameterizedTest
    @MethodSource("targets")
    void validCallsRun(ConformanceTargets target) {
        Backend backend = target.backend();
        for (Method op : ops()) {
            try (TensorScope _ = TensorScope.open()) {
                Throwable thrown = call(backend, op, CASES.get(op.getName()).args().apply(target.device()));
                if (thrown != null) {
                    throw new AssertionError(op.getName() + ": a valid call failed on " + target, thrown);
                }
            }
        }
    }

    @ParameterizedTest
    @MethodSource("targets")
    void wrongDtypesAreRefused(ConformanceTargets target) {
        Backend backend = target.backend();
        int refused = 0;
        for (Method op : ops()) {
            Case c = CASES.get(op.getName());
            for (Slot slot : slotsOf(c, target.device())) {
                Set<DType> allowed = EnumSet.of(slot.dtype());
                allowed.addAll(c.allowed().getOrDefault(slot.position(), Set.of()));
                for (DType wrong : DType.values()) {
                    if (!allowed.contains(wrong)) {
                        assertRefused(backend, op, c, slot, t -> zeros(t.device(), wrong, t.shape()), IllegalArgumentException.class,
                                "of dtype " + wrong);
                        refused++;
                    }
                }
            }
        }
        assertTrue(refused > 200, "only " + refused + " wrong-dtype calls were tried");
    }

    @ParameterizedTest
    @MethodSource("targets")
    void wrongSizesAreRefused(ConformanceTargets target) {
        Backend backend = target.backend();
        for (Method op : ops()) {
            Case c = CASES.get(op.getName());
            for (Slot slot : slotsOf(c, target.device())) {
                if (!c.anySize().contains(slot.position())) {
                    assertRefused(backend, op, c, slot, t -> zeros(t.device(), t.dtype(), grown(t.shape())), IllegalArgumentException.class,
                            "one row larger");
                }
            }
        }
    }

    @ParameterizedTest
    @MethodSource("targets")
    void closedTensorsAreRefused(ConformanceTargets target) {
        Backend backend = target.backend();
        for (Method op : ops()) {
            Case c = CASES.get(op.getName());
            for (Slot slot : slotsOf(c, target.device())) {
                assertRefused(backend, op, c, slot, t -> {
                    t.close();
                    return t;
                }, IllegalStateException.class, "closed");
            }
        }
    }

    @ParameterizedTest
    @MethodSource("targets")
    void indexEntriesOutOfRangeAreRefused(ConformanceTargets target) {
        Backend backend = target.backend();
        int tried = 0;
        for (Method op : ops()) {
            Case c = CASES.get(op.getName());
            for (Slot slot : slotsOf(c, target.device())) {
                boolean indexList = c.allowed().getOrDefault(slot.position(), Set.of()).equals(INDEX)
                        || op.getName().equals("matmulQ8Outliers") && slot.position() == 1;
                if (indexList) {
                    for (long bad : new long[] {-1, 1L << 40}) {
                        assertRefused(backend, op, c, slot, t -> {
                            long[] values = t.toLongArray();
                            values[values.length - 1] = bad;
                            return Tensor.of(values, values.length).to(t.device());
                        }, IllegalArgumentException.class, "holding " + bad);
                        tried++;
                    }
                }
            }
        }
        assertEquals(16, tried, "index arguments swept (8 index lists, 2 bad entries each)");
    }

    @Test
    void sortedIndexListsMustBeSortedAndUnique() {
        Backend cpu = Backends.of(Device.CPU);
        for (String name : List.of("sampledMatmul", "adamwIndexed", "sgdIndexed")) {
            Method op = ops().stream().filter(m -> m.getName().equals(name)).findFirst().orElseThrow();
            Case c = CASES.get(name);
            int position = c.allowed().keySet().iterator().next();
            assertRefused(cpu, op, c, new Slot(position, -1, DType.I64), t -> {
                long[] values = t.toLongArray();
                values[1] = values[0]; // a duplicate
                return Tensor.of(values, values.length);
            }, IllegalArgumentException.class, "with a duplicate entry");
        }
    }

    @ParameterizedTest
    @MethodSource("targets")
    void tensorsOfAnotherDeviceAreRefused(ConformanceTargets target) {
        Backend backend = target.backend();
        Device other = target.isCuda() ? Device.CPU : Device.cuda(0);
        assumeTrue(Backends.unavailableReason(other.kind()).isEmpty(), "no second device kind on this machine");
        for (Method op : ops()) {
            Case c = CASES.get(op.getName());
            for (Slot slot : slotsOf(c, target.device())) {
                assertRefused(backend, op, c, slot, t -> t.to(other), IllegalArgumentException.class, "on " + other);
            }
        }
    }

    @Test
    void negativeAllocationsAreRefused() {
        IllegalArgumentException e = org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
                () -> Backends.of(Device.CPU).allocate(-1));
        assertTrue(e.getMessage().contains("-1"), e.getMessage());
    }

    private static List<Slot> slotsOf(Case c, Device device) {
        try (TensorScope _ = TensorScope.open()) {
            return tensorSlots(c.args().apply(device));
        }
    }

    /** The shape with one more row (dim 0); a scalar becomes [2]. */
    private static long[] grown(long[] shape) {
        if (shape.length == 0) {
            return new long[] {2};
        }
        long[] grown = shape.clone();
        grown[0]++;
        return grown;
    }
}
