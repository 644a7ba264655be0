package io.tessera.pipeline.models;

import io.tessera.engine.Device;
import io.tessera.engine.Tensor;
import io.tessera.engine.TensorScope;

/**
 * Rotary position embedding in the rotate-half convention (Hugging Face LLaMA): for x [..., t, headDim] at
 * positions p, x * cos(p f) + rotateHalf(x) * sin(p f), with frequencies f = theta^(-2i / headDim), adjusted by
 * the {@code llama3} scaling when the config has one. The cos/sin tables for every position are computed once
 * (in double, stored as F32).
 */
final class Rope implements AutoCloseable {
    private final Tensor cos;
    private final Tensor sin;
    private final long headDim;

    /** Tables for {@code config}'s positions, on {@code device} (the model's). */
    Rope(ModelConfig config, Device device) {
        headDim = config.headDim();
        if (headDim % 2 != 0) {
            throw new IllegalArgumentException("RoPE needs an even head dim, got " + headDim);
        }
        double[] freq = frequencies(config);
        int positions = (int) config.maxPositions();
        int half = freq.length;
        float[] c = new float[positions * 2 * half];
        float[] s = new float[c.length];
        for (int p = 0; p < positions; p++) {
            for (int i = 0; i < half; i++) {
                double angle = p * freq[i];
                int at = p * 2 * half + i;
                c[at] = c[at + half] = (float) Math.cos(angle);
                s[at] = s[at + half] = (float) Math.sin(angle);
            }
        }
        cos = table(c, positions, 2L * half, device);
        sin = table(s, positions, 2L * half, device);
    }

    /** values as a [rows, cols] tensor on {@code device}, owned by the caller whatever scope is open. */
    private static Tensor table(float[] values, long rows, long cols, Device device) {
        Tensor host = TensorScope.outside(() -> Tensor.of(values, rows, cols));
        if (device.equals(Device.CPU)) {
            return host;
        }
        try {
            return TensorScope.outside(() -> host.to(device));
        } finally {
            host.close();
        }
    }

    /** The inverse frequencies, as Hugging Face's {@code _compute_default_rope_parameters} / {@code _compute_llama3_parameters}. */
    static double[] frequencies(ModelConfig config) {
        int half = (int) (config.headDim() / 2);
        double[] freq = new double[half];
        for (int i = 0; i < half; i++) {
            freq[i] = 1 / Math.pow(config.ropeTheta(), 2.0 * i / config.headDim());
        }
        ModelConfig.Llama3Scaling s = config.ropeScaling();
        if (s != null) {
            double lowFreqWavelen = s.originalMaxPositions() / s.lowFreqFactor();
            double highFreqWavelen = s.originalMaxPositions() / s.highFreqFactor();
            for (int i = 0; i < half; i++) {
                double wavelen = 2 * Math.PI / freq[i];
                if (wavelen > lowFreqWavelen) {
                    freq[i] /= s.factor();
                } else if (wavelen >= highFreqWavelen) {
                    double smooth = (s.originalMaxPositions() / wavelen - s.lowFreqFactor()) / (s.highFreqFactor() - s.lowFreqFactor());
                    freq[i] = (1 - smooth) * freq[i] / s.factor() + smooth * freq[i];
                }
            }
        }
        return freq;
    }

    /** x [batch, t, heads, headDim] rotated for its positions (one fused kernel, differentiable). */
    Tensor apply(Tensor x, Positions positions) {
        return Tensor.rope(x, cos, sin, positions.ids());
    }

    @Override
    public void close() {
        cos.close();
        sin.close();
    }
}
