/* Strided copy with dtype conversion (the primitive behind contiguous(), casts and slice assignment),
 * and fill. Same-dtype unit-stride rows become memcpy; other pairs convert through double (for
 * floating sources) or int64 (integer to integer), one element at a time. */
#include <string.h>

#include "tessera/ts_convert.h"
#include "strided.h"
#include "ts_cpu.h"

static const int ts_dtype_bytes[] = {[TS_F32] = 4, [TS_BF16] = 2, [TS_F16] = 2, [TS_I8] = 1,
                                     [TS_U8] = 1, [TS_BOOL] = 1, [TS_I32] = 4, [TS_I64] = 8};

static int is_integer(int dtype) { return dtype >= TS_I8; }

static double load_double(int dtype, const void *p) {
    switch (dtype) {
    case TS_F32: return *(const float *)p;
    case TS_BF16: return ts_bf16_to_f32(*(const uint16_t *)p);
    case TS_F16: return ts_f16_to_f32(*(const uint16_t *)p);
    case TS_I8: return *(const int8_t *)p;
    case TS_U8: return *(const uint8_t *)p;
    case TS_BOOL: return *(const uint8_t *)p != 0;
    case TS_I32: return *(const int32_t *)p;
    default: return (double)*(const int64_t *)p;
    }
}

static int64_t load_int(int dtype, const void *p) {
    switch (dtype) {
    case TS_I8: return *(const int8_t *)p;
    case TS_U8: return *(const uint8_t *)p;
    case TS_BOOL: return *(const uint8_t *)p != 0;
    case TS_I32: return *(const int32_t *)p;
    default: return *(const int64_t *)p;
    }
}

static void store_double(int dtype, void *p, double v) {
    switch (dtype) {
    case TS_F32: *(float *)p = (float)v; break;
    case TS_BF16: *(uint16_t *)p = ts_f32_to_bf16((float)v); break;
    case TS_F16: *(uint16_t *)p = ts_f32_to_f16((float)v); break;
    case TS_I8: *(int8_t *)p = (int8_t)ts_saturate(v, -128.0, 127.0); break;
    case TS_U8: *(uint8_t *)p = (uint8_t)ts_saturate(v, 0.0, 255.0); break;
    case TS_BOOL: *(uint8_t *)p = v != 0.0; break;
    case TS_I32: *(int32_t *)p = (int32_t)ts_saturate(v, -2147483648.0, 2147483647.0); break;
    default: *(int64_t *)p = ts_saturate(v, -9223372036854775808.0, 9223372036854774784.0); break;
    }
}

static void store_int(int dtype, void *p, int64_t v) {
    switch (dtype) {
    case TS_I8: *(int8_t *)p = (int8_t)v; break;
    case TS_U8: *(uint8_t *)p = (uint8_t)v; break;
    case TS_BOOL: *(uint8_t *)p = v != 0; break;
    case TS_I32: *(int32_t *)p = (int32_t)v; break;
    default: *(int64_t *)p = v; break;
    }
}

static void copy_row(int sd, int dd, int64_t n, const char *src, int64_t ss, char *dst, int64_t ds) {
    const int sb = ts_dtype_bytes[sd], db = ts_dtype_bytes[dd];
    if (sd == dd && ss == 1 && ds == 1) {
        memcpy(dst, src, (size_t)(n * sb));
    } else if (sd == TS_F32 && dd == TS_BF16 && ss == 1 && ds == 1) {
        for (int64_t i = 0; i < n; i++) ((uint16_t *)dst)[i] = ts_f32_to_bf16(((const float *)src)[i]);
    } else if (sd == TS_BF16 && dd == TS_F32 && ss == 1 && ds == 1) {
        for (int64_t i = 0; i < n; i++) ((float *)dst)[i] = ts_bf16_to_f32(((const uint16_t *)src)[i]);
    } else if (sd == dd) {
        for (int64_t i = 0; i < n; i++) memcpy(dst + i * ds * db, src + i * ss * sb, (size_t)sb);
    } else if (is_integer(sd) && is_integer(dd)) {
        for (int64_t i = 0; i < n; i++) store_int(dd, dst + i * ds * db, load_int(sd, src + i * ss * sb));
    } else {
        for (int64_t i = 0; i < n; i++) store_double(dd, dst + i * ds * db, load_double(sd, src + i * ss * sb));
    }
}

int TS_FN(ts_copy_strided)(int src_dtype, int dst_dtype, int ndim, const int64_t *shape, const void *src,
                           const int64_t *ss, void *dst, const int64_t *ds) {
    const int64_t *strides[2] = {ss, ds};
    ts_iter it;
    ts_iter_init(&it, ndim, shape, 2, strides);
    const int sb = ts_dtype_bytes[src_dtype], db = ts_dtype_bytes[dst_dtype];
    TS_FOR_EACH_TASK(it, off, n, {
        copy_row(src_dtype, dst_dtype, n, (const char *)src + off[0] * sb, TS_INNER_STRIDE(&it, 0),
                 (char *)dst + off[1] * db, TS_INNER_STRIDE(&it, 1));
    });
    return TS_OK;
}

int TS_FN(ts_fill)(int dtype, int64_t n, double value, void *y) {
    const int b = ts_dtype_bytes[dtype];
    char pattern[8];
    if (is_integer(dtype)) {
        store_int(dtype, pattern, (int64_t)value);
    } else {
        store_double(dtype, pattern, value);
    }
    if (b == 4) {
        uint32_t v;
        memcpy(&v, pattern, 4);
        uint32_t *restrict out = y;
#pragma omp parallel for simd schedule(static) if (n >= TS_PARALLEL_MIN)
        for (int64_t i = 0; i < n; i++) out[i] = v;
    } else {
#pragma omp parallel for schedule(static) if (n >= TS_PARALLEL_MIN)
        for (int64_t i = 0; i < n; i++) memcpy((char *)y + i * b, pattern, (size_t)b);
    }
    return TS_OK;
}
