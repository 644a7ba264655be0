// A kernel's dynamic shared memory (the launch's sharedMemBytes) as a T *. CUDA spells it
// `extern __shared__`, which the emulated driver's host build cannot express; kernels use this instead.
#ifndef TESSERA_DYNAMIC_SHARED_CUH
#define TESSERA_DYNAMIC_SHARED_CUH

#ifdef TS_CUDA_EMU
#define TS_DYNAMIC_SHARED(T) (reinterpret_cast<T *>(ts_emu::dynamic_shared))
#else
extern __shared__ __align__(16) unsigned char ts_dynamic_shared[];
#define TS_DYNAMIC_SHARED(T) (reinterpret_cast<T *>(ts_dynamic_shared))
#endif

#endif
