package io.tessera.engine.cuda;

import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import io.tessera.ffi.CudaDriver;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/** What launch geometry and messages need to know about a device (cuDeviceGetAttribute and friends). */
record DeviceProperties(String name, int maxThreadsPerBlock, int multiprocessors, int warpSize, int maxSharedMemoryPerBlock,
                        int computeMajor, int computeMinor, long totalMemory) {

    static DeviceProperties query(int device) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment name = arena.allocate(256);
            CudaDriver.check(CudaDriver.cuDeviceGetName(name, (int) name.byteSize(), device), "cuDeviceGetName");
            MemorySegment total = arena.allocate(JAVA_LONG);
            CudaDriver.check(CudaDriver.cuDeviceTotalMem_v2(total, device), "cuDeviceTotalMem_v2");
            MemorySegment value = arena.allocate(JAVA_INT);
            return new DeviceProperties(name.getString(0),
                    attribute(value, CudaDriver.CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_BLOCK, device),
                    attribute(value, CudaDriver.CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, device),
                    attribute(value, CudaDriver.CU_DEVICE_ATTRIBUTE_WARP_SIZE, device),
                    attribute(value, CudaDriver.CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK, device),
                    attribute(value, CudaDriver.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, device),
                    attribute(value, CudaDriver.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, device),
                    total.get(JAVA_LONG, 0));
        }
    }

    private static int attribute(MemorySegment value, int attribute, int device) {
        CudaDriver.check(CudaDriver.cuDeviceGetAttribute(value, attribute, device), "cuDeviceGetAttribute(" + attribute + ")");
        return value.get(JAVA_INT, 0);
    }
}
