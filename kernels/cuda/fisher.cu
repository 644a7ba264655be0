// Kernels of the Fisher module, as kernels/cpu/fisher.c: compensated accumulation, the histogram pass of
// a radix select, and the fused Fisher-weighted merge. The per-element math is tessera/ts_math.h.
#include <stdint.h>

#include "grid.cuh"
#include "tessera/ts_math.h"

extern "C" __global__ void ts_kahan_accumulate_f32(int64_t n, const float *x, int square, float *sum, float *comp) {
    TS_GRID_STRIDE(i, n) ts_kahan_add(&sum[i], &comp[i], square ? x[i] * x[i] : x[i]);
}

// hist[digit] += count of valid elements whose key's top prefix_bits equal prefix; digit is the digit_bits-wide
// field of the key at bit digit_shift; *invalid += count of invalid elements (left out), as the C kernel.
// Counts are integers, so the atomic adds give the same result in any order.
extern "C" __global__ void ts_radix_histogram_f32(int64_t n, const float *x, int64_t prefix, int prefix_bits, int digit_shift, int digit_bits, unsigned long long *hist, unsigned long long *invalid) {
    const unsigned mask = (1u << digit_bits) - 1u;
    TS_GRID_STRIDE(i, n) {
        if (!ts_valid_score(x[i])) {
            atomicAdd(invalid, 1ull);
            continue;
        }
        const unsigned key = ts_nonneg_key(x[i]);
        if (prefix_bits == 0 || (int64_t)(key >> (32 - prefix_bits)) == prefix) atomicAdd(&hist[(key >> digit_shift) & mask], 1ull);
    }
}

// out = sum_m w_m d_m theta_m / sum_m w_m d_m, d_m = max(scale_m F_m, floor). tables holds, in device
// memory, the models' theta pointers, then their Fisher pointers, then the weights and the scales.
extern "C" __global__ void ts_fisher_merge_f32(int64_t n, int models, const void *tables, float floor_value, float *out) {
    const float *const *thetas = (const float *const *)tables;
    const float *const *fishers = thetas + models;
    const float *weights = (const float *)(fishers + models);
    const float *scales = weights + models;
    TS_GRID_STRIDE(i, n) {
        float den = 0.0f;
        for (int m = 0; m < models; m++) den += ts_fisher_merge_weight(weights[m], scales[m], fishers[m][i], floor_value);
        float acc = 0.0f;
        for (int m = 0; m < models; m++) acc += ts_fisher_merge_weight(weights[m], scales[m], fishers[m][i], floor_value) / den * thetas[m][i];
        out[i] = acc;
    }
}
