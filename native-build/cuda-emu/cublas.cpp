// cuBLAS's GEMM subset, forwarded to OpenBLAS's cblas_sgemm (column-major, like cuBLAS) as work on the
// handle's stream (streams.cpp; alpha and beta are read at the call, host pointer mode). Only float32
// operands are emulated; other types are CUBLAS_STATUS_NOT_SUPPORTED.
//
// OpenBLAS is found with dlopen("libopenblas.so.0"). glibc first matches that name against the SONAME of
// the libraries already loaded, so this is the copy Java extracted from the bytedeco jar and loaded
// (io.tessera.ffi.Cblas; callers load it first, as the tests do): one OpenBLAS and one thread pool per
// process. FFM loads libraries RTLD_LOCAL, which is why dlsym(RTLD_DEFAULT, ...) would not find it.
// Failing that, a system libopenblas.so.0 is used; with neither, cublasCreate_v2 says NOT_INITIALIZED.
#include <dlfcn.h>

#include <cstdio>

#include "emu.h"

using namespace ts_emu;

namespace {

// cublasStatus_t values the emulator returns.
enum BlasStatus : int {
    BLAS_OK = 0,
    BLAS_NOT_INITIALIZED = 1,
    BLAS_INVALID = 7,
    BLAS_EXECUTION_FAILED = 13,
    BLAS_NOT_SUPPORTED = 15,
};

struct Name {
    int status;
    const char *name, *text;
};
const Name names[] = {
    {0, "CUBLAS_STATUS_SUCCESS", "success"},
    {1, "CUBLAS_STATUS_NOT_INITIALIZED", "the library was not initialized"},
    {3, "CUBLAS_STATUS_ALLOC_FAILED", "the resource allocation failed"},
    {7, "CUBLAS_STATUS_INVALID_VALUE", "an invalid numeric value was used as an argument"},
    {8, "CUBLAS_STATUS_ARCH_MISMATCH", "an absent device architectural feature is required"},
    {11, "CUBLAS_STATUS_MAPPING_ERROR", "an access to GPU memory space failed"},
    {13, "CUBLAS_STATUS_EXECUTION_FAILED", "the GPU program failed to execute"},
    {14, "CUBLAS_STATUS_INTERNAL_ERROR", "an internal operation failed"},
    {15, "CUBLAS_STATUS_NOT_SUPPORTED", "the functionality requested is not supported"},
    {16, "CUBLAS_STATUS_LICENSE_ERROR", "error detected trying to check the license"},
};

constexpr int CUDA_R_32F = 0;
// cublasComputeType_t values that allow a plain float32 computation: 32F, 32F_PEDANTIC, and the
// 32F_FAST_* modes (which permit, not require, lower internal precision).
constexpr int FLOAT_COMPUTE[] = {68, 69, 74, 75, 77};

using SgemmFn = void (*)(int order, int transa, int transb, int m, int n, int k, float alpha, const float *a, int lda,
                         const float *b, int ldb, float beta, float *c, int ldc);
SgemmFn sgemm;

struct BlasHandle {
    void *stream = nullptr;
};
std::unordered_set<const void *> handles;

bool load_openblas() {
    if (sgemm == nullptr) {
        void *lib = dlopen("libopenblas.so.0", RTLD_NOW | RTLD_LOCAL);
        if (lib != nullptr) sgemm = reinterpret_cast<SgemmFn>(dlsym(lib, "cblas_sgemm"));
        if (sgemm == nullptr) std::fprintf(stderr, "tessera cuda-emu: cuBLAS needs OpenBLAS (libopenblas.so.0): %s\n", dlerror());
    }
    return sgemm != nullptr;
}

// Columns-by-leading-dimension extent of a column-major rows x cols operand, in bytes.
uint64_t extent(int rows, int cols, int ld) {
    return (static_cast<uint64_t>(cols - 1) * static_cast<uint64_t>(ld) + static_cast<uint64_t>(rows)) * sizeof(float);
}

int gemm(const void *handle, int transa, int transb, int m, int n, int k, const float *alpha, const float *a, int lda,
         const float *b, int ldb, const float *beta, float *c, int ldc) {
    if (handles.count(handle) == 0) return BLAS_NOT_INITIALIZED;
    if (transa < 0 || transa > 2 || transb < 0 || transb > 2) return BLAS_INVALID;  // N, T, C (= T for real types)
    const int a_rows = transa == 0 ? m : k, a_cols = transa == 0 ? k : m;
    const int b_rows = transb == 0 ? k : n, b_cols = transb == 0 ? n : k;
    if (m < 0 || n < 0 || k < 0 || lda < (a_rows > 1 ? a_rows : 1) || ldb < (b_rows > 1 ? b_rows : 1) || ldc < (m > 1 ? m : 1))
        return BLAS_INVALID;
    if (alpha == nullptr || beta == nullptr) return BLAS_INVALID;
    Context *ctx;
    if (current(&ctx) != SUCCESS) return BLAS_EXECUTION_FAILED;
    Stream *stream = find_stream(ctx, static_cast<const BlasHandle *>(handle)->stream);
    if (stream == nullptr) return BLAS_EXECUTION_FAILED;  // the handle's stream was destroyed
    if (m == 0 || n == 0) return BLAS_OK;
    const auto device = [](const void *p) { return reinterpret_cast<uint64_t>(p); };
    const auto valid = [ctx, device](const void *p, uint64_t bytes) { return mem_valid(ctx, device(p), bytes); };
    const bool inside = (k == 0 || (valid(a, extent(a_rows, a_cols, lda)) && valid(b, extent(b_rows, b_cols, ldb)))) &&
                        valid(c, extent(m, n, ldc));
    if (!inside) {  // on a GPU, the kernel's illegal address
        std::fprintf(stderr, "tessera cuda-emu: cuBLAS GEMM: an operand reaches outside its device allocation in the current context\n");
        make_sticky(ctx, ILLEGAL_ADDRESS);
        return BLAS_EXECUTION_FAILED;
    }
    enqueue(ctx, stream, [=, alpha = *alpha, beta = *beta] {
        sgemm(102 /* CblasColMajor */, transa == 0 ? 111 : 112, transb == 0 ? 111 : 112, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
        return SUCCESS;
    });
    return BLAS_OK;
}

}  // namespace

EMU_API int cublasCreate_v2(void **handle) {
    std::lock_guard lock(api_mutex);
    Context *ctx;
    if (handle == nullptr) return BLAS_INVALID;
    if (current(&ctx) != SUCCESS || !load_openblas()) return BLAS_NOT_INITIALIZED;
    BlasHandle *h = new BlasHandle{};
    handles.insert(h);
    *handle = h;
    return BLAS_OK;
}

EMU_API int cublasDestroy_v2(void *handle) {
    std::lock_guard lock(api_mutex);
    if (handles.erase(handle) == 0) return BLAS_NOT_INITIALIZED;
    delete static_cast<BlasHandle *>(handle);
    return BLAS_OK;
}

EMU_API int cublasGetVersion_v2(void *handle, int *version) {
    std::lock_guard lock(api_mutex);
    if (handles.count(handle) == 0) return BLAS_NOT_INITIALIZED;
    if (version == nullptr) return BLAS_INVALID;
    *version = 130000;  // the API level the emulator follows (cuBLAS 13.0)
    return BLAS_OK;
}

EMU_API int cublasSetStream_v2(void *handle, void *stream) {
    std::lock_guard lock(api_mutex);
    if (handles.count(handle) == 0) return BLAS_NOT_INITIALIZED;
    Context *ctx;
    if (current(&ctx) != SUCCESS || find_stream(ctx, stream) == nullptr) return BLAS_INVALID;
    static_cast<BlasHandle *>(handle)->stream = stream;
    return BLAS_OK;
}

EMU_API int cublasSetMathMode(void *handle, int mode) {
    std::lock_guard lock(api_mutex);
    if (handles.count(handle) == 0) return BLAS_NOT_INITIALIZED;
    const int base = mode & ~16;  // CUBLAS_MATH_DISALLOW_REDUCED_PRECISION_REDUCTION may be or-ed in
    return base >= 0 && base <= 3 ? BLAS_OK : BLAS_INVALID;  // DEFAULT, TENSOR_OP, PEDANTIC, TF32_TENSOR_OP
}

EMU_API int cublasSgemm_v2(void *handle, int transa, int transb, int m, int n, int k, const float *alpha, const float *a,
                           int lda, const float *b, int ldb, const float *beta, float *c, int ldc) {
    std::lock_guard lock(api_mutex);
    return gemm(handle, transa, transb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

EMU_API int cublasGemmEx(void *handle, int transa, int transb, int m, int n, int k, const void *alpha, const void *a,
                         int a_type, int lda, const void *b, int b_type, int ldb, const void *beta, void *c, int c_type,
                         int ldc, int compute_type, int /* algo: any is fine */) {
    std::lock_guard lock(api_mutex);
    bool float_compute = false;
    for (int t : FLOAT_COMPUTE) float_compute |= compute_type == t;
    if (a_type != CUDA_R_32F || b_type != CUDA_R_32F || c_type != CUDA_R_32F || !float_compute) return BLAS_NOT_SUPPORTED;
    return gemm(handle, transa, transb, m, n, k, static_cast<const float *>(alpha), static_cast<const float *>(a), lda,
                static_cast<const float *>(b), ldb, static_cast<const float *>(beta), static_cast<float *>(c), ldc);
}

EMU_API const char *cublasGetStatusName(int status) {
    for (const Name &n : names)
        if (n.status == status) return n.name;
    return nullptr;
}

EMU_API const char *cublasGetStatusString(int status) {
    for (const Name &n : names)
        if (n.status == status) return n.text;
    return nullptr;
}
