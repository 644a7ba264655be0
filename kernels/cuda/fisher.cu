// Kernels of the Fisher module, as kernels/cpu/fisher.c: compensated accumulation, the histogram and
// selection passes of a radix select, and the fused Fisher-weighted merge. The per-element math is
// tessera/ts_math.h.
#include <stdint.h>

#include "block_reduce.cuh"
#include "block_scan.cuh"
#include "grid.cuh"
#include "tessera/ts_math.h"
#include "vec4.cuh"

// Four elements a lane where x, sum and comp are aligned (vec4.cuh).
extern "C" __global__ void ts_kahan_accumulate_f32(int64_t n, const float *x, int square, float *sum, float *comp) {
    const auto term = [=](float v) { return square ? v * v : v; };
    ts_grid_stride4(
        ts_vec4_aligned(x) && ts_vec4_aligned(sum) && ts_vec4_aligned(comp), n,
        [&](int64_t i4) {
            const ts_quad<float> xq = ts_load4(x, i4);
            ts_quad<float> sq = ts_load4(sum, i4), cq = ts_load4(comp, i4);
            for (int k = 0; k < 4; k++) ts_kahan_add(&sq.v[k], &cq.v[k], term(xq.v[k]));
            ts_store4(sum, i4, sq);
            ts_store4(comp, i4, cq);
        },
        [&](int64_t i) { ts_kahan_add(&sum[i], &comp[i], term(x[i])); });
}

// hist[digit] += count of valid elements whose key's top prefix_bits equal prefix; digit is the digit_bits-wide
// field of the key at bit digit_shift; *invalid += count of invalid elements (left out), as the C kernel.
// Counts are integers, so the atomic adds give the same result in any order. Up to 2^24 bins do not fit
// shared memory, so the bins stay global; but the lanes of a warp that count the bin of its lowest counting
// lane add once, through that lane (a run of equal scores, such as Fisher's zeros, is one add per warp, not
// 32 on one address), and *invalid gets one add per block. blockDim.x: a power of two and a whole number of
// warps (ts_block_reduce and the full-warp votes).
extern "C" __global__ void ts_radix_histogram_f32(int64_t n, const float *x, int64_t prefix, int prefix_bits, int digit_shift, int digit_bits, unsigned long long *hist, unsigned long long *invalid) {
    const unsigned mask = (1u << digit_bits) - 1u, all_lanes = 0xffffffffu;
    const unsigned lane = threadIdx.x % TS_WARP;
    unsigned long long invalid_here = 0;
    // every thread of a block steps the same number of times (lanes past n count nothing), so the votes see every lane
    for (int64_t start = (int64_t)blockIdx.x * blockDim.x; start < n; start += (int64_t)gridDim.x * blockDim.x) {
        const int64_t i = start + threadIdx.x;
        const float v = i < n ? x[i] : 0.0f;
        const int ok = i < n && ts_valid_score(v);
        invalid_here += i < n && !ok;
        const unsigned key = ts_nonneg_key(v);
        const int counted = ok && (prefix_bits == 0 || (int64_t)(key >> (32 - prefix_bits)) == prefix);
        const unsigned bin = (key >> digit_shift) & mask;
        const unsigned counting = __ballot_sync(all_lanes, counted);
        if (counting == 0) continue;  // the same in every lane
        const int leader = __ffs((int)counting) - 1;
        const unsigned leader_bin = __shfl_sync(all_lanes, bin, leader);
        const unsigned with_leader = __ballot_sync(all_lanes, counted && bin == leader_bin);
        if ((int)lane == leader) atomicAdd(&hist[leader_bin], (unsigned long long)__popc(with_leader));
        else if (counted && bin != leader_bin) atomicAdd(&hist[bin], 1ull);
    }
    invalid_here = ts_block_reduce(invalid_here, [](unsigned long long a, unsigned long long b) { return a + b; });
    if (threadIdx.x == 0 && invalid_here != 0) atomicAdd(invalid, invalid_here);
}

