package io.tessera.pipeline.models;

import java.util.regex.Pattern;

/**
 * Tensor names as Hugging Face writes them versus the models' own ({@link CausalLm#stateDict()}): GPT-2's
 * carry a {@code transformer.} prefix, the LLaMA family's a {@code model.} prefix except {@code lm_head};
 * checkpoints may have them or not, and may carry buffers that are not parameters.
 */
final class HfNames {
    /** GPT-2's attention masks and LLaMA's RoPE frequencies: derived from the config, never loaded. */
    private static final Pattern IGNORED = Pattern.compile("(.*\\.)?(attn\\.bias|attn\\.masked_bias|rotary_emb\\.inv_freq)");

    static final String LM_HEAD = "lm_head.weight";

    private HfNames() {}

    static boolean ignored(String fileName) {
        return IGNORED.matcher(fileName).matches();
    }

    /** The model's name for a checkpoint's tensor name. */
    static String local(String fileName) {
        for (String prefix : new String[] {"transformer.", "model."}) {
            if (fileName.startsWith(prefix)) {
                return fileName.substring(prefix.length());
            }
        }
        return fileName;
    }

    /** The name Hugging Face's loader expects for a model's parameter. */
    static String hf(ModelConfig config, String local) {
        if (config.isGpt2()) {
            return "transformer." + local;
        }
        return local.startsWith("lm_head.") ? local : "model." + local; // lm_head.weight, or an int8 head's weight_scale
    }
}
