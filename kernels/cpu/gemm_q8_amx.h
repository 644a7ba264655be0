/* The AMX path of ts_gemm_q8_f32 (gemm_q8_amx.c): the AVX-512 tier on Linux only. */
#ifndef TESSERA_GEMM_Q8_AMX_H
#define TESSERA_GEMM_Q8_AMX_H

#include <stdint.h>

#include "ts_cpu.h"

#if defined(__AVX512BW__) && defined(__linux__)
#define TS_Q8_AMX 1
/* The k of a product this path takes must be a multiple of this (one tile row of int8 inputs). */
#define TS_Q8_AMX_K 64
/* Output channels per block: the path computes n_blocks * 16 channels; the caller runs the rest. */
#define TS_Q8_AMX_CHANNELS 16

/* Whether this CPU has AMX-INT8 and Linux granted this process its tile state (asked once); TESSERA_NO_AMX=1
 * turns the path off, to compare it with the AVX-512 VNNI tiles. */
int TS_FN(q8_amx_ready)(void);

/* y[i][j] for every row i < m and channel j < 16 * n_blocks, as ts_gemm_q8_f32 defines it; k % 64 == 0. */
int TS_FN(q8_amx_gemm)(int64_t m, int64_t n_blocks, int64_t k, const int8_t *xq, const float *xs, const int8_t *wq,
                       const float *ws, const float *bias, float *y, int64_t ldy);
#endif

#endif
