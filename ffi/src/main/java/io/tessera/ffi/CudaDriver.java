package io.tessera.ffi;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;
import java.nio.file.Path;
import java.util.List;

/**
 * Bindings to the CUDA driver API (libcuda.so.1). Symbols are listed in ffi/jextract/cuda.args; where
 * cuda.h maps a name to a versioned symbol ({@code #define cuMemAlloc cuMemAlloc_v2}), the versioned
 * symbol is bound under its own name. Pointers are MemorySegments; {@code CUdeviceptr} and
 * {@code size_t} are longs; {@code CUdevice}, enums and {@code unsigned int} are ints. Every function
 * returns a raw {@code CUresult}; {@link #check} turns it into a {@link CudaException}. A context must be
 * current on the calling thread ({@link #cuCtxSetCurrent}) for everything but device queries.
 */
public final class CudaDriver {
    private CudaDriver() {}

    // enum cudaError_enum (CUresult): the codes callers act on rather than just report
    public static final int CUDA_SUCCESS = 0;
    public static final int CUDA_ERROR_OUT_OF_MEMORY = 2;
    /** cuInit's answer where libcuda.so.1 is the toolkit's stub (no driver installed): treat as "no driver". */
    public static final int CUDA_ERROR_STUB_LIBRARY = 34;
    public static final int CUDA_ERROR_NO_DEVICE = 100;
    public static final int CUDA_ERROR_NOT_READY = 600;

    // enum CUdevice_attribute: what launch geometry needs
    public static final int CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_BLOCK = 1;
    public static final int CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK = 8;
    public static final int CU_DEVICE_ATTRIBUTE_WARP_SIZE = 10;
    public static final int CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT = 16;
    public static final int CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR = 75;
    public static final int CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR = 76;

    // enum CUstream_flags / CUevent_flags
    public static final int CU_STREAM_NON_BLOCKING = 0x1;
    public static final int CU_EVENT_DISABLE_TIMING = 0x2;

    // -Dtessera.cuda.driver=<path> overrides the search (the tests point it at the emulated driver).
    // Otherwise libcuda.so.1 first: only the toolkit's development files install the unversioned libcuda.so.
    public static final NativeLibrary LIBRARY = NativeLibrary.of("libcuda.so.1", List.of(
            new NativeLibrary.Location.Configured("tessera.cuda.driver"),
            new NativeLibrary.Location.SystemName("libcuda.so.1"),
            new NativeLibrary.Location.SystemName("libcuda.so"),
            new NativeLibrary.Location.SystemFile(Path.of("/usr/lib/x86_64-linux-gnu/libcuda.so.1")),
            new NativeLibrary.Location.SystemFile(Path.of("/usr/local/cuda/compat/libcuda.so.1")),
            new NativeLibrary.Location.SystemFile(Path.of("/usr/lib/wsl/lib/libcuda.so.1"))));

    /**
     * Throws a {@link CudaException} unless {@code status} is {@link #CUDA_SUCCESS}. Its message names the
     * call, the driver's name for the status and its description (cuGetErrorName, cuGetErrorString).
     */
    public static void check(int status, String call) {
        if (status == CUDA_SUCCESS) {
            return;
        }
        String name = statusText(status, false);
        if (name == null) {
            throw CudaException.unnamed(CudaException.Library.DRIVER, status, call, whyUnnamed());
        }
        throw CudaException.named(CudaException.Library.DRIVER, status, call, name, statusText(status, true));
    }

    /** The driver's name for a status (e.g. "CUDA_ERROR_OUT_OF_MEMORY"), or "CUresult n" if it cannot say. */
    public static String errorName(int status) {
        String name = statusText(status, false);
        return name == null ? CudaException.Library.DRIVER.fallbackName(status) : name;
    }

