// cuBLASLt's matmul subset, computed on the CPU as work on the call's stream (streams.cpp; alpha and beta are
// read at the call, host pointer mode): int8 x int8 -> int32 with int32 compute and scale (exact), and
// BF16 / F16 / F32 operands with float32 compute and scale (each product summed in float32 as a GPU's
// accumulator does, the result rounded once to D's type by ts_convert.h's rules).
//
// It is as strict as the library where a GPU would refuse: int8 needs IMMA's regular-order conditions
// (A transposed, B not, "TN"; leading dimensions multiples of 4; 4-byte aligned pointers), and any other
// combination of types is CUBLAS_STATUS_NOT_SUPPORTED. Layout attributes other than the defaults (column
// order, no batch) and matmul descriptor attributes other than the transposes are refused too, so a binding
// that starts to rely on them must extend this file first.
#include <cmath>
#include <cstdio>

#include "emu.h"
#include "tessera/ts_convert.h"

using namespace ts_emu;

namespace {

// cublasStatus_t values the emulator returns (cublas_api.h).
enum LtStatus : int {
    LT_OK = 0,
    LT_NOT_INITIALIZED = 1,
    LT_INVALID = 7,
    LT_EXECUTION_FAILED = 13,
    LT_NOT_SUPPORTED = 15,
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
    {13, "CUBLAS_STATUS_EXECUTION_FAILED", "the GPU program failed to execute"},
    {15, "CUBLAS_STATUS_NOT_SUPPORTED", "the functionality requested is not supported"},
};

// cudaDataType_t (library_types.h) and cublasComputeType_t (cublas_api.h) values the emulator computes with.
constexpr int R_32F = 0, R_16F = 2, R_8I = 3, R_32I = 10, R_16BF = 14;
constexpr int COMPUTE_32I = 72;
constexpr int FLOAT_COMPUTE[] = {68, 69, 74, 75, 77};  // 32F, 32F_PEDANTIC and the 32F_FAST_* modes
// cublasLtMatmulDescAttributes_t values the emulator accepts.
constexpr int DESC_TRANSA = 3, DESC_TRANSB = 4;

struct Desc {
    int compute, scale;
    int transa = 0, transb = 0;  // CUBLAS_OP_N
};
struct Layout {
    int type;
    uint64_t rows, cols;
    int64_t ld;
};
std::unordered_set<const void *> handles, descs, layouts;

int element_size(int type) {
    switch (type) {
        case R_8I: return 1;
        case R_16F: case R_16BF: return 2;
        case R_32F: case R_32I: return 4;
        default: return 0;
    }
}

float load(int type, const void *base, uint64_t i) {
    switch (type) {
        case R_16F: return ts_f16_to_f32(static_cast<const uint16_t *>(base)[i]);
        case R_16BF: return ts_bf16_to_f32(static_cast<const uint16_t *>(base)[i]);
        default: return static_cast<const float *>(base)[i];
    }
}

void store(int type, void *base, uint64_t i, float v) {
    switch (type) {
        case R_16F: static_cast<uint16_t *>(base)[i] = ts_f32_to_f16(v); break;
        case R_16BF: static_cast<uint16_t *>(base)[i] = ts_f32_to_bf16(v); break;
        default: static_cast<float *>(base)[i] = v;
    }
}

bool float_compute(int compute) {
    for (int t : FLOAT_COMPUTE)
        if (compute == t) return true;
    return false;
}

// The operation's shape and types, or the status that refuses it.
struct Plan {
    uint64_t m, n, k;
    bool integer;
};

int plan(const Desc &d, const Layout &a, const Layout &b, const Layout &c, const Layout &dl, Plan *p) {
    const bool integer = d.compute == COMPUTE_32I;
    if (integer) {
        if (d.scale != R_32I || a.type != R_8I || b.type != R_8I || c.type != R_32I || dl.type != R_32I) return LT_NOT_SUPPORTED;
    } else if (float_compute(d.compute)) {
        const bool half = a.type == R_16F || a.type == R_16BF;
        if (d.scale != R_32F || (a.type != R_32F && !half) || b.type != a.type || c.type != a.type || dl.type != a.type)
            return LT_NOT_SUPPORTED;
    } else {
        return LT_NOT_SUPPORTED;
    }
    for (const Layout *l : {&a, &b, &c, &dl})
        if (l->ld < static_cast<int64_t>(l->rows > 1 ? l->rows : 1)) return LT_INVALID;
    const uint64_t m = d.transa == 0 ? a.rows : a.cols, k = d.transa == 0 ? a.cols : a.rows;
    const uint64_t kb = d.transb == 0 ? b.rows : b.cols, n = d.transb == 0 ? b.cols : b.rows;
    if (kb != k || c.rows != m || c.cols != n || dl.rows != m || dl.cols != n || c.ld != dl.ld) return LT_INVALID;
    if (integer && (d.transa != 1 || d.transb != 0 || a.ld % 4 != 0 || b.ld % 4 != 0 || c.ld % 4 != 0))
        return LT_NOT_SUPPORTED;  // IMMA's regular-order conditions
    *p = Plan{m, n, k, integer};
    return LT_OK;
}

uint64_t extent(const Layout &l) {
    return l.rows == 0 || l.cols == 0 ? 0 : ((l.cols - 1) * static_cast<uint64_t>(l.ld) + l.rows) * element_size(l.type);
}

// D = alpha op(A) op(B) + beta C, column-major; op is a transpose when trans is 1 (or 2: conjugate, real types).
template <typename Acc, typename Load>
void multiply(const Plan &p, const Desc &d, const Layout &al, const Layout &bl, const Layout &cl, Load get,
              std::function<void(uint64_t, Acc)> put, Acc alpha, Acc beta) {
    for (uint64_t j = 0; j < p.n; j++) {
        for (uint64_t i = 0; i < p.m; i++) {
            Acc sum = 0;
            for (uint64_t t = 0; t < p.k; t++) {
                const uint64_t ai = d.transa == 0 ? i + t * al.ld : t + i * al.ld;
                const uint64_t bi = d.transb == 0 ? t + j * bl.ld : j + t * bl.ld;
                sum += get(0, ai) * get(1, bi);
            }
            const uint64_t ci = i + j * cl.ld;
            put(ci, alpha * sum + (beta == 0 ? 0 : beta * get(2, ci)));
        }
    }
}

}  // namespace

