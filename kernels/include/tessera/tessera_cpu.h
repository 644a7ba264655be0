/* Public C API of libtessera_cpu.so: every exported ts_* symbol (jextract reads this header). */
#ifndef TESSERA_TESSERA_CPU_H
#define TESSERA_TESSERA_CPU_H

#include <stdint.h>

/* ISA tiers, best first; the numbers are part of the Java binding (TesseraCpu.ISA_*). */
#define TS_ISA_AVX512 2
#define TS_ISA_AVX2 1
#define TS_ISA_BASE 0

int ts_abi_version(void);
void ts_noop(void);
int ts_isa_supported(int tier);
int ts_isa_select(int tier);
int ts_isa_active(void);
int ts_omp_max_threads(void);
void ts_omp_set_threads(int n);
/* Runs the persistent thread pool (ts_pool.h) over `chunks` chunks, each adding 1 to counts[chunk]: lets the
 * tests check that every chunk runs exactly once, whatever the split. */
void ts_pool_cover(int64_t chunks, int32_t *counts);

#define TS_KERNEL(name, params, args) int name params;
#include "../../cpu/kernels.def"
#undef TS_KERNEL

#endif
