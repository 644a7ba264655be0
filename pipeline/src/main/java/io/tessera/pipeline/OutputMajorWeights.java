package io.tessera.pipeline;

import io.tessera.engine.DType;
import io.tessera.engine.Tensor;
import io.tessera.engine.TensorScope;
import io.tessera.engine.nn.Linear;
import io.tessera.engine.nn.Module;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;

/**
 * Stores the F32 weights of a model's input-major layers (GPT-2's Conv1D, [in, out]) output-major, for inference.
 *
 * <p>Decoding multiplies one row by each weight, and the GEMV that reads a weight one output channel at a time (each
 * channel's inputs contiguous) streams it faster than the one that reads it one input row at a time: on the Zen 5 CI
 * machine, 1.17-1.24x over the same bytes (docs/PERFORMANCE.md). {@link HalfLinear} stores its BF16 weights that way
 * for the same reason. Each weight here becomes an [in, out] view of a new [out, in]-contiguous copy: the parameter keeps
 * its name, shape and values (state dict, digests and products read it as before), and the backend's products take the
 * transposed view as an output-major operand without a copy.
 */
public final class OutputMajorWeights {
    private OutputMajorWeights() {}

    /**
     * Relayouts every input-major {@link Linear} of {@code model} whose weight is F32 and contiguous. {@code replaced}
     * sees each old weight after it was copied and before the model closes it (e.g. to drop the pages a memory-mapped
     * checkpoint read for it). Returns the dotted paths of the layers relayouted.
     */
    public static List<String> relayout(Module model, Consumer<Tensor> replaced) {
        List<String> paths = new ArrayList<>();
        model.transform((path, child) -> {
            if (child instanceof Linear linear && linear.inputMajor() && linear.weight().dtype() == DType.F32
                    && linear.weight().isContiguous()) {
                Tensor weight = linear.weight();
                Tensor copy = TensorScope.outside(() -> weight.detach().transposedCopy()); // owned by the layer, not a scope
                replaced.accept(weight);
                linear.adoptParameters(Map.of("weight", copy));
                paths.add(path);
            }
            return child;
        });
        return paths;
    }
}