EMU_API int cublasLtCreate(void **handle) {
    std::lock_guard lock(api_mutex);
    Context *ctx;
    if (handle == nullptr) return LT_INVALID;
    if (current(&ctx) != SUCCESS) return LT_NOT_INITIALIZED;
    int *h = new int{0};
    handles.insert(h);
    *handle = h;
    return LT_OK;
}

EMU_API int cublasLtDestroy(void *handle) {
    std::lock_guard lock(api_mutex);
    if (handles.erase(handle) == 0) return LT_NOT_INITIALIZED;
    delete static_cast<int *>(handle);
    return LT_OK;
}

EMU_API size_t cublasLtGetVersion() {
    return 130000;  // the API level the emulator follows (cuBLASLt 13.0)
}

EMU_API int cublasLtMatmulDescCreate(void **desc, int compute, int scale) {
    std::lock_guard lock(api_mutex);
    if (desc == nullptr) return LT_INVALID;
    Desc *d = new Desc{compute, scale};
    descs.insert(d);
    *desc = d;
    return LT_OK;
}

EMU_API int cublasLtMatmulDescDestroy(void *desc) {
    std::lock_guard lock(api_mutex);
    if (descs.erase(desc) == 0) return LT_INVALID;
    delete static_cast<Desc *>(desc);
    return LT_OK;
}

EMU_API int cublasLtMatmulDescSetAttribute(void *desc, int attr, const void *buf, size_t size) {
    std::lock_guard lock(api_mutex);
    if (descs.count(desc) == 0 || buf == nullptr) return LT_INVALID;
    if (attr != DESC_TRANSA && attr != DESC_TRANSB) return LT_NOT_SUPPORTED;  // see the top of this file
    if (size != sizeof(int32_t)) return LT_INVALID;
    int32_t op;
    std::memcpy(&op, buf, sizeof op);
    if (op < 0 || op > 2) return LT_INVALID;  // N, T, C (= T for real types)
    (attr == DESC_TRANSA ? static_cast<Desc *>(desc)->transa : static_cast<Desc *>(desc)->transb) = op == 0 ? 0 : 1;
    return LT_OK;
}

EMU_API int cublasLtMatrixLayoutCreate(void **layout, int type, uint64_t rows, uint64_t cols, int64_t ld) {
    std::lock_guard lock(api_mutex);
    if (layout == nullptr || element_size(type) == 0) return LT_INVALID;
    Layout *l = new Layout{type, rows, cols, ld};
    layouts.insert(l);
    *layout = l;
    return LT_OK;
}

