// Solves a x = b for symmetric positive definite a [n, n] and b [n, k], row-major, in place as LAPACK's
// sposv with uplo = U (what the CPU backend calls): a's upper triangle becomes U with a = U^T U (the
// strict lower triangle is not touched), b becomes x. One block does everything, column by column, with
// __syncthreads between steps: a plain right-looking factorisation, then the two triangular solves, each
// step's independent updates spread over the block's threads. *info = 0, or j + 1 when the leading minor
// of order j + 1 is not positive definite (as LAPACK's info; a and b are then partly overwritten).
#include <stdint.h>

#include <math.h>

// Right-looking Cholesky: for each j, U[j, j] = sqrt(a[j, j]), U[j, j+1:] = a[j, j+1:] / U[j, j], then the
// trailing upper triangle loses the outer product of that row with itself. Returns 0 or LAPACK's info.
__device__ static int ts_cholesky_upper(int64_t n, float *a) {
    __shared__ int info;
    for (int64_t j = 0; j < n; j++) {
        float *row = a + j * n;
        const float d = row[j];
        if (threadIdx.x == 0) info = d > 0.0f ? 0 : (int)(j + 1);  // also catches NaN
        __syncthreads();
        if (info != 0) return info;  // every thread read the same info, so all leave together
        const float u = sqrtf(d);
        __syncthreads();  // every thread has read row[j] before it changes
        if (threadIdx.x == 0) row[j] = u;
        for (int64_t c = j + 1 + threadIdx.x; c < n; c += blockDim.x) row[c] /= u;
        __syncthreads();
        const int64_t m = n - j - 1;
        for (int64_t p = threadIdx.x; p < m * m; p += blockDim.x) {
            const int64_t r = j + 1 + p / m, c = j + 1 + p % m;
            if (c >= r) a[r * n + c] -= row[r] * row[c];
        }
        __syncthreads();
    }
    return 0;
}

// b = U^-1 U^-T b: forward substitution with U^T (row i of the result is final once the rows above have
// been subtracted from it), then back substitution with U, over all k columns at once.
__device__ static void ts_cholesky_solve(int64_t n, int64_t k, const float *u, float *b) {
    for (int64_t i = 0; i < n; i++) {
        for (int64_t c = threadIdx.x; c < k; c += blockDim.x) b[i * k + c] /= u[i * n + i];
        __syncthreads();
        for (int64_t p = threadIdx.x; p < (n - i - 1) * k; p += blockDim.x) {
            const int64_t r = i + 1 + p / k, c = p % k;
            b[r * k + c] -= u[i * n + r] * b[i * k + c];
        }
        __syncthreads();
    }
    for (int64_t i = n - 1; i >= 0; i--) {
        for (int64_t c = threadIdx.x; c < k; c += blockDim.x) b[i * k + c] /= u[i * n + i];
        __syncthreads();
        for (int64_t p = threadIdx.x; p < i * k; p += blockDim.x) {
            const int64_t r = p / k, c = p % k;
            b[r * k + c] -= u[r * n + i] * b[i * k + c];
        }
        __syncthreads();
    }
}

// Launch with one block.
extern "C" __global__ void ts_solve_positive_definite_f32(int64_t n, int64_t k, float *a, float *b, int *info) {
    const int status = ts_cholesky_upper(n, a);
    if (threadIdx.x == 0) *info = status;
    if (status == 0) ts_cholesky_solve(n, k, a, b);
}
