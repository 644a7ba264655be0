package io.tessera.sparse;

import io.tessera.engine.io.SafetensorsFormatException;

/**
 * A mask or patch file that is well-formed safetensors but not a valid mask or patch: wrong or missing
 * metadata, a checksum mismatch, indices unsorted or out of range, values of the wrong dtype or count,
 * a corrupt zstd stream. The message names the file and, where one is involved, the tensor. A
 * {@link SafetensorsFormatException}, so one catch handles every malformed file.
 */
public class SparseFormatException extends SafetensorsFormatException {
    private static final long serialVersionUID = 1L;

    public SparseFormatException(String message) {
        super(message);
    }

    public SparseFormatException(String message, Throwable cause) {
        super(message, cause);
    }
}
