package io.tessera.engine;

import java.util.Arrays;
import java.util.Locale;
import java.util.stream.Collectors;

/**
 * Element types. {@link #code} is the number the native kernels use (kernels/include/tessera/ts_ops.h);
 * {@link #safetensorsName} is the name in safetensors headers. Compute kernels run in F32; the other
 * types are for storage, indices, masks and quantized weights, and convert with {@code Tensor.to}
 * (the rules are in kernels/include/tessera/ts_convert.h).
 */
public enum DType {
    F32(0, 4, "F32", true),
    BF16(1, 2, "BF16", true),
    F16(2, 2, "F16", true),
    I8(3, 1, "I8", false),
    U8(4, 1, "U8", false),
    BOOL(5, 1, "BOOL", false),
    I32(6, 4, "I32", false),
    I64(7, 8, "I64", false),
    F64(8, 8, "F64", true),
    I16(9, 2, "I16", false),
    U16(10, 2, "U16", false),
    U32(11, 4, "U32", false),
    U64(12, 8, "U64", false);

    private final int code;
    private final int byteSize;
    private final String safetensorsName;
    private final boolean floating;

    DType(int code, int byteSize, String safetensorsName, boolean floating) {
        this.code = code;
        this.byteSize = byteSize;
        this.safetensorsName = safetensorsName;
        this.floating = floating;
    }

    public int code() {
        return code;
    }

    public int byteSize() {
        return byteSize;
    }

    public String safetensorsName() {
        return safetensorsName;
    }

    public boolean isFloatingPoint() {
        return floating;
    }

    /** The dtype a safetensors header names, or an exception naming the tensor and the unknown type. */
    public static DType fromSafetensors(String name, String tensorName) {
        for (DType d : values()) {
            if (d.safetensorsName.equals(name)) {
                return d;
            }
        }
        throw new IllegalArgumentException("tensor '" + tensorName + "' has unsupported dtype '" + name + "' (supported: "
                + Arrays.stream(values()).map(DType::safetensorsName).collect(Collectors.joining(", ")) + ")");
    }

    @Override
    public String toString() {
        return name().toLowerCase(Locale.ROOT);
    }
}
