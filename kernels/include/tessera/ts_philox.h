/* Philox4x32-10 (Salmon, Moraes, Dror, Shaw: "Parallel Random Numbers: As Easy as 1, 2, 3", SC11),
 * with the constants of Random123, curand, PyTorch and JAX, and the mapping of its 32-bit words to
 * floats. Shared by the CPU and CUDA kernels so both draw the same numbers for (seed, offset, i).
 *
 * Stream layout (ts_philox_f32 on either device): key = (seed low 32 bits, seed high 32 bits);
 * block b has counter (b low, b high, 0, 0) and yields four 32-bit words.
 * - uniform: element i is word i % 4 of block offset + i / 4;
 * - normal: element i comes from block offset + i / 2, whose words 0 and 1 feed one Box-Muller
 *   transform: even i takes the cosine branch, odd i the sine branch (words 2 and 3 are unused).
 * So a slice of a draw is the same draw with a larger offset (4 elements per block for uniforms,
 * 2 for normals). */
#ifndef TESSERA_TS_PHILOX_H
#define TESSERA_TS_PHILOX_H

#include <stdint.h>

#include "tessera/ts_math.h"

#define TS_PHILOX_M0 0xD2511F53u
#define TS_PHILOX_M1 0xCD9E8D57u
#define TS_PHILOX_W0 0x9E3779B9u
#define TS_PHILOX_W1 0xBB67AE85u
#define TS_PHILOX_ROUNDS 10

/* 2^-24: a 24-bit integer times this is an exactly representable float in [0, 1). */
#define TS_PHILOX_2POW_M24 5.9604644775390625e-08f
#define TS_TWO_PI 6.2831853071795865f

typedef struct {
    uint32_t x[4];
} ts_u32x4;

/* One round: two 32x32->64 multiplies, the high halves xored with the other words and the key. */
TS_HD ts_u32x4 ts_philox4x32_round(ts_u32x4 c, uint32_t k0, uint32_t k1) {
    const uint64_t p0 = (uint64_t)TS_PHILOX_M0 * c.x[0];
    const uint64_t p1 = (uint64_t)TS_PHILOX_M1 * c.x[2];
    ts_u32x4 r;
    r.x[0] = (uint32_t)(p1 >> 32) ^ c.x[1] ^ k0;
    r.x[1] = (uint32_t)p1;
    r.x[2] = (uint32_t)(p0 >> 32) ^ c.x[3] ^ k1;
    r.x[3] = (uint32_t)p0;
    return r;
}

/* Philox4x32-10 of counter c under key (k0, k1): ten rounds, the key bumped by the Weyl constants
 * between rounds. Random123's known-answer vectors test exactly this function. */
TS_HD ts_u32x4 ts_philox4x32_10(ts_u32x4 c, uint32_t k0, uint32_t k1) {
    c = ts_philox4x32_round(c, k0, k1);
    for (int r = 1; r < TS_PHILOX_ROUNDS; r++) {
        k0 += TS_PHILOX_W0;
        k1 += TS_PHILOX_W1;
        c = ts_philox4x32_round(c, k0, k1);
    }
    return c;
}

/* The four words of block `block` of the stream keyed by `seed`. */
TS_HD ts_u32x4 ts_philox_block(uint64_t seed, uint64_t block) {
    ts_u32x4 c;
    c.x[0] = (uint32_t)block;
    c.x[1] = (uint32_t)(block >> 32);
    c.x[2] = 0;
    c.x[3] = 0;
    return ts_philox4x32_10(c, (uint32_t)seed, (uint32_t)(seed >> 32));
}

/* The top 24 bits as a float in [0, 1): every value is a multiple of 2^-24, each equally likely. */
TS_HD float ts_philox_uniform(uint32_t u) { return (float)(u >> 8) * TS_PHILOX_2POW_M24; }

/* The same grid shifted up by one step, (0, 1], so that its logarithm is finite. */
TS_HD float ts_philox_uniform_open0(uint32_t u) { return (float)((u >> 8) + 1u) * TS_PHILOX_2POW_M24; }

/* Box-Muller: two words to two independent standard normals, r cos(theta) and r sin(theta) with
 * r = sqrt(-2 ln u1), theta = 2 pi u2. |z| <= sqrt(2 * 24 ln 2) ~ 5.77 because u1 >= 2^-24. */
TS_HD void ts_philox_normal2(uint32_t w0, uint32_t w1, float *z0, float *z1) {
    const float u1 = ts_philox_uniform_open0(w0);
    const float u2 = ts_philox_uniform(w1);
    const float r = sqrtf(-2.0f * logf(u1));
    const float theta = TS_TWO_PI * u2;
    *z0 = r * cosf(theta);
    *z1 = r * sinf(theta);
}

#endif
