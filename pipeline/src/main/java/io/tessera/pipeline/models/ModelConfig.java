package io.tessera.pipeline.models;

import io.tessera.engine.nn.Activation;

/**
 * The shape of a decoder-only transformer, as read from a Hugging Face {@code config.json} by {@link HfConfig}.
 *
 * @param modelType      {@code gpt2}, {@code llama}, {@code mistral} or {@code qwen2}
 * @param headDim        per-head width ({@code head_dim}, else hidden / heads)
 * @param intermediateSize the MLP's hidden width (GPT-2's {@code n_inner}, by default 4 * hidden)
 * @param activation     the MLP's activation (GPT-2's {@code activation_function}; LLaMA's SiLU of the gate)
 * @param normEps        GPT-2's {@code layer_norm_epsilon} or LLaMA's {@code rms_norm_eps}
 * @param ropeTheta      RoPE base (LLaMA family only)
 * @param ropeScaling    the {@code llama3} RoPE scaling, or null for none
 * @param qkvBias        biases on q/k/v projections (Qwen2)
 * @param slidingWindow  Mistral's attention window, or 0 for none
 */
public record ModelConfig(String modelType, long vocabSize, long hiddenSize, long intermediateSize, Activation activation, int layers,
        int heads, int kvHeads, long headDim, long maxPositions, double normEps, double ropeTheta, Llama3Scaling ropeScaling,
        boolean tieWordEmbeddings, boolean qkvBias, long slidingWindow) {

    /** The {@code llama3} {@code rope_scaling} parameters. */
    public record Llama3Scaling(double factor, double lowFreqFactor, double highFreqFactor, long originalMaxPositions) {}

    public boolean isGpt2() {
        return modelType.equals("gpt2");
    }

    /** A GPT-2 of the given shape (tied head, eps 1e-5, MLP 4 * hidden with tanh GELU). */
    public static ModelConfig gpt2(long vocab, long hidden, int layers, int heads, long positions) {
        return new ModelConfig("gpt2", vocab, hidden, 4 * hidden, Activation.GELU_TANH, layers, heads, heads, hidden / heads, positions,
                1e-5, 0, null, true, false, 0);
    }

    /** A LLaMA of the given shape (rms eps 1e-6, rope theta 10000, no scaling, untied head). */
    public static ModelConfig llama(long vocab, long hidden, long intermediate, int layers, int heads, int kvHeads, long positions) {
        return new ModelConfig("llama", vocab, hidden, intermediate, Activation.SILU, layers, heads, kvHeads, hidden / heads, positions,
                1e-6, 10000, null, false, false, 0);
    }

    /** The shapes benchmarks and {@code tessera create-model} name: GPT-2 small (124M) and TinyLlama-1.1B. */
    public static ModelConfig preset(String name) {
        return switch (name) {
            case "gpt2-small" -> gpt2(50257, 768, 12, 12, 1024);
            case "tinyllama" -> llama(32000, 2048, 5632, 22, 32, 4, 2048);
            default -> throw new IllegalArgumentException("unknown model shape '" + name + "': gpt2-small or tinyllama");
        };
    }

    public ModelConfig withRopeScaling(Llama3Scaling scaling) {
        return new ModelConfig(modelType, vocabSize, hiddenSize, intermediateSize, activation, layers, heads, kvHeads, headDim,
                maxPositions, normEps, ropeTheta, scaling, tieWordEmbeddings, qkvBias, slidingWindow);
    }

    public ModelConfig withTiedEmbeddings(boolean tied) {
        return new ModelConfig(modelType, vocabSize, hiddenSize, intermediateSize, activation, layers, heads, kvHeads, headDim,
                maxPositions, normEps, ropeTheta, ropeScaling, tied, qkvBias, slidingWindow);
    }
}
