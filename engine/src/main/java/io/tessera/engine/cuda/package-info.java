/**
 * The CUDA backend: the primary context of each device, a caching device allocator, pinned staging
 * buffers for transfers, the kernels of tessera_kernels.fatbin (kernels/cuda/) and cuBLAS GEMM, all
 * through the FFM bindings of io.tessera.ffi. Found through {@link io.tessera.engine.BackendProvider}.
 */
package io.tessera.engine.cuda;
