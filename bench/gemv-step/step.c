/* The matrix-vector products of one decoding step of a model shape, nothing else, through gemv.c (f32, bf16, f16) or
 * gemm_q8.c (int8) as built with this file (bench/gemv-step/run builds it once per variant of their tunables), each
 * step alternated with a 1 GiB sum on the same threads: how close the products come to the machine's read rate,
 * without the rest of a step (attention, norms, Java) and with the machine's bandwidth phase measured next to them.
 *   step SHAPE DTYPE ROUNDS LABEL [ROWS]   SHAPE: tinyllama, tinyllama-fused (q/k/v and gate/up as two products) or
 *                                          gpt2 (output-major, as Tessera reads them); DTYPE: f32, f32-small
 *                                          (gemm_small.c), bf16, f16 or int8 (codes of x and W, as QuantizedLinear
 *                                          passes them); ROWS: rows of x (1-MAX_ROWS,
 *                                          default 1: batched decoding reads W once for all of them)
 * Prints one line: the best step's time and read rate, the best sum's rate, and their ratio. Weights are random
 * finite values (the products' speed does not depend on them). */
#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#define MAX_ROWS 128
/* Bytes past a 64-byte boundary where every matrix starts (a variant's -DW_OFFSET=N): a tensor mapped from a safetensors
 * file starts wherever the file puts it (the data after an 8-byte-aligned header, so often not on a cache line). */
#ifndef W_OFFSET
#define W_OFFSET 0
#endif
/* -DHUGE_PAGES=1: the weights and the summed GiB on transparent huge pages (madvise), as Tessera's own large blocks
 * (HostBlockCache) are; by default 4 KiB pages, as a mapped checkpoint's usually are. */
#ifndef HUGE_PAGES
#define HUGE_PAGES 0
#endif

/* size bytes, 64-byte aligned; with HUGE_PAGES whole 2 MiB pages advised onto transparent huge pages. */
static void *allocate(size_t size) {
    if (!HUGE_PAGES) return aligned_alloc(64, size);
    const size_t page = 2u << 20, whole = (size + page - 1) / page * page;
    void *block = aligned_alloc(page, whole);
    if (block) madvise(block, whole, MADV_HUGEPAGE);
    return block;
}

int ts_gemv_f32_avx512(int64_t m, int64_t n, int64_t k, const float *x, int64_t ldx, const float *w, int64_t ldw,
                       int input_major, float *y, int64_t ldy);
int ts_gemv_bf16_avx512(int64_t m, int64_t n, int64_t k, const float *x, int64_t ldx, const uint16_t *w, int64_t ldw,
                        int input_major, float *y, int64_t ldy);
int ts_gemv_f16_avx512(int64_t m, int64_t n, int64_t k, const float *x, int64_t ldx, const uint16_t *w, int64_t ldw,
                       int input_major, float *y, int64_t ldy);
int ts_gemm_small_m_nt_f32_avx512(int64_t m, int64_t n, int64_t k, const float *x, int64_t ldx, const float *w,
                                   int64_t ldw, float *y, int64_t ldy);
int ts_gemm_q8_f32_avx512(int64_t m, int64_t n, int64_t k, const int8_t *xq, const float *xs, const int8_t *wq,
                          const float *ws, const float *bias, float *y, int64_t ldy);

typedef struct { int64_t n, k; } shape;
/* A layer's products in order, then the LM head (the model's last matrix). */
static const shape TINYLLAMA[] = {{2048, 2048}, {256, 2048}, {256, 2048}, {2048, 2048}, {5632, 2048}, {5632, 2048},
                                  {2048, 5632}, {32000, 2048}};
static const shape TINYLLAMA_FUSED[] = {{2560, 2048}, {2048, 2048}, {11264, 2048}, {2048, 5632}, {32000, 2048}};
static const shape GPT2[] = {{2304, 768}, {768, 768}, {3072, 768}, {768, 3072}, {50257, 768}};

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

