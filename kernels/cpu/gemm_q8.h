/* Internal interface of the int8 product ts_gemm_q8_f32: gemm_q8.c (the VNNI / AVX2 / base tiles and the entry
 * point), gemm_q8_vnni.c (its VNNI path for many rows) and gemm_q8_amx.c (its AMX path: the AVX-512 tier on Linux only). */
#ifndef TESSERA_GEMM_Q8_H
#define TESSERA_GEMM_Q8_H

#include <stdint.h>

#include "ts_cpu.h"

/* ts_gemm_q8_f32's arguments: y [m, n] (row stride ldy) = (xq [m, k] wq [n, k]^T) * xs * ws + bias. */
typedef struct {
    int64_t m, n, k;
    const int8_t *xq;
    const float *xs;
    const int8_t *wq;
    const float *ws;
    const float *bias;
    float *y;
    int64_t ldy;
} q8_operands;

#if defined(__AVX512BW__)
/* gemm_q8_vnni.c: the AVX-512 tier's path for more than 64 rows (and for small products of more
 * than 8) where the CPU has VNNI and no AMX. */
#define TS_Q8_VNNI 1
/* Every channel of the product, every row; k % 4 == 0. */
int TS_FN(q8_vnni_gemm)(const q8_operands *op);
#endif

#include "amx.h"

#if defined(TS_AMX)
/* The k of a product the AMX path takes must be a multiple of this (one tile row of int8 inputs). */
#define TS_Q8_AMX_K 64
/* Output channels per block: the AMX path computes the first n / 16 * 16 channels; the caller runs the rest. */
#define TS_Q8_AMX_CHANNELS 16

/* The first n / 16 * 16 output channels of the product, every row; k % 64 == 0. */
int TS_FN(q8_amx_gemm)(const q8_operands *op);
#endif

#endif
