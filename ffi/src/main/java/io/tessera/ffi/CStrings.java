package io.tessera.ffi;

import java.lang.foreign.MemorySegment;

/** C strings handed out by native libraries. */
public final class CStrings {
    private CStrings() {}

    /**
     * Reads a NUL-terminated string that a native call returned by pointer and still owns (a static
     * string such as openblas_get_config() or cuGetErrorName()'s result). Null pointers read as null.
     */
    public static String read(MemorySegment pointer) {
        if (pointer.equals(MemorySegment.NULL)) {
            return null;
        }
        return pointer.reinterpret(Long.MAX_VALUE).getString(0);
    }
}
