/* The AMX runtime the AMX kernels share (amx.h): what the CPU has and what Linux granted, asked once per process,
 * and ts_amx_enabled, which reports it. */
#include <stdlib.h>
#include <string.h>

#include "amx.h"

#if defined(TS_AMX)
#include <sys/syscall.h>
#include <unistd.h>

#define ARCH_REQ_XCOMP_PERM 0x1023
#define XFEATURE_XTILEDATA 18

int TS_FN(amx_ready)(int bit) {
    static int edx = -1; /* CPUID.(7, 0):EDX with bit 24 (AMX-TILE) kept only if the grant came; -1 unknown */
    int e = __atomic_load_n(&edx, __ATOMIC_ACQUIRE);
    if (e == -1) {
        unsigned a, b, c, d;
        __asm__("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(7), "c"(0));
        const char *off = getenv("TESSERA_NO_AMX");
        const int wanted = (!off || !*off || !strcmp(off, "0")) && (d >> 24 & 1);
        e = wanted && syscall(SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) == 0 ? (int)(d & 0x7fffffffu) : 0;
        __atomic_store_n(&edx, e, __ATOMIC_RELEASE);
    }
    return (e >> 24 & 1) && (e >> bit & 1);
}
#endif

int TS_FN(ts_amx_enabled)(int *int8, int *bf16) {
#if defined(TS_AMX)
    *int8 = TS_FN(amx_ready)(AMX_INT8_BIT);
    *bf16 = TS_FN(amx_ready)(AMX_BF16_BIT);
#else
    *int8 = *bf16 = 0;
#endif
    return TS_OK;
}
