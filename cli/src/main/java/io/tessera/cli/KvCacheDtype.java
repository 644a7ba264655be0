package io.tessera.cli;

import io.tessera.engine.DType;
import picocli.CommandLine.ITypeConverter;
import picocli.CommandLine.TypeConversionException;

/** The value of a --kv-cache option: f32 or f16, the dtypes a KV cache can hold its keys and values in. */
final class KvCacheDtype implements ITypeConverter<DType> {
    /** The option's description after its first words, the same for every command that takes it. */
    static final String CHOICES = " f32 (the default; the logits of PyTorch's model) or f16 (half the memory, and half the"
            + " bytes each decoding step's attention reads, as llama.cpp's default cache; logits move by up to about 3e-4 of"
            + " their range).";

    @Override
    public DType convert(String value) {
        return switch (value) {
            case "f32" -> DType.F32;
            case "f16" -> DType.F16;
            default -> throw new TypeConversionException("--kv-cache must be f32 or f16, got '" + value + "'");
        };
    }
}
