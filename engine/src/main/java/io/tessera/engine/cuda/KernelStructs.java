package io.tessera.engine.cuda;

import static java.lang.foreign.ValueLayout.JAVA_DOUBLE;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import java.lang.foreign.MemoryLayout;
import java.lang.foreign.StructLayout;
import java.util.List;

/**
 * The C structs Java lays out or sizes, as FFM layouts named after the C type and its fields. The C
 * headers assert the same sizes and offsets at compile time (kernels/include/tessera/ts_abi.h), and
 * KernelStructsTest checks these layouts against the compiler's sizeof and offsetof.
 */
final class KernelStructs {
    /** kernels/include/tessera/ts_strided.h: a strided view, passed by value to the CUDA kernels. */
    static final StructLayout STRIDED = MemoryLayout.structLayout(
            JAVA_LONG.withName("numel"),
            JAVA_INT.withName("ndim"),
            JAVA_INT.withName("unused"),
            MemoryLayout.sequenceLayout(StridedArgs.MAX_DIMS, JAVA_LONG).withName("shape"),
            MemoryLayout.sequenceLayout(StridedArgs.OPERANDS, MemoryLayout.sequenceLayout(StridedArgs.MAX_DIMS, JAVA_LONG))
                    .withName("strides"))
            .withName("ts_strided");

    /** kernels/include/tessera/ts_reduce_math.h: a reduction's accumulator, the CUDA reductions' partials. */
    static final StructLayout REDUCE_ACCUMULATOR = MemoryLayout.structLayout(
            JAVA_DOUBLE.withName("sum"),
            JAVA_FLOAT.withName("best"),
            MemoryLayout.paddingLayout(4),
            JAVA_LONG.withName("arg"))
            .withName("ts_racc");

    static final List<StructLayout> ALL = List.of(STRIDED, REDUCE_ACCUMULATOR);

    private KernelStructs() {}
}
