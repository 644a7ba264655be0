package io.tessera.ffi;

import java.lang.foreign.MemorySegment;
import java.util.function.IntFunction;

/**
 * Turns a {@code cublasStatus_t} into a {@link CudaException} named by the library that returned it: cuBLAS
 * and cuBLASLt share the status type, each has its own name and description lookups.
 */
final class CublasStatus {
    private final NativeLibrary library;
    private final CudaException.Library kind;
    private final String nameSymbol;
    private final IntFunction<MemorySegment> name;
    private final IntFunction<MemorySegment> text;

    /** @param nameSymbol the library's status-name function, e.g. "cublasGetStatusName" (bound by {@code name}) */
    CublasStatus(NativeLibrary library, CudaException.Library kind, String nameSymbol, IntFunction<MemorySegment> name,
                 IntFunction<MemorySegment> text) {
        this.library = library;
        this.kind = kind;
        this.nameSymbol = nameSymbol;
        this.name = name;
        this.text = text;
    }

    /** Throws unless {@code status} is success (0); the message names the call, the status and its description. */
    void check(int status, String call) {
        if (status == Cublas.CUBLAS_STATUS_SUCCESS) {
            return;
        }
        String statusName = read(name, status);
        if (statusName == null) {
            throw CudaException.unnamed(kind, status, call, whyUnnamed());
        }
        throw CudaException.named(kind, status, call, statusName, read(text, status));
    }

    /** The library's name for a status (e.g. "CUBLAS_STATUS_INVALID_VALUE"), or "cublasStatus n" if it cannot say. */
    String errorName(int status) {
        String statusName = read(name, status);
        return statusName == null ? kind.fallbackName(status) : statusName;
    }

    /** The string a lookup returns, or null if the library or the symbol is missing or the code is unknown to it. */
    private static String read(IntFunction<MemorySegment> lookup, int status) {
        try {
            return CStrings.read(lookup.apply(status));
        } catch (NativeLibraryUnavailableException e) {
            return null; // whyUnnamed() says which part is missing
        }
    }

    private String whyUnnamed() {
        if (!library.isAvailable()) {
            return library.name() + " is not loaded";
        }
        if (library.find(nameSymbol).isEmpty()) {
            return library.origin().orElseThrow() + " does not export " + nameSymbol;
        }
        return nameSymbol + " does not know this code";
    }
}
