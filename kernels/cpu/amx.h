/* What the AMX kernels (gemm_q8_amx.c, gemm_bf16_amx.c) share: the CPU check, Linux's permission for the tile
 * state, and one tile configuration. The AVX-512 tier on Linux only (TS_AMX). */
#ifndef TESSERA_AMX_H
#define TESSERA_AMX_H

#include <stdint.h>
#include <string.h>

#include "ts_cpu.h"

#if defined(__AVX512BW__) && defined(__linux__)
#define TS_AMX 1
#include <immintrin.h>

#define AMX_TARGET __attribute__((target("amx-tile,amx-int8,amx-bf16")))
#define AMX_TILE_ROWS 16
#define AMX_TILE_BYTES 64

/* CPUID.(7, 0):EDX bits of the AMX extensions. */
#define AMX_BF16_BIT 22
#define AMX_INT8_BIT 25

/* Whether the CPU has AMX-TILE and the extension of CPUID.(7, 0):EDX bit `bit`, and Linux granted this process the
 * tile state (arch_prctl ARCH_REQ_XCOMP_PERM); both asked once (amx.c). TESSERA_NO_AMX=1 turns AMX off, to compare
 * with the AVX-512 paths. */
int TS_FN(amx_ready)(int bit);

/* The palette-1 tile configuration the hardware loads from memory (Intel SDM, LDTILECFG). */
typedef struct {
    uint8_t palette;
    uint8_t start_row;
    uint8_t reserved[14];
    uint16_t colsb[16];
    uint8_t rows[16];
} amx_config;

/* Tiles 0-7 all 16 rows of 64 bytes: 0-3 accumulators; then the int8 kernel's weight tile 4 and activation tiles 5 and 6
 * (alternating), the BF16 kernel's weight tiles 4 and 5 and activation tiles 6 and 7. */
AMX_TARGET static inline void amx_configure(void) {
    amx_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.palette = 1;
    for (int t = 0; t < 8; t++) {
        cfg.rows[t] = AMX_TILE_ROWS;
        cfg.colsb[t] = AMX_TILE_BYTES;
    }
    _tile_loadconfig(&cfg);
}

/* The accumulator tiles 0-3 of a block: zeroed, then fed by AMX_ROW_GROUPS, then stored to sums[j] (16 rows of 64
 * bytes: [channel][row]) for the first `groups` of them. */
#define AMX_ZERO_SUMS()                                                                                                 \
    do {                                                                                                                \
        _tile_zero(0);                                                                                                  \
        _tile_zero(1);                                                                                                  \
        _tile_zero(2);                                                                                                  \
        _tile_zero(3);                                                                                                  \
    } while (0)

/* One weight tile (in tile 4) times the packed activations of up to 4 groups of 16 rows starting at xr (row stride
 * ldp bytes), with dp the tile instruction (_tile_dpbssd, _tile_dpbf16ps); tiles 5 and 6 alternate. */
#define AMX_ROW_GROUPS(dp, xr, ldp, groups)                                                                             \
    do {                                                                                                                \
        _tile_loadd(5, (xr), (ldp));                                                                                    \
        dp(0, 4, 5);                                                                                                    \
        if ((groups) > 1) {                                                                                             \
            _tile_loadd(6, (const char *)(xr) + 1 * AMX_TILE_ROWS * 4, (ldp));                                          \
            dp(1, 4, 6);                                                                                                \
        }                                                                                                               \
        if ((groups) > 2) {                                                                                             \
            _tile_loadd(5, (const char *)(xr) + 2 * AMX_TILE_ROWS * 4, (ldp));                                          \
            dp(2, 4, 5);                                                                                                \
        }                                                                                                               \
        if ((groups) > 3) {                                                                                             \
            _tile_loadd(6, (const char *)(xr) + 3 * AMX_TILE_ROWS * 4, (ldp));                                          \
            dp(3, 4, 6);                                                                                                \
        }                                                                                                               \
    } while (0)

#define AMX_STORE_SUMS(sums, groups)                                                                                    \
    do {                                                                                                                \
        _tile_stored(0, (sums)[0], AMX_TILE_BYTES);                                                                     \
        if ((groups) > 1) _tile_stored(1, (sums)[1], AMX_TILE_BYTES);                                                   \
        if ((groups) > 2) _tile_stored(2, (sums)[2], AMX_TILE_BYTES);                                                   \
        if ((groups) > 3) _tile_stored(3, (sums)[3], AMX_TILE_BYTES);                                                   \
    } while (0)
#endif

#endif
