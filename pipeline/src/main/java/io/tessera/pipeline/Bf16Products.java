package io.tessera.pipeline;

/** How a {@link HalfLinear} multiplies its F32 input by its BF16 weight. */
public enum Bf16Products {
    /**
     * The input as it is: the stored BF16 values times F32 activations, summed in F32, which is the F32 model's result
     * with the same weights up to summation order ({@link io.tessera.engine.Backend#matmulHalfWeight}).
     */
    EXACT,
    /**
     * The input rounded to BF16 first, as PyTorch's BF16 models compute: each activation off by up to 2^-9 of its
     * value; on CPUs with AVX-512 BF16, prompts run on {@code vdpbf16ps} at about twice the F32 rate
     * ({@link io.tessera.engine.Backend#matmulBf16Rounded}).
     */
    ROUNDED_INPUTS
}