    /** cuGetErrorName or cuGetErrorString of a status; null if the driver is missing or does not know the code. */
    private static String statusText(int status, boolean description) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment text = arena.allocate(ADDRESS);
            int rc = description ? cuGetErrorString(status, text) : cuGetErrorName(status, text);
            return rc == CUDA_SUCCESS ? CStrings.read(text.get(ADDRESS, 0)) : null;
        } catch (NativeLibraryUnavailableException e) {
            return null; // whyUnnamed() says which part is missing
        }
    }

    private static String whyUnnamed() {
        if (!LIBRARY.isAvailable()) {
            return LIBRARY.name() + " is not loaded";
        }
        if (LIBRARY.find("cuGetErrorName").isEmpty()) {
            return LIBRARY.origin().orElseThrow() + " does not export cuGetErrorName";
        }
        return "cuGetErrorName does not know this code";
    }

    // ---- initialisation and devices ----------------------------------------------------------

    private static final class cuInit {
        static final MethodHandle HANDLE = LIBRARY.downcall("cuInit", FunctionDescriptor.of(JAVA_INT, JAVA_INT));
    }

    /** CUresult cuInit(unsigned int Flags): must precede every other call but the version and error-name ones; Flags is 0. */
    public static int cuInit(int flags) {
        try {
            return (int) cuInit.HANDLE.invokeExact(flags);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    private static final class cuDriverGetVersion {
        static final MethodHandle HANDLE = LIBRARY.downcall("cuDriverGetVersion", FunctionDescriptor.of(JAVA_INT, ADDRESS));
    }

    /** CUresult cuDriverGetVersion(int *driverVersion): the newest CUDA version the driver supports, e.g. 13000. */
    public static int cuDriverGetVersion(MemorySegment driverVersion) {
        try {
            return (int) cuDriverGetVersion.HANDLE.invokeExact(driverVersion);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    private static final class cuDeviceGetCount {
        static final MethodHandle HANDLE = LIBRARY.downcall("cuDeviceGetCount", FunctionDescriptor.of(JAVA_INT, ADDRESS));
    }

    /** CUresult cuDeviceGetCount(int *count) */
    public static int cuDeviceGetCount(MemorySegment count) {
        try {
            return (int) cuDeviceGetCount.HANDLE.invokeExact(count);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    private static final class cuDeviceGet {
        static final MethodHandle HANDLE = LIBRARY.downcall("cuDeviceGet", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT));
    }

    /** CUresult cuDeviceGet(CUdevice *device, int ordinal) */
    public static int cuDeviceGet(MemorySegment device, int ordinal) {
        try {
            return (int) cuDeviceGet.HANDLE.invokeExact(device, ordinal);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    private static final class cuDeviceGetName {
        static final MethodHandle HANDLE = LIBRARY.downcall("cuDeviceGetName",
                FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT));
    }

    /** CUresult cuDeviceGetName(char *name, int len, CUdevice dev): a NUL-terminated name in at most len bytes. */
    public static int cuDeviceGetName(MemorySegment name, int len, int dev) {
        try {
            return (int) cuDeviceGetName.HANDLE.invokeExact(name, len, dev);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    private static final class cuDeviceGetAttribute {
        static final MethodHandle HANDLE = LIBRARY.downcall("cuDeviceGetAttribute",
                FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT));
    }

    /** CUresult cuDeviceGetAttribute(int *pi, CUdevice_attribute attrib, CUdevice dev) */
    public static int cuDeviceGetAttribute(MemorySegment pi, int attrib, int dev) {
        try {
            return (int) cuDeviceGetAttribute.HANDLE.invokeExact(pi, attrib, dev);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    private static final class cuDeviceTotalMem_v2 {
        static final MethodHandle HANDLE = LIBRARY.downcall("cuDeviceTotalMem_v2",
                FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT));
    }

    /** CUresult cuDeviceTotalMem_v2(size_t *bytes, CUdevice dev) */
    public static int cuDeviceTotalMem_v2(MemorySegment bytes, int dev) {
        try {
            return (int) cuDeviceTotalMem_v2.HANDLE.invokeExact(bytes, dev);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    // ---- contexts ----------------------------------------------------------------------------

    private static final class cuDevicePrimaryCtxRetain {
        static final MethodHandle HANDLE = LIBRARY.downcall("cuDevicePrimaryCtxRetain",
                FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT));
    }

    /** CUresult cuDevicePrimaryCtxRetain(CUcontext *pctx, CUdevice dev): the device's shared context, reference-counted. */
    public static int cuDevicePrimaryCtxRetain(MemorySegment pctx, int dev) {
        try {
            return (int) cuDevicePrimaryCtxRetain.HANDLE.invokeExact(pctx, dev);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    private static final class cuDevicePrimaryCtxRelease_v2 {
        static final MethodHandle HANDLE = LIBRARY.downcall("cuDevicePrimaryCtxRelease_v2",
                FunctionDescriptor.of(JAVA_INT, JAVA_INT));
    }

    /** CUresult cuDevicePrimaryCtxRelease_v2(CUdevice dev) */
    public static int cuDevicePrimaryCtxRelease_v2(int dev) {
        try {
            return (int) cuDevicePrimaryCtxRelease_v2.HANDLE.invokeExact(dev);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    private static final class cuCtxSetCurrent {
        static final MethodHandle HANDLE = LIBRARY.downcall("cuCtxSetCurrent", FunctionDescriptor.of(JAVA_INT, ADDRESS));
    }

    /** CUresult cuCtxSetCurrent(CUcontext ctx): binds ctx to the calling thread. */
    public static int cuCtxSetCurrent(MemorySegment ctx) {
        try {
            return (int) cuCtxSetCurrent.HANDLE.invokeExact(ctx);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    private static final class cuCtxGetCurrent {
        static final MethodHandle HANDLE = LIBRARY.downcall("cuCtxGetCurrent", FunctionDescriptor.of(JAVA_INT, ADDRESS));
    }

    /** CUresult cuCtxGetCurrent(CUcontext *pctx): NULL if none is bound to the calling thread. */
    public static int cuCtxGetCurrent(MemorySegment pctx) {
        try {
            return (int) cuCtxGetCurrent.HANDLE.invokeExact(pctx);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    private static final class cuCtxSynchronize {
        static final MethodHandle HANDLE = LIBRARY.downcall("cuCtxSynchronize", FunctionDescriptor.of(JAVA_INT));
    }

    /** CUresult cuCtxSynchronize(void) */
    public static int cuCtxSynchronize() {
        try {
            return (int) cuCtxSynchronize.HANDLE.invokeExact();
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    // ---- modules and launches ----------------------------------------------------------------

    private static final class cuModuleLoadData {
        static final MethodHandle HANDLE = LIBRARY.downcall("cuModuleLoadData",
                FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS));
    }

    /** CUresult cuModuleLoadData(CUmodule *module, const void *image): image is a cubin, fatbin or NUL-terminated PTX. */
    public static int cuModuleLoadData(MemorySegment module, MemorySegment image) {
        try {
            return (int) cuModuleLoadData.HANDLE.invokeExact(module, image);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    private static final class cuModuleUnload {
        static final MethodHandle HANDLE = LIBRARY.downcall("cuModuleUnload", FunctionDescriptor.of(JAVA_INT, ADDRESS));
    }

    /** CUresult cuModuleUnload(CUmodule hmod) */
    public static int cuModuleUnload(MemorySegment hmod) {
        try {
            return (int) cuModuleUnload.HANDLE.invokeExact(hmod);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    private static final class cuModuleGetFunction {
        static final MethodHandle HANDLE = LIBRARY.downcall("cuModuleGetFunction",
                FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, ADDRESS));
    }

    /** CUresult cuModuleGetFunction(CUfunction *hfunc, CUmodule hmod, const char *name) */
    public static int cuModuleGetFunction(MemorySegment hfunc, MemorySegment hmod, MemorySegment name) {
        try {
            return (int) cuModuleGetFunction.HANDLE.invokeExact(hfunc, hmod, name);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    private static final class cuLaunchKernel {
        static final MethodHandle HANDLE = LIBRARY.downcall("cuLaunchKernel", FunctionDescriptor.of(JAVA_INT,
                ADDRESS, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, ADDRESS, ADDRESS, ADDRESS));
    }

    /**
     * CUresult cuLaunchKernel(CUfunction f, unsigned int gridDimX, unsigned int gridDimY, unsigned int gridDimZ,
     * unsigned int blockDimX, unsigned int blockDimY, unsigned int blockDimZ, unsigned int sharedMemBytes,
     * CUstream hStream, void **kernelParams, void **extra): kernelParams holds one pointer per kernel
     * argument, each to that argument's value; extra is NULL.
     */
    public static int cuLaunchKernel(MemorySegment f, int gridDimX, int gridDimY, int gridDimZ,
                                     int blockDimX, int blockDimY, int blockDimZ, int sharedMemBytes,
                                     MemorySegment hStream, MemorySegment kernelParams, MemorySegment extra) {
        try {
            return (int) cuLaunchKernel.HANDLE.invokeExact(f, gridDimX, gridDimY, gridDimZ, blockDimX, blockDimY, blockDimZ,
                    sharedMemBytes, hStream, kernelParams, extra);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    // ---- memory --------------------------------------------------------------------------------

    private static final class cuMemAlloc_v2 {
        static final MethodHandle HANDLE = LIBRARY.downcall("cuMemAlloc_v2", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG));
    }

    /** CUresult cuMemAlloc_v2(CUdeviceptr *dptr, size_t bytesize): *dptr is an unsigned long long. */
    public static int cuMemAlloc_v2(MemorySegment dptr, long bytesize) {
        try {
            return (int) cuMemAlloc_v2.HANDLE.invokeExact(dptr, bytesize);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    private static final class cuMemFree_v2 {
        static final MethodHandle HANDLE = LIBRARY.downcall("cuMemFree_v2", FunctionDescriptor.of(JAVA_INT, JAVA_LONG));
    }

    /** CUresult cuMemFree_v2(CUdeviceptr dptr) */
    public static int cuMemFree_v2(long dptr) {
        try {
            return (int) cuMemFree_v2.HANDLE.invokeExact(dptr);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    private static final class cuMemAllocHost_v2 {
        static final MethodHandle HANDLE = LIBRARY.downcall("cuMemAllocHost_v2", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG));
    }

    /** CUresult cuMemAllocHost_v2(void **pp, size_t bytesize): page-locked host memory, for truly async copies. */
    public static int cuMemAllocHost_v2(MemorySegment pp, long bytesize) {
        try {
            return (int) cuMemAllocHost_v2.HANDLE.invokeExact(pp, bytesize);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    private static final class cuMemFreeHost {
        static final MethodHandle HANDLE = LIBRARY.downcall("cuMemFreeHost", FunctionDescriptor.of(JAVA_INT, ADDRESS));
    }

    /** CUresult cuMemFreeHost(void *p) */
    public static int cuMemFreeHost(MemorySegment p) {
        try {
            return (int) cuMemFreeHost.HANDLE.invokeExact(p);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    private static final class cuMemGetInfo_v2 {
        static final MethodHandle HANDLE = LIBRARY.downcall("cuMemGetInfo_v2", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS));
    }

    /** CUresult cuMemGetInfo_v2(size_t *free, size_t *total): of the current context's device. */
    public static int cuMemGetInfo_v2(MemorySegment free, MemorySegment total) {
        try {
            return (int) cuMemGetInfo_v2.HANDLE.invokeExact(free, total);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    private static final class cuMemcpyHtoD_v2 {
        static final MethodHandle HANDLE = LIBRARY.downcall("cuMemcpyHtoD_v2",
                FunctionDescriptor.of(JAVA_INT, JAVA_LONG, ADDRESS, JAVA_LONG));
    }

    /** CUresult cuMemcpyHtoD_v2(CUdeviceptr dstDevice, const void *srcHost, size_t ByteCount) */
    public static int cuMemcpyHtoD_v2(long dstDevice, MemorySegment srcHost, long byteCount) {
        try {
            return (int) cuMemcpyHtoD_v2.HANDLE.invokeExact(dstDevice, srcHost, byteCount);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    private static final class cuMemcpyDtoH_v2 {
        static final MethodHandle HANDLE = LIBRARY.downcall("cuMemcpyDtoH_v2",
                FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG, JAVA_LONG));
    }

    /** CUresult cuMemcpyDtoH_v2(void *dstHost, CUdeviceptr srcDevice, size_t ByteCount) */
    public static int cuMemcpyDtoH_v2(MemorySegment dstHost, long srcDevice, long byteCount) {
        try {
            return (int) cuMemcpyDtoH_v2.HANDLE.invokeExact(dstHost, srcDevice, byteCount);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    private static final class cuMemcpyHtoDAsync_v2 {
        static final MethodHandle HANDLE = LIBRARY.downcall("cuMemcpyHtoDAsync_v2",
                FunctionDescriptor.of(JAVA_INT, JAVA_LONG, ADDRESS, JAVA_LONG, ADDRESS));
    }

    /**
     * CUresult cuMemcpyHtoDAsync_v2(CUdeviceptr dstDevice, const void *srcHost, size_t ByteCount, CUstream hStream):
     * srcHost must stay alive and unchanged until the stream reaches the copy.
     */
    public static int cuMemcpyHtoDAsync_v2(long dstDevice, MemorySegment srcHost, long byteCount, MemorySegment hStream) {
        try {
            return (int) cuMemcpyHtoDAsync_v2.HANDLE.invokeExact(dstDevice, srcHost, byteCount, hStream);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    private static final class cuMemcpyDtoHAsync_v2 {
        static final MethodHandle HANDLE = LIBRARY.downcall("cuMemcpyDtoHAsync_v2",
                FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG, JAVA_LONG, ADDRESS));
    }

    /**
     * CUresult cuMemcpyDtoHAsync_v2(void *dstHost, CUdeviceptr srcDevice, size_t ByteCount, CUstream hStream):
     * dstHost must stay alive until the stream reaches the copy.
     */
    public static int cuMemcpyDtoHAsync_v2(MemorySegment dstHost, long srcDevice, long byteCount, MemorySegment hStream) {
        try {
            return (int) cuMemcpyDtoHAsync_v2.HANDLE.invokeExact(dstHost, srcDevice, byteCount, hStream);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    private static final class cuMemcpyDtoDAsync_v2 {
        static final MethodHandle HANDLE = LIBRARY.downcall("cuMemcpyDtoDAsync_v2",
                FunctionDescriptor.of(JAVA_INT, JAVA_LONG, JAVA_LONG, JAVA_LONG, ADDRESS));
    }

    /** CUresult cuMemcpyDtoDAsync_v2(CUdeviceptr dstDevice, CUdeviceptr srcDevice, size_t ByteCount, CUstream hStream) */
    public static int cuMemcpyDtoDAsync_v2(long dstDevice, long srcDevice, long byteCount, MemorySegment hStream) {
        try {
            return (int) cuMemcpyDtoDAsync_v2.HANDLE.invokeExact(dstDevice, srcDevice, byteCount, hStream);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    private static final class cuMemsetD8Async {
        static final MethodHandle HANDLE = LIBRARY.downcall("cuMemsetD8Async",
                FunctionDescriptor.of(JAVA_INT, JAVA_LONG, JAVA_BYTE, JAVA_LONG, ADDRESS));
    }

    /** CUresult cuMemsetD8Async(CUdeviceptr dstDevice, unsigned char uc, size_t N, CUstream hStream): N bytes. */
    public static int cuMemsetD8Async(long dstDevice, byte uc, long n, MemorySegment hStream) {
        try {
            return (int) cuMemsetD8Async.HANDLE.invokeExact(dstDevice, uc, n, hStream);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    private static final class cuMemsetD32Async {
        static final MethodHandle HANDLE = LIBRARY.downcall("cuMemsetD32Async",
                FunctionDescriptor.of(JAVA_INT, JAVA_LONG, JAVA_INT, JAVA_LONG, ADDRESS));
    }

    /**
     * CUresult cuMemsetD32Async(CUdeviceptr dstDevice, unsigned int ui, size_t N, CUstream hStream): N 32-bit
     * words; dstDevice must be 4-byte aligned. Fills floats too (pass Float.floatToRawIntBits).
     */
    public static int cuMemsetD32Async(long dstDevice, int ui, long n, MemorySegment hStream) {
        try {
            return (int) cuMemsetD32Async.HANDLE.invokeExact(dstDevice, ui, n, hStream);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    // ---- streams and events --------------------------------------------------------------------

    private static final class cuStreamCreate {
        static final MethodHandle HANDLE = LIBRARY.downcall("cuStreamCreate", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT));
    }

    /** CUresult cuStreamCreate(CUstream *phStream, unsigned int Flags): Flags 0 or {@link #CU_STREAM_NON_BLOCKING}. */
    public static int cuStreamCreate(MemorySegment phStream, int flags) {
        try {
            return (int) cuStreamCreate.HANDLE.invokeExact(phStream, flags);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    private static final class cuStreamDestroy_v2 {
        static final MethodHandle HANDLE = LIBRARY.downcall("cuStreamDestroy_v2", FunctionDescriptor.of(JAVA_INT, ADDRESS));
    }

    /** CUresult cuStreamDestroy_v2(CUstream hStream): work already queued still runs. */
    public static int cuStreamDestroy_v2(MemorySegment hStream) {
        try {
            return (int) cuStreamDestroy_v2.HANDLE.invokeExact(hStream);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    private static final class cuStreamSynchronize {
        static final MethodHandle HANDLE = LIBRARY.downcall("cuStreamSynchronize", FunctionDescriptor.of(JAVA_INT, ADDRESS));
    }

    /** CUresult cuStreamSynchronize(CUstream hStream) */
    public static int cuStreamSynchronize(MemorySegment hStream) {
        try {
            return (int) cuStreamSynchronize.HANDLE.invokeExact(hStream);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    private static final class cuStreamWaitEvent {
        static final MethodHandle HANDLE = LIBRARY.downcall("cuStreamWaitEvent",
                FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, JAVA_INT));
    }

    /** CUresult cuStreamWaitEvent(CUstream hStream, CUevent hEvent, unsigned int Flags): later work on hStream waits for hEvent. */
    public static int cuStreamWaitEvent(MemorySegment hStream, MemorySegment hEvent, int flags) {
        try {
            return (int) cuStreamWaitEvent.HANDLE.invokeExact(hStream, hEvent, flags);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    private static final class cuEventCreate {
        static final MethodHandle HANDLE = LIBRARY.downcall("cuEventCreate", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT));
    }

    /** CUresult cuEventCreate(CUevent *phEvent, unsigned int Flags): {@link #CU_EVENT_DISABLE_TIMING} for pure ordering. */
    public static int cuEventCreate(MemorySegment phEvent, int flags) {
        try {
            return (int) cuEventCreate.HANDLE.invokeExact(phEvent, flags);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    private static final class cuEventDestroy_v2 {
        static final MethodHandle HANDLE = LIBRARY.downcall("cuEventDestroy_v2", FunctionDescriptor.of(JAVA_INT, ADDRESS));
    }

    /** CUresult cuEventDestroy_v2(CUevent hEvent) */
    public static int cuEventDestroy_v2(MemorySegment hEvent) {
        try {
            return (int) cuEventDestroy_v2.HANDLE.invokeExact(hEvent);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    private static final class cuEventRecord {
        static final MethodHandle HANDLE = LIBRARY.downcall("cuEventRecord", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS));
    }

    /** CUresult cuEventRecord(CUevent hEvent, CUstream hStream) */
    public static int cuEventRecord(MemorySegment hEvent, MemorySegment hStream) {
        try {
            return (int) cuEventRecord.HANDLE.invokeExact(hEvent, hStream);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    private static final class cuEventSynchronize {
        static final MethodHandle HANDLE = LIBRARY.downcall("cuEventSynchronize", FunctionDescriptor.of(JAVA_INT, ADDRESS));
    }

    /** CUresult cuEventSynchronize(CUevent hEvent) */
    public static int cuEventSynchronize(MemorySegment hEvent) {
        try {
            return (int) cuEventSynchronize.HANDLE.invokeExact(hEvent);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    private static final class cuEventQuery {
        static final MethodHandle HANDLE = LIBRARY.downcall("cuEventQuery", FunctionDescriptor.of(JAVA_INT, ADDRESS));
    }

    /** CUresult cuEventQuery(CUevent hEvent): {@link #CUDA_ERROR_NOT_READY} while work before the event is pending. */
    public static int cuEventQuery(MemorySegment hEvent) {
        try {
            return (int) cuEventQuery.HANDLE.invokeExact(hEvent);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    // The plain symbol, not cuEventElapsedTime_v2 (which CUDA 13's cuda.h maps the name to): older
    // drivers do not export the _v2, current ones still export both, and both take the same arguments.
    private static final class cuEventElapsedTime {
        static final MethodHandle HANDLE = LIBRARY.downcall("cuEventElapsedTime",
                FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, ADDRESS));
    }

    /** CUresult cuEventElapsedTime(float *pMilliseconds, CUevent hStart, CUevent hEnd) */
    public static int cuEventElapsedTime(MemorySegment pMilliseconds, MemorySegment hStart, MemorySegment hEnd) {
        try {
            return (int) cuEventElapsedTime.HANDLE.invokeExact(pMilliseconds, hStart, hEnd);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    // ---- errors ------------------------------------------------------------------------------

    private static final class cuGetErrorName {
        static final MethodHandle HANDLE = LIBRARY.downcall("cuGetErrorName", FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS));
    }

    /**
     * CUresult cuGetErrorName(CUresult error, const char **pStr): a static string such as
     * "CUDA_ERROR_OUT_OF_MEMORY"; CUDA_ERROR_INVALID_VALUE for a code the driver does not know.
     */
    public static int cuGetErrorName(int error, MemorySegment pStr) {
        try {
            return (int) cuGetErrorName.HANDLE.invokeExact(error, pStr);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    private static final class cuGetErrorString {
        static final MethodHandle HANDLE = LIBRARY.downcall("cuGetErrorString", FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS));
    }

    /** CUresult cuGetErrorString(CUresult error, const char **pStr): a static description such as "out of memory". */
    public static int cuGetErrorString(int error, MemorySegment pStr) {
        try {
            return (int) cuGetErrorString.HANDLE.invokeExact(error, pStr);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }
}
