package io.tessera.engine.cuda;

import static java.lang.foreign.MemoryLayout.PathElement.groupElement;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static org.junit.jupiter.api.Assertions.assertEquals;

import io.tessera.ffi.TesseraCpu;
import java.lang.foreign.Arena;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.PaddingLayout;
import java.lang.foreign.StructLayout;
import org.junit.jupiter.api.Test;

/**
 * The structs Java lays out for the kernels (KernelStructs) against the C compiler's sizeof and offsetof,
 * which the CPU library reports (ts_struct_layout, kernels/cpu/struct_layout.c). The C headers assert the
 * same numbers at compile time for every compiler, nvcc included. Needs no GPU.
 */
class KernelStructsTest {
    private static final int TS_ERR_UNKNOWN = -4;

    /** What ts_struct_layout reports for name, asserting it knows the name. */
    private static long compiler(String name) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment bytes = arena.allocate(JAVA_LONG);
            assertEquals(TesseraCpu.TS_OK, TesseraCpu.ts_struct_layout(arena.allocateFrom(name), bytes), "the C side knows " + name);
            return bytes.get(JAVA_LONG, 0);
        }
    }

    @Test
    void everyJavaLayoutHasTheCompilersSizeAndFieldOffsets() {
        for (StructLayout struct : KernelStructs.ALL) {
            String type = struct.name().orElseThrow();
            assertEquals(compiler(type), struct.byteSize(), "sizeof(" + type + ")");
            for (MemoryLayout member : struct.memberLayouts()) {
                if (member instanceof PaddingLayout) {
                    continue;
                }
                String field = member.name().orElseThrow(() -> new AssertionError("a field of " + type + " has no name"));
                assertEquals(compiler(type + "." + field), struct.byteOffset(groupElement(field)), "offsetof(" + type + ", " + field + ")");
            }
        }
    }

    @Test
    void aNameTheCSideDoesNotListIsAnError() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment bytes = arena.allocate(JAVA_LONG);
            assertEquals(TS_ERR_UNKNOWN, TesseraCpu.ts_struct_layout(arena.allocateFrom("ts_strided.no_such_field"), bytes));
        }
    }
}