EMU_API int cublasLtMatrixLayoutDestroy(void *layout) {
    std::lock_guard lock(api_mutex);
    if (layouts.erase(layout) == 0) return LT_INVALID;
    delete static_cast<Layout *>(layout);
    return LT_OK;
}

EMU_API int cublasLtMatmul(void *handle, void *desc, const void *alpha, const void *a, void *a_desc, const void *b, void *b_desc,
                           const void *beta, const void *c, void *c_desc, void *d, void *d_desc, const void * /* algo */,
                           void * /* workspace */, size_t /* workspace bytes */, void *stream_handle) {
    std::lock_guard lock(api_mutex);
    if (handles.count(handle) == 0) return LT_NOT_INITIALIZED;
    if (descs.count(desc) == 0 || alpha == nullptr || beta == nullptr) return LT_INVALID;
    for (const void *l : {a_desc, b_desc, c_desc, d_desc})
        if (layouts.count(l) == 0) return LT_INVALID;
    const Desc &op = *static_cast<Desc *>(desc);
    const Layout &al = *static_cast<Layout *>(a_desc), &bl = *static_cast<Layout *>(b_desc);
    const Layout &cl = *static_cast<Layout *>(c_desc), &dl = *static_cast<Layout *>(d_desc);
    Plan p;
    const int planned = plan(op, al, bl, cl, dl, &p);
    if (planned != LT_OK) return planned;
    if (p.integer) {
        for (const void *ptr : {a, b, c, static_cast<const void *>(d)})
            if (reinterpret_cast<uintptr_t>(ptr) % 4 != 0) return LT_NOT_SUPPORTED;
    }
    Context *ctx;
    if (current(&ctx) != SUCCESS) return LT_EXECUTION_FAILED;
    Stream *stream = find_stream(ctx, stream_handle);
    if (stream == nullptr) return LT_INVALID;
    if (p.m == 0 || p.n == 0) return LT_OK;
    const auto valid = [ctx](const void *ptr, uint64_t bytes) { return mem_valid(ctx, reinterpret_cast<uint64_t>(ptr), bytes); };
    const bool inside = (p.k == 0 || (valid(a, extent(al)) && valid(b, extent(bl)))) && valid(c, extent(cl)) && valid(d, extent(dl));
    if (!inside) {  // on a GPU, the kernel's illegal address
        std::fprintf(stderr, "tessera cuda-emu: cuBLASLt matmul: an operand reaches outside its device allocation in the current context\n");
        make_sticky(ctx, ILLEGAL_ADDRESS);
        return LT_EXECUTION_FAILED;
    }
    if (p.integer) {
        int32_t alpha_i, beta_i;
        std::memcpy(&alpha_i, alpha, sizeof alpha_i);
        std::memcpy(&beta_i, beta, sizeof beta_i);
        enqueue(ctx, stream, [=] {
            const void *in[] = {a, b, c};
            const auto get = [&in](int which, uint64_t i) -> int32_t {
                return which == 2 ? static_cast<const int32_t *>(in[2])[i] : static_cast<const int8_t *>(in[which])[i];
            };
            multiply<int32_t>(p, op, al, bl, cl, get, [d](uint64_t i, int32_t v) { static_cast<int32_t *>(d)[i] = v; }, alpha_i, beta_i);
            return SUCCESS;
        });
    } else {
        float alpha_f, beta_f;
        std::memcpy(&alpha_f, alpha, sizeof alpha_f);
        std::memcpy(&beta_f, beta, sizeof beta_f);
        const int type = al.type;
        enqueue(ctx, stream, [=] {
            const void *in[] = {a, b, c};
            const auto get = [&in, type](int which, uint64_t i) { return load(type, in[which], i); };
            multiply<float>(p, op, al, bl, cl, get, [d, type](uint64_t i, float v) { store(type, d, i, v); }, alpha_f, beta_f);
            return SUCCESS;
        });
    }
    return LT_OK;
}

EMU_API const char *cublasLtGetStatusName(int status) {
    for (const Name &n : names)
        if (n.status == status) return n.name;
    return nullptr;
}

EMU_API const char *cublasLtGetStatusString(int status) {
    for (const Name &n : names)
        if (n.status == status) return n.text;
    return nullptr;
}
