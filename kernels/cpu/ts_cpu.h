/* Internal header of the CPU kernels. Each kernel file in kernels/cpu/ is compiled once per ISA
 * tier (avx512, avx2, base); TS_FN gives its functions a per-tier suffix, and runtime/dispatch.c
 * exports the plain ts_* name that forwards to the tier chosen at load time. */
#ifndef TESSERA_TS_CPU_H
#define TESSERA_TS_CPU_H

#include <stddef.h>
#include <stdint.h>

#include "tessera/ts_math.h"

#define TS_OK 0
#define TS_ERR_NOMEM -2 /* a kernel could not allocate its scratch memory */
#define TS_ERR_NONFINITE -3 /* an input that must be finite holds NaN or an infinity */
#define TS_ERR_UNKNOWN -4 /* a name the kernel does not know */

#ifndef TS_ISA
#error "TS_ISA must name the ISA tier this file is compiled for (avx512, avx2 or base)"
#endif
#define TS_CAT_(a, b) a##_##b
#define TS_CAT(a, b) TS_CAT_(a, b)
#define TS_FN(name) TS_CAT(name, TS_ISA)

/* Below this many elements an OpenMP region costs more than it saves (fork/join ~1-2 us). */
#define TS_PARALLEL_MIN 32768

#endif
