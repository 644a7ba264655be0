package io.tessera.ffi;

/**
 * A CUDA driver, cuBLAS or cuBLASLt call returned a status other than success. Carries the library, the raw
 * status, the library's own name for it ({@code cuGetErrorName} / {@code cublasGetStatusName}) and the
 * call that failed. Thrown by {@link CudaDriver#check}, {@link Cublas#check} and {@link CublasLt#check}.
 */
public final class CudaException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    /** Which library returned the status; each numbers its statuses separately. */
    public enum Library {
        DRIVER("CUresult"),
        CUBLAS("cublasStatus"),
        CUBLASLT("cublasStatus");

        private final String statusType;

        Library(String statusType) {
            this.statusType = statusType;
        }

        /** The fallback name of a status the library cannot name, e.g. "CUresult 2". */
        public String fallbackName(int status) {
            return statusType + " " + status;
        }
    }

    private final Library library;
    private final int status;
    private final String errorName;
    private final String call;

    /**
     * A status the library named, e.g. "cuMemAlloc_v2 failed: CUDA_ERROR_OUT_OF_MEMORY (CUresult 2): out of memory".
     *
     * @param description the library's sentence for the status, or null if it has none
     */
    public static CudaException named(Library library, int status, String call, String errorName, String description) {
        return new CudaException(library, status, call, errorName,
                call + " failed: " + errorName + " (" + library.fallbackName(status) + ")"
                        + (description == null ? "" : ": " + description));
    }

    /**
     * A status the library could not name, e.g. "cuMemAlloc_v2 failed: CUresult 2 (error name unavailable:
     * libcuda.so.1 is not loaded)". {@link #errorName()} is then {@link Library#fallbackName}.
     */
    public static CudaException unnamed(Library library, int status, String call, String whyUnnamed) {
        String name = library.fallbackName(status);
        return new CudaException(library, status, call, name, call + " failed: " + name + " (error name unavailable: " + whyUnnamed + ")");
    }

    private CudaException(Library library, int status, String call, String errorName, String message) {
        super(message);
        this.library = library;
        this.status = status;
        this.errorName = errorName;
        this.call = call;
    }

    public Library library() {
        return library;
    }

    /** The raw CUresult or cublasStatus_t. */
    public int status() {
        return status;
    }

    /** The library's name for the status (e.g. "CUDA_ERROR_OUT_OF_MEMORY"), or "CUresult 2" if it could not say. */
    public String errorName() {
        return errorName;
    }

    /** The C function that returned the status, e.g. "cuMemAlloc_v2". */
    public String call() {
        return call;
    }
}
