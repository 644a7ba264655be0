package io.tessera.ffi;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_DOUBLE;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;
import java.util.List;

/**
 * Bindings to libtessera_cpu.so, Tessera's own C kernels (kernels/cpu). Symbols are listed in
 * ffi/jextract/tessera_cpu.args. The kernels trust their arguments: callers validate shapes, bounds
 * and alignment first. Kernels return a status code, {@link #TS_OK} on success.
 */
public final class TesseraCpu {
    private TesseraCpu() {}

    public static final int TS_OK = 0;
    public static final int ISA_BASE = 0;
    public static final int ISA_AVX2 = 1;
    public static final int ISA_AVX512 = 2;

    static final String RESOURCE_DIR = "native/linux-x86_64";

    public static final NativeLibrary LIBRARY = NativeLibrary.of("libtessera_cpu.so",
            List.of(new NativeLibrary.Location.Bundled(RESOURCE_DIR, "libtessera_cpu.so", List.of(), bundledVersion()),
                    new NativeLibrary.Location.SystemName("libtessera_cpu.so")));

    private static String bundledVersion() {
        String sha = NativeLibrary.bundledChecksums(RESOURCE_DIR).get("libtessera_cpu.so");
        return sha == null ? "unversioned" : sha.substring(0, 16);
    }

    public static SymbolLookup lookup() {
        return LIBRARY.lookup();
    }

    private static final class ts_abi_version {
        static final MethodHandle HANDLE = LIBRARY.downcall("ts_abi_version", FunctionDescriptor.of(JAVA_INT));
    }

