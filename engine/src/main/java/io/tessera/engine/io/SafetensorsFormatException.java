package io.tessera.engine.io;

import java.io.IOException;

/**
 * A safetensors file that is not well formed: truncated, an oversized or unparsable header, offsets
 * outside the data section, overlapping or leaving bytes unindexed (a hole or trailing bytes), a
 * dtype/shape/size disagreement, an unsupported dtype. The message names the file and, where one is
 * involved, the tensor. An {@link IOException} (like
 * {@code java.util.zip.ZipException}) so that one {@code catch (IOException e)} handles both an unreadable
 * and a malformed file.
 */
public class SafetensorsFormatException extends IOException {
    private static final long serialVersionUID = 1L;

    public SafetensorsFormatException(String message) {
        super(message);
    }

    public SafetensorsFormatException(String message, Throwable cause) {
        super(message, cause);
    }
}
