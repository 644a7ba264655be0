package io.tessera.engine.nn;

import io.tessera.engine.Tensor;
import java.util.ArrayList;
import java.util.List;

/**
 * Linear layers with ReLU between them, named as torch.nn.Sequential(Linear, ReLU, Linear, ...) names
 * them: {@code 0.weight}, {@code 0.bias}, {@code 2.weight}, ... (the ReLUs take the odd indices).
 */
public final class Mlp extends Module implements Layer {
    private final int depth;

    /** sizes: input, hidden..., output; e.g. (784, 256, 10). */
    public Mlp(long seed, long... sizes) {
        if (sizes.length < 2) {
            throw new IllegalArgumentException("an MLP needs at least an input and an output size");
        }
        this.depth = sizes.length - 1;
        for (int i = 0; i < depth; i++) {
            child(layerName(i), Linear.of(sizes[i], sizes[i + 1], true, seed + i));
        }
    }

    private static String layerName(int i) {
        return String.valueOf(2 * i);
    }

    @Override
    public Tensor forward(Tensor x) {
        Tensor h = x;
        for (int i = 0; i < depth; i++) {
            h = child(layerName(i), Layer.class).forward(h);
            if (i + 1 < depth) {
                h = h.relu();
            }
        }
        return h;
    }

    /** The float32 Linear layers in order (throws if one was swapped, e.g. quantized). */
    public List<Linear> layers() {
        List<Linear> out = new ArrayList<>();
        for (int i = 0; i < depth; i++) {
            out.add(child(layerName(i), Linear.class));
        }
        return out;
    }
}
