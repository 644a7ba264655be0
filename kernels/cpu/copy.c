/* Strided copy with dtype conversion (the primitive behind contiguous(), casts and slice assignment),
 * and fill. Same-dtype unit-stride rows become memcpy; other pairs convert one element at a time
 * (ts_convert_elem, shared with the CUDA kernels). */
#include <string.h>

#include "tessera/ts_convert.h"
#include "strided.h"
#include "ts_cpu.h"

static void copy_row(int sd, int dd, int64_t n, const char *src, int64_t ss, char *dst, int64_t ds) {
    const int sb = ts_dtype_size(sd), db = ts_dtype_size(dd);
    if (sd == dd && ss == 1 && ds == 1) {
        memcpy(dst, src, (size_t)(n * sb));
    } else if (sd == TS_F32 && dd == TS_BF16 && ss == 1 && ds == 1) {
        for (int64_t i = 0; i < n; i++) ((uint16_t *)dst)[i] = ts_f32_to_bf16(((const float *)src)[i]);
    } else if (sd == TS_BF16 && dd == TS_F32 && ss == 1 && ds == 1) {
        for (int64_t i = 0; i < n; i++) ((float *)dst)[i] = ts_bf16_to_f32(((const uint16_t *)src)[i]);
    } else if (sd == dd) {
        for (int64_t i = 0; i < n; i++) memcpy(dst + i * ds * db, src + i * ss * sb, (size_t)sb);
    } else {
        for (int64_t i = 0; i < n; i++) ts_convert_elem(sd, src + i * ss * sb, dd, dst + i * ds * db);
    }
}

int TS_FN(ts_copy_strided)(int src_dtype, int dst_dtype, int ndim, const int64_t *shape, const void *src,
                           const int64_t *ss, void *dst, const int64_t *ds) {
    const int64_t *strides[2] = {ss, ds};
    ts_iter it;
    ts_iter_init(&it, ndim, shape, 2, strides);
    const int sb = ts_dtype_size(src_dtype), db = ts_dtype_size(dst_dtype);
    TS_FOR_EACH_TASK(it, off, n, {
        copy_row(src_dtype, dst_dtype, n, (const char *)src + off[0] * sb, TS_INNER_STRIDE(&it, 0),
                 (char *)dst + off[1] * db, TS_INNER_STRIDE(&it, 1));
    });
    return TS_OK;
}

int TS_FN(ts_fill)(int dtype, int64_t n, double value, void *y) {
    const int b = ts_dtype_size(dtype);
    char pattern[8];
    ts_fill_elem(dtype, pattern, value);
    if (b == 4) {
        uint32_t v;
        memcpy(&v, pattern, 4);
        uint32_t *restrict out = y;
        TS_PARALLEL_FOR_IF(n >= TS_PARALLEL_MIN, omp parallel for simd schedule(static), i, n, { out[i] = v; });
    } else {
        TS_PARALLEL_FOR_IF(n >= TS_PARALLEL_MIN, omp parallel for schedule(static), i, n,
                           { memcpy((char *)y + i * b, pattern, (size_t)b); });
    }
    return TS_OK;
}
