/* Per-element math shared by the CPU (C11) and CUDA kernels, so the CPU tests also check the
 * arithmetic the GPU runs. Everything here is a TS_HD function: static inline on the host,
 * __host__ __device__ under nvcc. */
#ifndef TESSERA_TS_MATH_H
#define TESSERA_TS_MATH_H

#ifdef __CUDACC__
#define TS_HD static inline __host__ __device__
#else
#define TS_HD static inline
#endif

/* y <- a*x + y for one element. Written as a fused multiply-add on purpose: both gcc (with FMA
 * enabled) and nvcc contract it to one rounding, so CPU and GPU agree bit for bit. */
TS_HD float ts_axpy_elem(float a, float x, float y) { return a * x + y; }

#endif
