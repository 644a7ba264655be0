package io.tessera.engine.cuda;

import static java.lang.foreign.ValueLayout.JAVA_INT;

import io.tessera.ffi.CudaDriver;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/** What launch geometry and messages need to know about a device (cuDeviceGetAttribute and friends). */
record DeviceProperties(String name, int maxThreadsPerBlock, int multiprocessors, int maxSharedMemoryPerBlock) {

    static DeviceProperties query(int device) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment name = arena.allocate(256);
            CudaDriver.check(CudaDriver.cuDeviceGetName(name, (int) name.byteSize(), device), "cuDeviceGetName");
            MemorySegment value = arena.allocate(JAVA_INT);
            return new DeviceProperties(name.getString(0),
                    attribute(value, CudaDriver.CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_BLOCK, device),
                    attribute(value, CudaDriver.CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, device),
                    attribute(value, CudaDriver.CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK, device));
        }
    }

    private static int attribute(MemorySegment value, int attribute, int device) {
        CudaDriver.check(CudaDriver.cuDeviceGetAttribute(value, attribute, device), "cuDeviceGetAttribute(" + attribute + ")");
        return value.get(JAVA_INT, 0);
    }
}
