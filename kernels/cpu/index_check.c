/* Validation of an index list before a kernel trusts it (Java calls this from Backend's checks): every
 * entry in [0, bound), and with increasing != 0 each entry above the one before it (sorted and unique).
 * Writes the position of the first entry that fails to *first_bad, or -1. One vectorised pass that only
 * ORs a flag; the scalar pass that finds the position runs only when something failed. */
#include "tessera/ts_index.h"
#include "ts_cpu.h"

#define TS_INDEX_SCAN(type)                                                                                      \
    do {                                                                                                         \
        const type *restrict v = (const type *)idx;                                                              \
        int bad = 0;                                                                                             \
        _Pragma("omp simd reduction(| : bad)") for (int64_t i = 0; i < n; i++) {                                 \
            bad |= (v[i] < 0) | ((int64_t)v[i] >= bound) | (increasing && i > 0 && v[i] <= v[i > 0 ? i - 1 : 0]); \
        }                                                                                                        \
        if (!bad) return TS_OK;                                                                                  \
    } while (0)

int TS_FN(ts_index_check)(int64_t n, const void *idx, int idx_bytes, int64_t bound, int increasing,
                          int64_t *first_bad) {
    *first_bad = -1;
    if (idx_bytes == 4) {
        TS_INDEX_SCAN(int32_t);
    } else {
        TS_INDEX_SCAN(int64_t);
    }
    for (int64_t i = 0; i < n; i++) {
        const int64_t v = ts_index_at(idx, idx_bytes, i);
        if (v < 0 || v >= bound || (increasing && i > 0 && v <= ts_index_at(idx, idx_bytes, i - 1))) {
            *first_bad = i;
            return TS_OK;
        }
    }
    return TS_OK;
}