int main(int argc, char **argv) {
    const int shape_arg = argc != 5 && argc != 6 ? -1 : !strcmp(argv[1], "tinyllama") ? 0
                          : !strcmp(argv[1], "tinyllama-fused") ? 1 : !strcmp(argv[1], "gpt2") ? 2 : -1;
    const int rows = argc == 6 ? atoi(argv[5]) : 1;
    if (shape_arg < 0 || (strcmp(argv[2], "f32") && strcmp(argv[2], "f32-small") && strcmp(argv[2], "bf16")
                                                          && strcmp(argv[2], "f16") && strcmp(argv[2], "int8")) || rows < 1
        || rows > MAX_ROWS) {
        fprintf(stderr, "usage: step tinyllama|tinyllama-fused|gpt2 f32|f32-small|bf16|f16|int8 ROUNDS LABEL [ROWS 1-%d]\n", MAX_ROWS);
        return 2;
    }
    const int bf16 = !strcmp(argv[2], "bf16"), f16 = !strcmp(argv[2], "f16"), int8 = !strcmp(argv[2], "int8");
    const int small = !strcmp(argv[2], "f32-small");
    const int rounds = atoi(argv[3]);
    const shape *layer = (const shape *[]){TINYLLAMA, TINYLLAMA_FUSED, GPT2}[shape_arg];
    const int per_layer = (const int[]){7, 4, 4}[shape_arg], layers = shape_arg == 2 ? 12 : 22;
    const int matrices = layers * per_layer + 1;
    const size_t element = bf16 || f16 ? sizeof(uint16_t) : int8 ? sizeof(int8_t) : sizeof(float);
    void **w = malloc((size_t)matrices * sizeof *w);
    shape *shapes = malloc((size_t)matrices * sizeof *shapes);
    double bytes = 0;
    uint32_t seed = 12345;
    for (int i = 0; i < matrices; i++) {
        shapes[i] = i == matrices - 1 ? layer[per_layer] : layer[i % per_layer];
        const int64_t elements = shapes[i].n * shapes[i].k;
        char *block = allocate((size_t)elements * element + 64);
        if (!block) { fprintf(stderr, "step: out of memory\n"); return 1; }
        w[i] = block + W_OFFSET;
        for (int64_t e = 0; e < elements; e++) {
            seed = seed * 1664525u + 1013904223u;
            const uint16_t high = (uint16_t)(0x3c00 | (seed >> 24) | (seed >> 31 << 15)); /* |value| in [2^-7, 2^-6) */
            if (bf16) ((uint16_t *)w[i])[e] = high;
            else if (f16) ((uint16_t *)w[i])[e] = (uint16_t)(0x2000 | (seed >> 22 & 0x3ff) | (seed >> 31 << 15)); /* the same range */
            else if (int8) ((int8_t *)w[i])[e] = (int8_t)(seed >> 24);
            else ((uint32_t *)w[i])[e] = (uint32_t)high << 16 | (seed & 0xffff);
        }
        bytes += (double)elements * (double)element;
    }
    float *x = aligned_alloc(64, (size_t)rows * 5632 * sizeof(float)), *y = aligned_alloc(64, (size_t)rows * 50304 * sizeof(float));
    int8_t *xq = aligned_alloc(64, (size_t)rows * 5632);
    float *scales = aligned_alloc(64, 50304 * sizeof(float)); /* per row of x, per channel of W */
    for (int i = 0; i < rows * 5632; i++) x[i] = (float)(i % 7) * 0.1f, xq[i] = (int8_t)(i % 7 * 9 - 27);
    for (int i = 0; i < 50304; i++) scales[i] = 0.01f;
    const int64_t sum_n = (1LL << 30) / (int64_t)sizeof(float);
    float *big = allocate((size_t)sum_n * sizeof(float));
    for (int64_t i = 0; i < sum_n; i++) big[i] = (float)(i & 3);
    double best_step = 1e30, best_sum = 1e30;
    volatile float sink = 0;
    for (int r = 0; r < rounds; r++) {
        const double t0 = now();
        for (int i = 0; i < matrices; i++) {
            const int64_t n = shapes[i].n, k = shapes[i].k;
            if (bf16) ts_gemv_bf16_avx512(rows, n, k, x, k, w[i], k, 0, y, n);
            else if (f16) ts_gemv_f16_avx512(rows, n, k, x, k, w[i], k, 0, y, n);
            else if (int8) ts_gemm_q8_f32_avx512(rows, n, k, xq, scales, w[i], scales, NULL, y, n);
            else if (small) ts_gemm_small_m_nt_f32_avx512(rows, n, k, x, k, w[i], k, y, n);
            else ts_gemv_f32_avx512(rows, n, k, x, k, w[i], k, 0, y, n);
        }
        const double t1 = now();
        float acc = 0;
#pragma omp parallel for simd reduction(+ : acc)
        for (int64_t i = 0; i < sum_n; i++) acc += big[i];
        const double t2 = now();
        sink += acc;
        if (t1 - t0 < best_step) best_step = t1 - t0;
        if (t2 - t1 < best_sum) best_sum = t2 - t1;
    }
    const double step_rate = bytes / best_step, sum_rate = (double)sum_n * sizeof(float) / best_sum;
    printf("%-24s %s %s, %d row%s: %.2f GB of weights, step %.1f ms (%.1f GB/s), 1 GiB sum %.1f GB/s, step / sum %.2f\n",
           argv[4], argv[1], argv[2], rows, rows > 1 ? "s" : "", bytes / 1e9, best_step * 1e3, step_rate / 1e9,
           sum_rate / 1e9, step_rate / sum_rate);
    return 0;
}
