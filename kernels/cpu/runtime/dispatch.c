/* Chooses the ISA tier once, when the library is loaded (CPUID via __builtin_cpu_supports), and
 * exports each kernel of kernels.def as a plain ts_* symbol that calls through the chosen table. */
#include <stdint.h>

#include "runtime.h"

#define TS_DECLARE_TIERS(name, params, args) \
    int name##_avx512 params;                \
    int name##_avx2 params;                  \
    int name##_base params;
#define TS_KERNEL TS_DECLARE_TIERS
#include "../kernels.def"
#undef TS_KERNEL

typedef struct {
#define TS_KERNEL(name, params, args) int(*name) params;
#include "../kernels.def"
#undef TS_KERNEL
} ts_kernel_table;

#define TS_KERNEL(name, params, args) .name = name##_avx512,
static const ts_kernel_table ts_table_avx512 = {
#include "../kernels.def"
};
#undef TS_KERNEL
#define TS_KERNEL(name, params, args) .name = name##_avx2,
static const ts_kernel_table ts_table_avx2 = {
#include "../kernels.def"
};
#undef TS_KERNEL
#define TS_KERNEL(name, params, args) .name = name##_base,
static const ts_kernel_table ts_table_base = {
#include "../kernels.def"
};
#undef TS_KERNEL

static const ts_kernel_table *ts_active = &ts_table_base;
static int ts_active_tier = TS_ISA_BASE;

TS_EXPORT int ts_isa_supported(int tier) {
    __builtin_cpu_init();
    switch (tier) {
    case TS_ISA_AVX512: return __builtin_cpu_supports("x86-64-v4") != 0;
    case TS_ISA_AVX2: return __builtin_cpu_supports("x86-64-v3") != 0;
    case TS_ISA_BASE: return 1;
    default: return 0;
    }
}

/* Tests use this to run every tier on one machine. Not synchronised: call it while no kernel runs. */
TS_EXPORT int ts_isa_select(int tier) {
    if (!ts_isa_supported(tier)) return TS_ERR_UNSUPPORTED;
    ts_active = tier == TS_ISA_AVX512 ? &ts_table_avx512 : tier == TS_ISA_AVX2 ? &ts_table_avx2 : &ts_table_base;
    ts_active_tier = tier;
    return 0;
}

TS_EXPORT int ts_isa_active(void) { return ts_active_tier; }

__attribute__((constructor)) static void ts_isa_select_best(void) {
    if (ts_isa_select(TS_ISA_AVX512) != 0 && ts_isa_select(TS_ISA_AVX2) != 0) {
        ts_isa_select(TS_ISA_BASE);
    }
}

#define TS_KERNEL(name, params, args) \
    TS_EXPORT int name params { return ts_active->name args; }
#include "../kernels.def"
#undef TS_KERNEL
