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

#define TS_PRAGMA(text) _Pragma(#text)

/* Runs the statement (the variadic argument, commas allowed) for each i in [0, n): under `#pragma omp_text` (e.g.
 * `omp parallel for schedule(static)`) when `parallel`, else in a plain loop on this thread. Not an `if` clause:
 * libgomp runs a region whose if clause is false as a team of one, which still costs a team and a futex wake (a system
 * call: 1.5 us per region on these VMs against 0.02 us for a 768-element loop), and a decoding step runs 136 (GPT-2)
 * to 223 (TinyLlama) regions below TS_PARALLEL_MIN. The statement must not hold a #pragma (use TS_PRAGMA). */
#define TS_PARALLEL_FOR_IF(parallel, omp_text, i, n, ...)                                                            \
    do {                                                                                                             \
        const int64_t i##_end = (n);                                                                                 \
        if (parallel) {                                                                                              \
            TS_PRAGMA(omp_text)                                                                                      \
            for (int64_t i = 0; i < i##_end; i++) __VA_ARGS__                                                        \
        } else {                                                                                                     \
            for (int64_t i = 0; i < i##_end; i++) __VA_ARGS__                                                        \
        }                                                                                                            \
    } while (0)

#endif