// ts_select_above_f32 splits x into one contiguous chunk per block, the same in both of its kernels, so
// that concatenating the blocks' hits in block order gives them in increasing index order.
__device__ static inline void ts_select_chunk(int64_t n, int64_t *from, int64_t *to) {
    const int64_t chunk = (n + gridDim.x - 1) / gridDim.x;
    *from = blockIdx.x * chunk < n ? blockIdx.x * chunk : n;
    *to = *from + chunk < n ? *from + chunk : n;
}

// Selection pass 1: counts[3 b .. 3 b + 2] = how many valid keys of block b's chunk are above
// threshold_key, how many equal it, and how many elements are invalid.
extern "C" __global__ void ts_select_count_f32(int64_t n, const float *x, unsigned threshold_key, long long *counts) {
    int64_t from, to;
    ts_select_chunk(n, &from, &to);
    long long above = 0, equal = 0, invalid = 0;
    for (int64_t i = from + threadIdx.x; i < to; i += blockDim.x) {
        const int ok = ts_valid_score(x[i]);
        const unsigned key = ts_nonneg_key(x[i]);
        above += ok && key > threshold_key;
        equal += ok && key == threshold_key;
        invalid += !ok;
    }
    const auto sum = [](long long a, long long b) { return a + b; };
    above = ts_block_reduce(above, sum);
    equal = ts_block_reduce(equal, sum);
    invalid = ts_block_reduce(invalid, sum);
    if (threadIdx.x == 0) {
        counts[3 * blockIdx.x] = above;
        counts[3 * blockIdx.x + 1] = equal;
        counts[3 * blockIdx.x + 2] = invalid;
    }
}

// Selection pass 2 (same grid as pass 1): writes each hit at its rank among all hits, so the output is
// in index order whatever the scheduling. A valid element is a hit if its key is above the threshold, or
// equals it with fewer than equal_quota equal keys before it; with A keys above and E equal before it,
// its rank is A + min(E, equal_quota). Each block first sums the counts of the blocks before it (an
// exclusive scan over blocks), then ranks its chunk a block of elements at a time.
extern "C" __global__ void ts_select_write_f32(int64_t n, const float *x, unsigned threshold_key, long long equal_quota, long long capacity, const long long *counts, int64_t *indices, int *keys) {
    const auto sum = [](long long a, long long b) { return a + b; };
    long long above_before = 0, equal_before = 0;
    for (unsigned b = threadIdx.x; b < blockIdx.x; b += blockDim.x) {
        above_before += counts[3 * b];
        equal_before += counts[3 * b + 1];
    }
    above_before = ts_block_reduce(above_before, sum);
    equal_before = ts_block_reduce(equal_before, sum);
    int64_t from, to;
    ts_select_chunk(n, &from, &to);
    for (int64_t start = from; start < to; start += blockDim.x) {
        const long long taken_before = above_before + (equal_before < equal_quota ? equal_before : equal_quota);
        if (taken_before >= capacity) break;  // the same for every thread: no later hit fits
        const int64_t i = start + threadIdx.x;
        const float v = i < to ? x[i] : -1.0f;
        const int ok = ts_valid_score(v);
        const unsigned key = ts_nonneg_key(v);
        const int is_above = ok && key > threshold_key, is_equal = ok && key == threshold_key;
        // both flags in one scan: at most blockDim.x <= 1024 of each, so 16 bits each suffice
        int total;
        const int rank = ts_block_exclusive_scan(is_above | (is_equal << 16), &total);
        const long long above = above_before + (rank & 0xffff), equal = equal_before + (rank >> 16);
        if (is_above || (is_equal && equal < equal_quota)) {
            const long long at = above + (equal < equal_quota ? equal : equal_quota);
            if (at < capacity) {
                indices[at] = i;
                keys[at] = (int)key;
            }
        }
        above_before += total & 0xffff;
        equal_before += total >> 16;
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
