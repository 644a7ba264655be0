package io.tessera.pipeline.models;

import io.tessera.engine.Tensor;
import io.tessera.engine.nn.Layer;
import io.tessera.engine.nn.Linear;
import io.tessera.engine.nn.Module;

/** LLaMA's MLP: down_proj(silu(gate_proj(x)) * up_proj(x)), all Linear without bias. */
final class SwiGlu extends Module {
    SwiGlu(long dim, long hidden, long seed) {
        child("gate_proj", Linear.of(dim, hidden, false, seed));
        child("up_proj", Linear.of(dim, hidden, false, seed + 1));
        child("down_proj", Linear.of(hidden, dim, false, seed + 2));
    }

    Tensor forward(Tensor x) {
        Tensor gated = child("gate_proj", Layer.class).forward(x).silu().mul(child("up_proj", Layer.class).forward(x));
        return child("down_proj", Layer.class).forward(gated);
    }
}
