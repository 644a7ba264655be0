package io.tessera.engine.nn;

import io.tessera.engine.Tensor;
import java.util.ArrayList;
import java.util.List;

/**
 * Linear layers with ReLU between them, named as torch.nn.Sequential(Linear, ReLU, Linear, ...) names
 * them: {@code 0.weight}, {@code 0.bias}, {@code 2.weight}, ... (the ReLUs take the odd indices).
 */
public final class Mlp extends Module {
    private final List<Linear> layers = new ArrayList<>();

    /** sizes: input, hidden..., output; e.g. (784, 256, 10). */
    public Mlp(long seed, long... sizes) {
        if (sizes.length < 2) {
            throw new IllegalArgumentException("an MLP needs at least an input and an output size");
        }
        for (int i = 0; i + 1 < sizes.length; i++) {
            layers.add(child(String.valueOf(2 * i), Linear.of(sizes[i], sizes[i + 1], true, seed + i)));
        }
    }

    public Tensor forward(Tensor x) {
        Tensor h = x;
        for (int i = 0; i < layers.size(); i++) {
            h = layers.get(i).forward(h);
            if (i + 1 < layers.size()) {
                h = h.relu();
            }
        }
        return h;
    }

    public List<Linear> layers() {
        return List.copyOf(layers);
    }
}
