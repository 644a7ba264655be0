/* Compile-time checks of the structs whose layout Java spells out (kernel arguments passed by value,
 * device scratch it sizes). Each such struct's header lists its size and fields once, with the numbers
 * of its Java layout (io.tessera.engine.cuda.KernelStructs), as an X-macro:
 *     #define TS_X_LAYOUT(SIZE, FIELD) SIZE(ts_x, 16) FIELD(ts_x, a, 0) FIELD(ts_x, b, 8)
 *     TS_X_LAYOUT(TS_ABI_SIZE, TS_ABI_OFFSET)
 * so every compiler that includes it (gcc for the CPU library, g++ for the emulated driver, nvcc for the
 * GPU) agrees with Java or fails to build, and kernels/cpu/struct_layout.c reports the same list as the
 * compiler sees it, for the Java test of the layouts (KernelStructsTest). */
#ifndef TESSERA_TS_ABI_H
#define TESSERA_TS_ABI_H

#include <stddef.h>

#ifdef __cplusplus
#define TS_ABI_ASSERT static_assert
#else
#define TS_ABI_ASSERT _Static_assert
#endif

#define TS_ABI_SIZE(type, bytes) TS_ABI_ASSERT(sizeof(type) == (bytes), "sizeof(" #type ") differs from its Java layout");
#define TS_ABI_OFFSET(type, field, offset) \
    TS_ABI_ASSERT(offsetof(type, field) == (offset), "offsetof(" #type ", " #field ") differs from its Java layout");

#endif