    /** int ts_abi_version(void) */
    public static int ts_abi_version() {
        try {
            return (int) ts_abi_version.HANDLE.invokeExact();
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    private static final class ts_noop {
        static final FunctionDescriptor DESC = FunctionDescriptor.ofVoid();
        static final MethodHandle HANDLE = LIBRARY.downcall("ts_noop", DESC);
        static final MethodHandle HANDLE_CRITICAL = LIBRARY.downcall("ts_noop", DESC, Linker.Option.critical(false));
    }

    /** void ts_noop(void): an empty call, to measure the cost of a downcall. */
    public static void ts_noop() {
        try {
            ts_noop.HANDLE.invokeExact();
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    /** {@link #ts_noop()} linked with {@code Linker.Option.critical}: no thread-state transition. */
    public static void ts_noop_critical() {
        try {
            ts_noop.HANDLE_CRITICAL.invokeExact();
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    private static final class ts_isa_supported {
        static final MethodHandle HANDLE = LIBRARY.downcall("ts_isa_supported", FunctionDescriptor.of(JAVA_INT, JAVA_INT));
    }

    /** int ts_isa_supported(int tier): 1 if this CPU can run the tier's kernels. */
    public static int ts_isa_supported(int tier) {
        try {
            return (int) ts_isa_supported.HANDLE.invokeExact(tier);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    private static final class ts_isa_select {
        static final MethodHandle HANDLE = LIBRARY.downcall("ts_isa_select", FunctionDescriptor.of(JAVA_INT, JAVA_INT));
    }

    /** int ts_isa_select(int tier): switch every kernel to a tier (tests only; not while kernels run). */
    public static int ts_isa_select(int tier) {
        try {
            return (int) ts_isa_select.HANDLE.invokeExact(tier);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    private static final class ts_isa_active {
        static final MethodHandle HANDLE = LIBRARY.downcall("ts_isa_active", FunctionDescriptor.of(JAVA_INT));
    }

    /** int ts_isa_active(void): the tier chosen at load (CPUID) or by {@link #ts_isa_select}. */
    public static int ts_isa_active() {
        try {
            return (int) ts_isa_active.HANDLE.invokeExact();
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    private static final class ts_omp_max_threads {
        static final MethodHandle HANDLE = LIBRARY.downcall("ts_omp_max_threads", FunctionDescriptor.of(JAVA_INT));
    }

    /** int ts_omp_max_threads(void) */
    public static int ts_omp_max_threads() {
        try {
            return (int) ts_omp_max_threads.HANDLE.invokeExact();
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    private static final class ts_omp_set_threads {
        static final MethodHandle HANDLE = LIBRARY.downcall("ts_omp_set_threads", FunctionDescriptor.ofVoid(JAVA_INT));
    }

    /** void ts_omp_set_threads(int n) */
    public static void ts_omp_set_threads(int n) {
        try {
            ts_omp_set_threads.HANDLE.invokeExact(n);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    private static final class ts_pool_cover {
        static final MethodHandle HANDLE = LIBRARY.downcall("ts_pool_cover", FunctionDescriptor.ofVoid(JAVA_LONG, ADDRESS));
    }

    /** void ts_pool_cover(int64_t chunks, int32_t *counts): the pool adds 1 to counts[c] for every chunk c. */
    public static void ts_pool_cover(long chunks, MemorySegment counts) {
        try {
            ts_pool_cover.HANDLE.invokeExact(chunks, counts);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }
    // ---- generated from kernels/cpu/kernels.def by native-build/gen_cpu_bindings.py: do not edit ----

    private static final class ts_axpy_f32 {
        static final MethodHandle HANDLE = LIBRARY.downcall("ts_axpy_f32", FunctionDescriptor.of(JAVA_INT, JAVA_LONG, JAVA_FLOAT, ADDRESS, ADDRESS));
    }

    /** int ts_axpy_f32(int64_t n, float a, const float *x, float *y) */
    public static int ts_axpy_f32(long n, float a, MemorySegment x, MemorySegment y) {
        try {
            return (int) ts_axpy_f32.HANDLE.invokeExact(n, a, x, y);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    private static final class ts_sum_f32 {
        static final MethodHandle HANDLE = LIBRARY.downcall("ts_sum_f32", FunctionDescriptor.of(JAVA_INT, JAVA_LONG, ADDRESS, ADDRESS));
    }

    /** int ts_sum_f32(int64_t n, const float *x, double *out) */
    public static int ts_sum_f32(long n, MemorySegment x, MemorySegment out) {
        try {
            return (int) ts_sum_f32.HANDLE.invokeExact(n, x, out);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    private static final class ts_copy_f32 {
        static final MethodHandle HANDLE = LIBRARY.downcall("ts_copy_f32", FunctionDescriptor.of(JAVA_INT, JAVA_LONG, ADDRESS, ADDRESS));
    }

    /** int ts_copy_f32(int64_t n, const float *x, float *y) */
    public static int ts_copy_f32(long n, MemorySegment x, MemorySegment y) {
        try {
            return (int) ts_copy_f32.HANDLE.invokeExact(n, x, y);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    private static final class ts_unary_f32 {
        static final MethodHandle HANDLE = LIBRARY.downcall("ts_unary_f32", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_FLOAT, JAVA_INT, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS));
    }

    /** int ts_unary_f32(int op, float alpha, int ndim, const int64_t *shape, const float *x, const int64_t *xs, float *y, const int64_t *ys) */
    public static int ts_unary_f32(int op, float alpha, int ndim, MemorySegment shape, MemorySegment x, MemorySegment xs, MemorySegment y, MemorySegment ys) {
        try {
            return (int) ts_unary_f32.HANDLE.invokeExact(op, alpha, ndim, shape, x, xs, y, ys);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    private static final class ts_binary_f32 {
        static final MethodHandle HANDLE = LIBRARY.downcall("ts_binary_f32", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS));
    }

    /** int ts_binary_f32(int op, int ndim, const int64_t *shape, const float *a, const int64_t *as, const float *b, const int64_t *bs, float *y, const int64_t *ys) */
    public static int ts_binary_f32(int op, int ndim, MemorySegment shape, MemorySegment a, MemorySegment as, MemorySegment b, MemorySegment bs, MemorySegment y, MemorySegment ys) {
        try {
            return (int) ts_binary_f32.HANDLE.invokeExact(op, ndim, shape, a, as, b, bs, y, ys);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    private static final class ts_compare_f32 {
        static final MethodHandle HANDLE = LIBRARY.downcall("ts_compare_f32", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS));
    }

    /** int ts_compare_f32(int op, int ndim, const int64_t *shape, const float *a, const int64_t *as, const float *b, const int64_t *bs, uint8_t *y, const int64_t *ys) */
    public static int ts_compare_f32(int op, int ndim, MemorySegment shape, MemorySegment a, MemorySegment as, MemorySegment b, MemorySegment bs, MemorySegment y, MemorySegment ys) {
        try {
            return (int) ts_compare_f32.HANDLE.invokeExact(op, ndim, shape, a, as, b, bs, y, ys);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    private static final class ts_where_f32 {
        static final MethodHandle HANDLE = LIBRARY.downcall("ts_where_f32", FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS));
    }

    /** int ts_where_f32(int ndim, const int64_t *shape, const uint8_t *c, const int64_t *cs, const float *a, const int64_t *as, const float *b, const int64_t *bs, float *y, const int64_t *ys) */
    public static int ts_where_f32(int ndim, MemorySegment shape, MemorySegment c, MemorySegment cs, MemorySegment a, MemorySegment as, MemorySegment b, MemorySegment bs, MemorySegment y, MemorySegment ys) {
        try {
            return (int) ts_where_f32.HANDLE.invokeExact(ndim, shape, c, cs, a, as, b, bs, y, ys);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    private static final class ts_copy_strided {
        static final MethodHandle HANDLE = LIBRARY.downcall("ts_copy_strided", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS));
    }

    /** int ts_copy_strided(int src_dtype, int dst_dtype, int ndim, const int64_t *shape, const void *src, const int64_t *ss, void *dst, const int64_t *ds) */
    public static int ts_copy_strided(int src_dtype, int dst_dtype, int ndim, MemorySegment shape, MemorySegment src, MemorySegment ss, MemorySegment dst, MemorySegment ds) {
        try {
            return (int) ts_copy_strided.HANDLE.invokeExact(src_dtype, dst_dtype, ndim, shape, src, ss, dst, ds);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    private static final class ts_fill {
        static final MethodHandle HANDLE = LIBRARY.downcall("ts_fill", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_LONG, JAVA_DOUBLE, ADDRESS));
    }

    /** int ts_fill(int dtype, int64_t n, double value, void *y) */
    public static int ts_fill(int dtype, long n, double value, MemorySegment y) {
        try {
            return (int) ts_fill.HANDLE.invokeExact(dtype, n, value, y);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    private static final class ts_reduce_f32 {
        static final MethodHandle HANDLE = LIBRARY.downcall("ts_reduce_f32", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT, ADDRESS, ADDRESS, JAVA_INT, ADDRESS, ADDRESS, ADDRESS, ADDRESS));
    }

    /** int ts_reduce_f32(int op, int outer_ndim, const int64_t *outer_shape, const int64_t *outer_xs, int red_ndim, const int64_t *red_shape, const int64_t *red_xs, const float *x, void *y) */
    public static int ts_reduce_f32(int op, int outer_ndim, MemorySegment outer_shape, MemorySegment outer_xs, int red_ndim, MemorySegment red_shape, MemorySegment red_xs, MemorySegment x, MemorySegment y) {
        try {
            return (int) ts_reduce_f32.HANDLE.invokeExact(op, outer_ndim, outer_shape, outer_xs, red_ndim, red_shape, red_xs, x, y);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    private static final class ts_softmax_f32 {
        static final MethodHandle HANDLE = LIBRARY.downcall("ts_softmax_f32", FunctionDescriptor.of(JAVA_INT, JAVA_LONG, JAVA_LONG, JAVA_INT, ADDRESS, ADDRESS));
    }

    /** int ts_softmax_f32(int64_t rows, int64_t cols, int log, const float *x, float *y) */
    public static int ts_softmax_f32(long rows, long cols, int log, MemorySegment x, MemorySegment y) {
        try {
            return (int) ts_softmax_f32.HANDLE.invokeExact(rows, cols, log, x, y);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    private static final class ts_softmax_backward_f32 {
        static final MethodHandle HANDLE = LIBRARY.downcall("ts_softmax_backward_f32", FunctionDescriptor.of(JAVA_INT, JAVA_LONG, JAVA_LONG, JAVA_INT, ADDRESS, ADDRESS, ADDRESS));
    }

    /** int ts_softmax_backward_f32(int64_t rows, int64_t cols, int log, const float *y, const float *gy, float *gx) */
    public static int ts_softmax_backward_f32(long rows, long cols, int log, MemorySegment y, MemorySegment gy, MemorySegment gx) {
        try {
            return (int) ts_softmax_backward_f32.HANDLE.invokeExact(rows, cols, log, y, gy, gx);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    private static final class ts_layernorm_f32 {
        static final MethodHandle HANDLE = LIBRARY.downcall("ts_layernorm_f32", FunctionDescriptor.of(JAVA_INT, JAVA_LONG, JAVA_LONG, JAVA_FLOAT, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS));
    }

    /** int ts_layernorm_f32(int64_t rows, int64_t cols, float eps, const float *x, const float *w, const float *b, float *y, float *mean, float *rstd) */
    public static int ts_layernorm_f32(long rows, long cols, float eps, MemorySegment x, MemorySegment w, MemorySegment b, MemorySegment y, MemorySegment mean, MemorySegment rstd) {
        try {
            return (int) ts_layernorm_f32.HANDLE.invokeExact(rows, cols, eps, x, w, b, y, mean, rstd);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    private static final class ts_layernorm_backward_f32 {
        static final MethodHandle HANDLE = LIBRARY.downcall("ts_layernorm_backward_f32", FunctionDescriptor.of(JAVA_INT, JAVA_LONG, JAVA_LONG, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS));
    }

    /** int ts_layernorm_backward_f32(int64_t rows, int64_t cols, const float *x, const float *w, const float *mean, const float *rstd, const float *gy, float *gx, float *gw, float *gb) */
    public static int ts_layernorm_backward_f32(long rows, long cols, MemorySegment x, MemorySegment w, MemorySegment mean, MemorySegment rstd, MemorySegment gy, MemorySegment gx, MemorySegment gw, MemorySegment gb) {
        try {
            return (int) ts_layernorm_backward_f32.HANDLE.invokeExact(rows, cols, x, w, mean, rstd, gy, gx, gw, gb);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    private static final class ts_rmsnorm_f32 {
        static final MethodHandle HANDLE = LIBRARY.downcall("ts_rmsnorm_f32", FunctionDescriptor.of(JAVA_INT, JAVA_LONG, JAVA_LONG, JAVA_FLOAT, ADDRESS, ADDRESS, ADDRESS, ADDRESS));
    }

    /** int ts_rmsnorm_f32(int64_t rows, int64_t cols, float eps, const float *x, const float *w, float *y, float *rstd) */
    public static int ts_rmsnorm_f32(long rows, long cols, float eps, MemorySegment x, MemorySegment w, MemorySegment y, MemorySegment rstd) {
        try {
            return (int) ts_rmsnorm_f32.HANDLE.invokeExact(rows, cols, eps, x, w, y, rstd);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    private static final class ts_rmsnorm_backward_f32 {
        static final MethodHandle HANDLE = LIBRARY.downcall("ts_rmsnorm_backward_f32", FunctionDescriptor.of(JAVA_INT, JAVA_LONG, JAVA_LONG, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS));
    }

    /** int ts_rmsnorm_backward_f32(int64_t rows, int64_t cols, const float *x, const float *w, const float *rstd, const float *gy, float *gx, float *gw) */
    public static int ts_rmsnorm_backward_f32(long rows, long cols, MemorySegment x, MemorySegment w, MemorySegment rstd, MemorySegment gy, MemorySegment gx, MemorySegment gw) {
        try {
            return (int) ts_rmsnorm_backward_f32.HANDLE.invokeExact(rows, cols, x, w, rstd, gy, gx, gw);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    private static final class ts_rope_f32 {
        static final MethodHandle HANDLE = LIBRARY.downcall("ts_rope_f32", FunctionDescriptor.of(JAVA_INT, JAVA_LONG, JAVA_LONG, JAVA_LONG, ADDRESS, ADDRESS, ADDRESS, ADDRESS, JAVA_INT, ADDRESS));
    }

    /** int ts_rope_f32(int64_t rows, int64_t heads, int64_t d, const float *x, const float *cos_table, const float *sin_table, const int64_t *pos, int inverse, float *y) */
    public static int ts_rope_f32(long rows, long heads, long d, MemorySegment x, MemorySegment cos_table, MemorySegment sin_table, MemorySegment pos, int inverse, MemorySegment y) {
        try {
            return (int) ts_rope_f32.HANDLE.invokeExact(rows, heads, d, x, cos_table, sin_table, pos, inverse, y);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    private static final class ts_cross_entropy_f32 {
        static final MethodHandle HANDLE = LIBRARY.downcall("ts_cross_entropy_f32", FunctionDescriptor.of(JAVA_INT, JAVA_LONG, JAVA_LONG, ADDRESS, ADDRESS, JAVA_INT, ADDRESS, ADDRESS));
    }

    /** int ts_cross_entropy_f32(int64_t rows, int64_t cols, const float *logits, const void *labels, int label_bytes, float *loss, float *lse) */
    public static int ts_cross_entropy_f32(long rows, long cols, MemorySegment logits, MemorySegment labels, int label_bytes, MemorySegment loss, MemorySegment lse) {
        try {
            return (int) ts_cross_entropy_f32.HANDLE.invokeExact(rows, cols, logits, labels, label_bytes, loss, lse);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    private static final class ts_cross_entropy_backward_f32 {
        static final MethodHandle HANDLE = LIBRARY.downcall("ts_cross_entropy_backward_f32", FunctionDescriptor.of(JAVA_INT, JAVA_LONG, JAVA_LONG, ADDRESS, ADDRESS, JAVA_INT, ADDRESS, ADDRESS, ADDRESS));
    }

    /** int ts_cross_entropy_backward_f32(int64_t rows, int64_t cols, const float *logits, const void *labels, int label_bytes, const float *lse, const float *gloss, float *glogits) */
    public static int ts_cross_entropy_backward_f32(long rows, long cols, MemorySegment logits, MemorySegment labels, int label_bytes, MemorySegment lse, MemorySegment gloss, MemorySegment glogits) {
        try {
            return (int) ts_cross_entropy_backward_f32.HANDLE.invokeExact(rows, cols, logits, labels, label_bytes, lse, gloss, glogits);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    private static final class ts_index_check {
        static final MethodHandle HANDLE = LIBRARY.downcall("ts_index_check", FunctionDescriptor.of(JAVA_INT, JAVA_LONG, ADDRESS, JAVA_INT, JAVA_LONG, JAVA_INT, ADDRESS));
    }

    /** int ts_index_check(int64_t n, const void *idx, int idx_bytes, int64_t bound, int increasing, int64_t *first_bad) */
    public static int ts_index_check(long n, MemorySegment idx, int idx_bytes, long bound, int increasing, MemorySegment first_bad) {
        try {
            return (int) ts_index_check.HANDLE.invokeExact(n, idx, idx_bytes, bound, increasing, first_bad);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    private static final class ts_embedding_f32 {
        static final MethodHandle HANDLE = LIBRARY.downcall("ts_embedding_f32", FunctionDescriptor.of(JAVA_INT, JAVA_LONG, JAVA_LONG, ADDRESS, ADDRESS, JAVA_INT, ADDRESS));
    }

    /** int ts_embedding_f32(int64_t n, int64_t dim, const float *weight, const void *idx, int idx_bytes, float *out) */
    public static int ts_embedding_f32(long n, long dim, MemorySegment weight, MemorySegment idx, int idx_bytes, MemorySegment out) {
        try {
            return (int) ts_embedding_f32.HANDLE.invokeExact(n, dim, weight, idx, idx_bytes, out);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    private static final class ts_embedding_backward_f32 {
        static final MethodHandle HANDLE = LIBRARY.downcall("ts_embedding_backward_f32", FunctionDescriptor.of(JAVA_INT, JAVA_LONG, JAVA_LONG, ADDRESS, ADDRESS, JAVA_INT, ADDRESS));
    }

    /** int ts_embedding_backward_f32(int64_t n, int64_t dim, const float *gout, const void *idx, int idx_bytes, float *gweight) */
    public static int ts_embedding_backward_f32(long n, long dim, MemorySegment gout, MemorySegment idx, int idx_bytes, MemorySegment gweight) {
        try {
            return (int) ts_embedding_backward_f32.HANDLE.invokeExact(n, dim, gout, idx, idx_bytes, gweight);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    private static final class ts_causal_mask_f32 {
        static final MethodHandle HANDLE = LIBRARY.downcall("ts_causal_mask_f32", FunctionDescriptor.of(JAVA_INT, JAVA_LONG, JAVA_LONG, JAVA_LONG, JAVA_LONG, JAVA_FLOAT, ADDRESS));
    }

    /** int ts_causal_mask_f32(int64_t batch, int64_t tq, int64_t tk, int64_t past, float value, float *x) */
    public static int ts_causal_mask_f32(long batch, long tq, long tk, long past, float value, MemorySegment x) {
        try {
            return (int) ts_causal_mask_f32.HANDLE.invokeExact(batch, tq, tk, past, value, x);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    private static final class ts_causal_attention_f32 {
        static final MethodHandle HANDLE = LIBRARY.downcall("ts_causal_attention_f32", FunctionDescriptor.of(JAVA_INT, JAVA_LONG, JAVA_LONG, JAVA_LONG, JAVA_LONG, JAVA_LONG, JAVA_LONG, JAVA_FLOAT, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS));
    }

    /** int ts_causal_attention_f32(int64_t batch, int64_t heads, int64_t group, int64_t tq, int64_t tk, int64_t d, float scale, const float *q, const int64_t *qs, const float *k, const int64_t *ks, const float *v, const int64_t *vs, float *y) */
    public static int ts_causal_attention_f32(long batch, long heads, long group, long tq, long tk, long d, float scale, MemorySegment q, MemorySegment qs, MemorySegment k, MemorySegment ks, MemorySegment v, MemorySegment vs, MemorySegment y) {
        try {
            return (int) ts_causal_attention_f32.HANDLE.invokeExact(batch, heads, group, tq, tk, d, scale, q, qs, k, ks, v, vs, y);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    private static final class ts_causal_attention_f16kv {
        static final MethodHandle HANDLE = LIBRARY.downcall("ts_causal_attention_f16kv", FunctionDescriptor.of(JAVA_INT, JAVA_LONG, JAVA_LONG, JAVA_LONG, JAVA_LONG, JAVA_LONG, JAVA_LONG, JAVA_FLOAT, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS));
    }

    /** int ts_causal_attention_f16kv(int64_t batch, int64_t heads, int64_t group, int64_t tq, int64_t tk, int64_t d, float scale, const float *q, const int64_t *qs, const uint16_t *k, const int64_t *ks, const uint16_t *v, const int64_t *vs, float *y) */
    public static int ts_causal_attention_f16kv(long batch, long heads, long group, long tq, long tk, long d, float scale, MemorySegment q, MemorySegment qs, MemorySegment k, MemorySegment ks, MemorySegment v, MemorySegment vs, MemorySegment y) {
        try {
            return (int) ts_causal_attention_f16kv.HANDLE.invokeExact(batch, heads, group, tq, tk, d, scale, q, qs, k, ks, v, vs, y);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    private static final class ts_adamw_f32 {
        static final MethodHandle HANDLE = LIBRARY.downcall("ts_adamw_f32", FunctionDescriptor.of(JAVA_INT, JAVA_LONG, ADDRESS, ADDRESS, ADDRESS, ADDRESS, JAVA_FLOAT, JAVA_FLOAT, JAVA_FLOAT, JAVA_FLOAT, JAVA_FLOAT, JAVA_FLOAT, JAVA_FLOAT));
    }

    /** int ts_adamw_f32(int64_t n, float *p, const float *g, float *m, float *v, float lr, float beta1, float beta2, float eps, float weight_decay, float bias_correction1, float bias_correction2) */
    public static int ts_adamw_f32(long n, MemorySegment p, MemorySegment g, MemorySegment m, MemorySegment v, float lr, float beta1, float beta2, float eps, float weight_decay, float bias_correction1, float bias_correction2) {
        try {
            return (int) ts_adamw_f32.HANDLE.invokeExact(n, p, g, m, v, lr, beta1, beta2, eps, weight_decay, bias_correction1, bias_correction2);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    private static final class ts_sgd_f32 {
        static final MethodHandle HANDLE = LIBRARY.downcall("ts_sgd_f32", FunctionDescriptor.of(JAVA_INT, JAVA_LONG, ADDRESS, ADDRESS, ADDRESS, JAVA_FLOAT, JAVA_FLOAT, JAVA_FLOAT, JAVA_FLOAT, JAVA_INT, JAVA_INT));
    }

    /** int ts_sgd_f32(int64_t n, float *p, const float *g, float *buf, float lr, float momentum, float dampening, float weight_decay, int nesterov, int first_step) */
    public static int ts_sgd_f32(long n, MemorySegment p, MemorySegment g, MemorySegment buf, float lr, float momentum, float dampening, float weight_decay, int nesterov, int first_step) {
        try {
            return (int) ts_sgd_f32.HANDLE.invokeExact(n, p, g, buf, lr, momentum, dampening, weight_decay, nesterov, first_step);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    private static final class ts_philox_f32 {
        static final MethodHandle HANDLE = LIBRARY.downcall("ts_philox_f32", FunctionDescriptor.of(JAVA_INT, JAVA_LONG, JAVA_LONG, JAVA_LONG, JAVA_INT, ADDRESS));
    }

    /** int ts_philox_f32(int64_t n, uint64_t seed, uint64_t offset, int normal, float *y) */
    public static int ts_philox_f32(long n, long seed, long offset, int normal, MemorySegment y) {
        try {
            return (int) ts_philox_f32.HANDLE.invokeExact(n, seed, offset, normal, y);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    private static final class ts_kahan_accumulate_f32 {
        static final MethodHandle HANDLE = LIBRARY.downcall("ts_kahan_accumulate_f32", FunctionDescriptor.of(JAVA_INT, JAVA_LONG, ADDRESS, JAVA_INT, ADDRESS, ADDRESS));
    }

    /** int ts_kahan_accumulate_f32(int64_t n, const float *x, int square, float *sum, float *comp) */
    public static int ts_kahan_accumulate_f32(long n, MemorySegment x, int square, MemorySegment sum, MemorySegment comp) {
        try {
            return (int) ts_kahan_accumulate_f32.HANDLE.invokeExact(n, x, square, sum, comp);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    private static final class ts_radix_histogram_f32 {
        static final MethodHandle HANDLE = LIBRARY.downcall("ts_radix_histogram_f32", FunctionDescriptor.of(JAVA_INT, JAVA_LONG, ADDRESS, JAVA_LONG, JAVA_INT, JAVA_INT, JAVA_INT, ADDRESS, ADDRESS));
    }

    /** int ts_radix_histogram_f32(int64_t n, const float *x, int64_t prefix, int prefix_bits, int digit_shift, int digit_bits, int64_t *hist, int64_t *invalid) */
    public static int ts_radix_histogram_f32(long n, MemorySegment x, long prefix, int prefix_bits, int digit_shift, int digit_bits, MemorySegment hist, MemorySegment invalid) {
        try {
            return (int) ts_radix_histogram_f32.HANDLE.invokeExact(n, x, prefix, prefix_bits, digit_shift, digit_bits, hist, invalid);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    private static final class ts_select_above_f32 {
        static final MethodHandle HANDLE = LIBRARY.downcall("ts_select_above_f32", FunctionDescriptor.of(JAVA_INT, JAVA_LONG, ADDRESS, JAVA_LONG, JAVA_LONG, JAVA_LONG, ADDRESS, ADDRESS, ADDRESS));
    }

    /** int ts_select_above_f32(int64_t n, const float *x, int64_t threshold_key, int64_t equal_quota, int64_t capacity, int64_t *indices, int32_t *keys, int64_t *counts) */
    public static int ts_select_above_f32(long n, MemorySegment x, long threshold_key, long equal_quota, long capacity, MemorySegment indices, MemorySegment keys, MemorySegment counts) {
        try {
            return (int) ts_select_above_f32.HANDLE.invokeExact(n, x, threshold_key, equal_quota, capacity, indices, keys, counts);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    private static final class ts_fisher_merge_f32 {
        static final MethodHandle HANDLE = LIBRARY.downcall("ts_fisher_merge_f32", FunctionDescriptor.of(JAVA_INT, JAVA_LONG, JAVA_INT, ADDRESS, ADDRESS, ADDRESS, ADDRESS, JAVA_FLOAT, ADDRESS));
    }

    /** int ts_fisher_merge_f32(int64_t n, int models, const float *const *thetas, const float *const *fishers, const float *weights, const float *scales, float floor_value, float *out) */
    public static int ts_fisher_merge_f32(long n, int models, MemorySegment thetas, MemorySegment fishers, MemorySegment weights, MemorySegment scales, float floor_value, MemorySegment out) {
        try {
            return (int) ts_fisher_merge_f32.HANDLE.invokeExact(n, models, thetas, fishers, weights, scales, floor_value, out);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    private static final class ts_adamw_indexed_f32 {
        static final MethodHandle HANDLE = LIBRARY.downcall("ts_adamw_indexed_f32", FunctionDescriptor.of(JAVA_INT, JAVA_LONG, ADDRESS, JAVA_INT, ADDRESS, ADDRESS, JAVA_INT, ADDRESS, ADDRESS, JAVA_FLOAT, JAVA_FLOAT, JAVA_FLOAT, JAVA_FLOAT, JAVA_FLOAT, JAVA_FLOAT, JAVA_FLOAT));
    }

    /** int ts_adamw_indexed_f32(int64_t k, const void *idx, int idx_bytes, float *p, const float *g, int g_compact, float *m, float *v, float lr, float beta1, float beta2, float eps, float weight_decay, float bias_correction1, float bias_correction2) */
    public static int ts_adamw_indexed_f32(long k, MemorySegment idx, int idx_bytes, MemorySegment p, MemorySegment g, int g_compact, MemorySegment m, MemorySegment v, float lr, float beta1, float beta2, float eps, float weight_decay, float bias_correction1, float bias_correction2) {
        try {
            return (int) ts_adamw_indexed_f32.HANDLE.invokeExact(k, idx, idx_bytes, p, g, g_compact, m, v, lr, beta1, beta2, eps, weight_decay, bias_correction1, bias_correction2);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    private static final class ts_adamw_masked_f32 {
        static final MethodHandle HANDLE = LIBRARY.downcall("ts_adamw_masked_f32", FunctionDescriptor.of(JAVA_INT, JAVA_LONG, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, JAVA_FLOAT, JAVA_FLOAT, JAVA_FLOAT, JAVA_FLOAT, JAVA_FLOAT, JAVA_FLOAT, JAVA_FLOAT));
    }

    /** int ts_adamw_masked_f32(int64_t n, const uint8_t *mask, float *p, const float *g, float *m, float *v, float lr, float beta1, float beta2, float eps, float weight_decay, float bias_correction1, float bias_correction2) */
    public static int ts_adamw_masked_f32(long n, MemorySegment mask, MemorySegment p, MemorySegment g, MemorySegment m, MemorySegment v, float lr, float beta1, float beta2, float eps, float weight_decay, float bias_correction1, float bias_correction2) {
        try {
            return (int) ts_adamw_masked_f32.HANDLE.invokeExact(n, mask, p, g, m, v, lr, beta1, beta2, eps, weight_decay, bias_correction1, bias_correction2);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    private static final class ts_sgd_indexed_f32 {
        static final MethodHandle HANDLE = LIBRARY.downcall("ts_sgd_indexed_f32", FunctionDescriptor.of(JAVA_INT, JAVA_LONG, ADDRESS, JAVA_INT, ADDRESS, ADDRESS, JAVA_INT, ADDRESS, JAVA_FLOAT, JAVA_FLOAT, JAVA_FLOAT, JAVA_FLOAT, JAVA_INT, JAVA_INT));
    }

    /** int ts_sgd_indexed_f32(int64_t k, const void *idx, int idx_bytes, float *p, const float *g, int g_compact, float *buf, float lr, float momentum, float dampening, float weight_decay, int nesterov, int first_step) */
    public static int ts_sgd_indexed_f32(long k, MemorySegment idx, int idx_bytes, MemorySegment p, MemorySegment g, int g_compact, MemorySegment buf, float lr, float momentum, float dampening, float weight_decay, int nesterov, int first_step) {
        try {
            return (int) ts_sgd_indexed_f32.HANDLE.invokeExact(k, idx, idx_bytes, p, g, g_compact, buf, lr, momentum, dampening, weight_decay, nesterov, first_step);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    private static final class ts_sgd_masked_f32 {
        static final MethodHandle HANDLE = LIBRARY.downcall("ts_sgd_masked_f32", FunctionDescriptor.of(JAVA_INT, JAVA_LONG, ADDRESS, ADDRESS, ADDRESS, ADDRESS, JAVA_FLOAT, JAVA_FLOAT, JAVA_FLOAT, JAVA_FLOAT, JAVA_INT, JAVA_INT));
    }

    /** int ts_sgd_masked_f32(int64_t n, const uint8_t *mask, float *p, const float *g, float *buf, float lr, float momentum, float dampening, float weight_decay, int nesterov, int first_step) */
    public static int ts_sgd_masked_f32(long n, MemorySegment mask, MemorySegment p, MemorySegment g, MemorySegment buf, float lr, float momentum, float dampening, float weight_decay, int nesterov, int first_step) {
        try {
            return (int) ts_sgd_masked_f32.HANDLE.invokeExact(n, mask, p, g, buf, lr, momentum, dampening, weight_decay, nesterov, first_step);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    private static final class ts_gemm_small_m_nt_f32 {
        static final MethodHandle HANDLE = LIBRARY.downcall("ts_gemm_small_m_nt_f32", FunctionDescriptor.of(JAVA_INT, JAVA_LONG, JAVA_LONG, JAVA_LONG, ADDRESS, JAVA_LONG, ADDRESS, JAVA_LONG, ADDRESS, JAVA_LONG));
    }

    /** int ts_gemm_small_m_nt_f32(int64_t m, int64_t n, int64_t k, const float *x, int64_t ldx, const float *w, int64_t ldw, float *y, int64_t ldy) */
    public static int ts_gemm_small_m_nt_f32(long m, long n, long k, MemorySegment x, long ldx, MemorySegment w, long ldw, MemorySegment y, long ldy) {
        try {
            return (int) ts_gemm_small_m_nt_f32.HANDLE.invokeExact(m, n, k, x, ldx, w, ldw, y, ldy);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    private static final class ts_gemm_panels_f32 {
        static final MethodHandle HANDLE = LIBRARY.downcall("ts_gemm_panels_f32", FunctionDescriptor.of(JAVA_INT, JAVA_LONG, JAVA_LONG, JAVA_LONG, ADDRESS, JAVA_LONG, ADDRESS, JAVA_LONG, JAVA_INT, ADDRESS, JAVA_LONG));
    }

    /** int ts_gemm_panels_f32(int64_t m, int64_t n, int64_t k, const float *x, int64_t ldx, const float *w, int64_t ldw, int input_major, float *y, int64_t ldy) */
    public static int ts_gemm_panels_f32(long m, long n, long k, MemorySegment x, long ldx, MemorySegment w, long ldw, int input_major, MemorySegment y, long ldy) {
        try {
            return (int) ts_gemm_panels_f32.HANDLE.invokeExact(m, n, k, x, ldx, w, ldw, input_major, y, ldy);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    private static final class ts_gemm_panels_bf16_f32 {
        static final MethodHandle HANDLE = LIBRARY.downcall("ts_gemm_panels_bf16_f32", FunctionDescriptor.of(JAVA_INT, JAVA_LONG, JAVA_LONG, JAVA_LONG, ADDRESS, JAVA_LONG, ADDRESS, JAVA_LONG, JAVA_INT, ADDRESS, JAVA_LONG));
    }

    /** int ts_gemm_panels_bf16_f32(int64_t m, int64_t n, int64_t k, const float *x, int64_t ldx, const uint16_t *w, int64_t ldw, int input_major, float *y, int64_t ldy) */
    public static int ts_gemm_panels_bf16_f32(long m, long n, long k, MemorySegment x, long ldx, MemorySegment w, long ldw, int input_major, MemorySegment y, long ldy) {
        try {
            return (int) ts_gemm_panels_bf16_f32.HANDLE.invokeExact(m, n, k, x, ldx, w, ldw, input_major, y, ldy);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    private static final class ts_gemm_panels_f16_f32 {
        static final MethodHandle HANDLE = LIBRARY.downcall("ts_gemm_panels_f16_f32", FunctionDescriptor.of(JAVA_INT, JAVA_LONG, JAVA_LONG, JAVA_LONG, ADDRESS, JAVA_LONG, ADDRESS, JAVA_LONG, JAVA_INT, ADDRESS, JAVA_LONG));
    }

    /** int ts_gemm_panels_f16_f32(int64_t m, int64_t n, int64_t k, const float *x, int64_t ldx, const uint16_t *w, int64_t ldw, int input_major, float *y, int64_t ldy) */
    public static int ts_gemm_panels_f16_f32(long m, long n, long k, MemorySegment x, long ldx, MemorySegment w, long ldw, int input_major, MemorySegment y, long ldy) {
        try {
            return (int) ts_gemm_panels_f16_f32.HANDLE.invokeExact(m, n, k, x, ldx, w, ldw, input_major, y, ldy);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    private static final class ts_gemm_panels_bf16_rounded_f32 {
        static final MethodHandle HANDLE = LIBRARY.downcall("ts_gemm_panels_bf16_rounded_f32", FunctionDescriptor.of(JAVA_INT, JAVA_LONG, JAVA_LONG, JAVA_LONG, ADDRESS, JAVA_LONG, ADDRESS, JAVA_LONG, JAVA_INT, ADDRESS, JAVA_LONG));
    }

    /** int ts_gemm_panels_bf16_rounded_f32(int64_t m, int64_t n, int64_t k, const float *x, int64_t ldx, const uint16_t *w, int64_t ldw, int input_major, float *y, int64_t ldy) */
    public static int ts_gemm_panels_bf16_rounded_f32(long m, long n, long k, MemorySegment x, long ldx, MemorySegment w, long ldw, int input_major, MemorySegment y, long ldy) {
        try {
            return (int) ts_gemm_panels_bf16_rounded_f32.HANDLE.invokeExact(m, n, k, x, ldx, w, ldw, input_major, y, ldy);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    private static final class ts_gemv_f32 {
        static final MethodHandle HANDLE = LIBRARY.downcall("ts_gemv_f32", FunctionDescriptor.of(JAVA_INT, JAVA_LONG, JAVA_LONG, JAVA_LONG, ADDRESS, JAVA_LONG, ADDRESS, JAVA_LONG, JAVA_INT, ADDRESS, JAVA_LONG));
    }

    /** int ts_gemv_f32(int64_t m, int64_t n, int64_t k, const float *x, int64_t ldx, const float *w, int64_t ldw, int input_major, float *y, int64_t ldy) */
    public static int ts_gemv_f32(long m, long n, long k, MemorySegment x, long ldx, MemorySegment w, long ldw, int input_major, MemorySegment y, long ldy) {
        try {
            return (int) ts_gemv_f32.HANDLE.invokeExact(m, n, k, x, ldx, w, ldw, input_major, y, ldy);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    private static final class ts_gemv_bf16 {
        static final MethodHandle HANDLE = LIBRARY.downcall("ts_gemv_bf16", FunctionDescriptor.of(JAVA_INT, JAVA_LONG, JAVA_LONG, JAVA_LONG, ADDRESS, JAVA_LONG, ADDRESS, JAVA_LONG, JAVA_INT, ADDRESS, JAVA_LONG));
    }

    /** int ts_gemv_bf16(int64_t m, int64_t n, int64_t k, const float *x, int64_t ldx, const uint16_t *w, int64_t ldw, int input_major, float *y, int64_t ldy) */
    public static int ts_gemv_bf16(long m, long n, long k, MemorySegment x, long ldx, MemorySegment w, long ldw, int input_major, MemorySegment y, long ldy) {
        try {
            return (int) ts_gemv_bf16.HANDLE.invokeExact(m, n, k, x, ldx, w, ldw, input_major, y, ldy);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    private static final class ts_gemv_f16 {
        static final MethodHandle HANDLE = LIBRARY.downcall("ts_gemv_f16", FunctionDescriptor.of(JAVA_INT, JAVA_LONG, JAVA_LONG, JAVA_LONG, ADDRESS, JAVA_LONG, ADDRESS, JAVA_LONG, JAVA_INT, ADDRESS, JAVA_LONG));
    }

    /** int ts_gemv_f16(int64_t m, int64_t n, int64_t k, const float *x, int64_t ldx, const uint16_t *w, int64_t ldw, int input_major, float *y, int64_t ldy) */
    public static int ts_gemv_f16(long m, long n, long k, MemorySegment x, long ldx, MemorySegment w, long ldw, int input_major, MemorySegment y, long ldy) {
        try {
            return (int) ts_gemv_f16.HANDLE.invokeExact(m, n, k, x, ldx, w, ldw, input_major, y, ldy);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    private static final class ts_sampled_matmul_f32 {
        static final MethodHandle HANDLE = LIBRARY.downcall("ts_sampled_matmul_f32", FunctionDescriptor.of(JAVA_INT, JAVA_LONG, JAVA_LONG, JAVA_LONG, ADDRESS, ADDRESS, JAVA_LONG, ADDRESS, JAVA_INT, ADDRESS));
    }

    /** int ts_sampled_matmul_f32(int64_t r, int64_t m, int64_t n, const float *a, const float *b, int64_t k, const void *idx, int idx_bytes, float *y) */
    public static int ts_sampled_matmul_f32(long r, long m, long n, MemorySegment a, MemorySegment b, long k, MemorySegment idx, int idx_bytes, MemorySegment y) {
        try {
            return (int) ts_sampled_matmul_f32.HANDLE.invokeExact(r, m, n, a, b, k, idx, idx_bytes, y);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    private static final class ts_quantize_blockwise_q8 {
        static final MethodHandle HANDLE = LIBRARY.downcall("ts_quantize_blockwise_q8", FunctionDescriptor.of(JAVA_INT, JAVA_LONG, JAVA_LONG, ADDRESS, ADDRESS, ADDRESS));
    }

    /** int ts_quantize_blockwise_q8(int64_t n, int64_t block, const float *x, int8_t *q, float *scales) */
    public static int ts_quantize_blockwise_q8(long n, long block, MemorySegment x, MemorySegment q, MemorySegment scales) {
        try {
            return (int) ts_quantize_blockwise_q8.HANDLE.invokeExact(n, block, x, q, scales);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    private static final class ts_dequantize_blockwise_q8 {
        static final MethodHandle HANDLE = LIBRARY.downcall("ts_dequantize_blockwise_q8", FunctionDescriptor.of(JAVA_INT, JAVA_LONG, JAVA_LONG, ADDRESS, ADDRESS, ADDRESS));
    }

    /** int ts_dequantize_blockwise_q8(int64_t n, int64_t block, const int8_t *q, const float *scales, float *y) */
    public static int ts_dequantize_blockwise_q8(long n, long block, MemorySegment q, MemorySegment scales, MemorySegment y) {
        try {
            return (int) ts_dequantize_blockwise_q8.HANDLE.invokeExact(n, block, q, scales, y);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    private static final class ts_q8_outlier_columns {
        static final MethodHandle HANDLE = LIBRARY.downcall("ts_q8_outlier_columns", FunctionDescriptor.of(JAVA_INT, JAVA_LONG, JAVA_LONG, ADDRESS, JAVA_LONG, JAVA_FLOAT, ADDRESS));
    }

    /** int ts_q8_outlier_columns(int64_t rows, int64_t cols, const float *x, int64_t ldx, float threshold, uint8_t *flags) */
    public static int ts_q8_outlier_columns(long rows, long cols, MemorySegment x, long ldx, float threshold, MemorySegment flags) {
        try {
            return (int) ts_q8_outlier_columns.HANDLE.invokeExact(rows, cols, x, ldx, threshold, flags);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    private static final class ts_quantize_rows_q8 {
        static final MethodHandle HANDLE = LIBRARY.downcall("ts_quantize_rows_q8", FunctionDescriptor.of(JAVA_INT, JAVA_LONG, JAVA_LONG, ADDRESS, JAVA_LONG, ADDRESS, ADDRESS, ADDRESS));
    }

    /** int ts_quantize_rows_q8(int64_t rows, int64_t cols, const float *x, int64_t ldx, const uint8_t *exclude, int8_t *q, float *scales) */
    public static int ts_quantize_rows_q8(long rows, long cols, MemorySegment x, long ldx, MemorySegment exclude, MemorySegment q, MemorySegment scales) {
        try {
            return (int) ts_quantize_rows_q8.HANDLE.invokeExact(rows, cols, x, ldx, exclude, q, scales);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    private static final class ts_quantize_rows_bf16_q8 {
        static final MethodHandle HANDLE = LIBRARY.downcall("ts_quantize_rows_bf16_q8", FunctionDescriptor.of(JAVA_INT, JAVA_LONG, JAVA_LONG, ADDRESS, JAVA_LONG, ADDRESS, ADDRESS, ADDRESS));
    }

    /** int ts_quantize_rows_bf16_q8(int64_t rows, int64_t cols, const uint16_t *x, int64_t ldx, const uint8_t *exclude, int8_t *q, float *scales) */
    public static int ts_quantize_rows_bf16_q8(long rows, long cols, MemorySegment x, long ldx, MemorySegment exclude, MemorySegment q, MemorySegment scales) {
        try {
            return (int) ts_quantize_rows_bf16_q8.HANDLE.invokeExact(rows, cols, x, ldx, exclude, q, scales);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    private static final class ts_quantize_rows_f16_q8 {
        static final MethodHandle HANDLE = LIBRARY.downcall("ts_quantize_rows_f16_q8", FunctionDescriptor.of(JAVA_INT, JAVA_LONG, JAVA_LONG, ADDRESS, JAVA_LONG, ADDRESS, ADDRESS, ADDRESS));
    }

    /** int ts_quantize_rows_f16_q8(int64_t rows, int64_t cols, const uint16_t *x, int64_t ldx, const uint8_t *exclude, int8_t *q, float *scales) */
    public static int ts_quantize_rows_f16_q8(long rows, long cols, MemorySegment x, long ldx, MemorySegment exclude, MemorySegment q, MemorySegment scales) {
        try {
            return (int) ts_quantize_rows_f16_q8.HANDLE.invokeExact(rows, cols, x, ldx, exclude, q, scales);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    private static final class ts_gemm_q8_f32 {
        static final MethodHandle HANDLE = LIBRARY.downcall("ts_gemm_q8_f32", FunctionDescriptor.of(JAVA_INT, JAVA_LONG, JAVA_LONG, JAVA_LONG, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, JAVA_LONG));
    }

    /** int ts_gemm_q8_f32(int64_t m, int64_t n, int64_t k, const int8_t *xq, const float *xs, const int8_t *wq, const float *ws, const float *bias, float *y, int64_t ldy) */
    public static int ts_gemm_q8_f32(long m, long n, long k, MemorySegment xq, MemorySegment xs, MemorySegment wq, MemorySegment ws, MemorySegment bias, MemorySegment y, long ldy) {
        try {
            return (int) ts_gemm_q8_f32.HANDLE.invokeExact(m, n, k, xq, xs, wq, ws, bias, y, ldy);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    private static final class ts_gemm_q8_outliers_f32 {
        static final MethodHandle HANDLE = LIBRARY.downcall("ts_gemm_q8_outliers_f32", FunctionDescriptor.of(JAVA_INT, JAVA_LONG, JAVA_LONG, JAVA_LONG, ADDRESS, JAVA_LONG, ADDRESS, JAVA_LONG, ADDRESS, ADDRESS, ADDRESS, JAVA_LONG));
    }

    /** int ts_gemm_q8_outliers_f32(int64_t m, int64_t n, int64_t k, const float *x, int64_t ldx, const int64_t *cols, int64_t ncols, const int8_t *wq, const float *ws, float *y, int64_t ldy) */
    public static int ts_gemm_q8_outliers_f32(long m, long n, long k, MemorySegment x, long ldx, MemorySegment cols, long ncols, MemorySegment wq, MemorySegment ws, MemorySegment y, long ldy) {
        try {
            return (int) ts_gemm_q8_outliers_f32.HANDLE.invokeExact(m, n, k, x, ldx, cols, ncols, wq, ws, y, ldy);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    private static final class ts_amx_enabled {
        static final MethodHandle HANDLE = LIBRARY.downcall("ts_amx_enabled", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS));
    }

    /** int ts_amx_enabled(int *int8, int *bf16) */
    public static int ts_amx_enabled(MemorySegment int8, MemorySegment bf16) {
        try {
            return (int) ts_amx_enabled.HANDLE.invokeExact(int8, bf16);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    private static final class ts_bf16_dot_enabled {
        static final MethodHandle HANDLE = LIBRARY.downcall("ts_bf16_dot_enabled", FunctionDescriptor.of(JAVA_INT, ADDRESS));
    }

    /** int ts_bf16_dot_enabled(int *on) */
    public static int ts_bf16_dot_enabled(MemorySegment on) {
        try {
            return (int) ts_bf16_dot_enabled.HANDLE.invokeExact(on);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    private static final class ts_gemm_bf16_f32 {
        static final MethodHandle HANDLE = LIBRARY.downcall("ts_gemm_bf16_f32", FunctionDescriptor.of(JAVA_INT, JAVA_LONG, JAVA_LONG, JAVA_LONG, ADDRESS, ADDRESS, ADDRESS));
    }

    /** int ts_gemm_bf16_f32(int64_t m, int64_t n, int64_t k, const float *x, const uint16_t *w, float *y) */
    public static int ts_gemm_bf16_f32(long m, long n, long k, MemorySegment x, MemorySegment w, MemorySegment y) {
        try {
            return (int) ts_gemm_bf16_f32.HANDLE.invokeExact(m, n, k, x, w, y);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    private static final class ts_struct_layout {
        static final MethodHandle HANDLE = LIBRARY.downcall("ts_struct_layout", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS));
    }

    /** int ts_struct_layout(const char *name, int64_t *bytes) */
    public static int ts_struct_layout(MemorySegment name, MemorySegment bytes) {
        try {
            return (int) ts_struct_layout.HANDLE.invokeExact(name, bytes);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }
    // ---- end of generated bindings ----
}
