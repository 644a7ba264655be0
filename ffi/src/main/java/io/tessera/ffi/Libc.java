package io.tessera.ffi;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;
import java.util.List;

/**
 * The few C library functions Tessera calls directly (ffi/jextract/libc.args): aligned allocation for
 * tensor memory that need not be zeroed, advice on how that memory is paged, and the process environment.
 */
public final class Libc {
    private Libc() {}

    public static final NativeLibrary LIBRARY = NativeLibrary.of("libc.so.6",
            List.of(new NativeLibrary.Location.SystemName("libc.so.6")));

    private static final class aligned_alloc {
        static final MethodHandle HANDLE = LIBRARY.downcall("aligned_alloc", FunctionDescriptor.of(ADDRESS, JAVA_LONG, JAVA_LONG));
    }

    /** void *aligned_alloc(size_t alignment, size_t size): size must be a multiple of alignment. */
    public static MemorySegment aligned_alloc(long alignment, long size) {
        try {
            return (MemorySegment) aligned_alloc.HANDLE.invokeExact(alignment, size);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    private static final class free {
        static final MethodHandle HANDLE = LIBRARY.downcall("free", FunctionDescriptor.ofVoid(ADDRESS));
    }

    /** void free(void *ptr) */
    public static void free(MemorySegment pointer) {
        try {
            free.HANDLE.invokeExact(pointer);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    /** madvise advice: back the range with transparent huge pages where the kernel allows it. */
    public static final int MADV_HUGEPAGE = 14;
    /** madvise advice: drop the range's pages from this process (a file mapping's are read from the file again). */
    public static final int MADV_DONTNEED = 4;

    private static final class madvise {
        static final MethodHandle HANDLE = LIBRARY.downcall("madvise", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG, JAVA_INT));
    }

    /** int madvise(void *addr, size_t length, int advice): addr must be page-aligned. */
    public static int madvise(MemorySegment address, long length, int advice) {
        try {
            return (int) madvise.HANDLE.invokeExact(address, length, advice);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    private static final class setenv {
        static final MethodHandle HANDLE = LIBRARY.downcall("setenv", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, JAVA_INT));
    }

    /** int setenv(const char *name, const char *value, int overwrite) */
    public static int setenv(MemorySegment name, MemorySegment value, int overwrite) {
        try {
            return (int) setenv.HANDLE.invokeExact(name, value, overwrite);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    private static final class getenv {
        static final MethodHandle HANDLE = LIBRARY.downcall("getenv", FunctionDescriptor.of(ADDRESS, ADDRESS));
    }

    /** char *getenv(const char *name) */
    public static MemorySegment getenv(MemorySegment name) {
        try {
            return (MemorySegment) getenv.HANDLE.invokeExact(name);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }
}
