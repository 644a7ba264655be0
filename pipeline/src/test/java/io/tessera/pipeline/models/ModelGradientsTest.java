package io.tessera.pipeline.models;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tessera.engine.HostStorage;
import io.tessera.engine.Tensor;
import io.tessera.engine.TensorScope;
import java.io.IOException;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

/** The causal-LM loss of a model backpropagates into every parameter, also when they are views of a mapped checkpoint. */
class ModelGradientsTest {
    @AfterAll
    static void noLeaks() {
        assertEquals(0, HostStorage.liveBytes(), "native bytes still allocated");
    }

    @Test
    void everyParameterGetsAGradient() throws IOException {
        for (String fixture : new String[] {"gpt2-tiny", "gpt2-tiny-gelu", "llama-tiny", "qwen2-tiny-bf16"}) {
            try (CausalLm model = HfCheckpoint.load(ReferenceLogitsTest.fixture(fixture)); TensorScope scope = TensorScope.open()) {
                Tensor ids = Tensor.of(new long[] {5, 17, 42, 3, 88, 11, 60, 29, 1, 2, 3, 4}, 2, 6);
                Tensor logits = model.forward(ids.slice(1, 0, 5), null);
                logits.reshape(10, model.config().vocabSize()).crossEntropy(ids.slice(1, 1, 6).reshape(10)).backward();
                for (var entry : model.namedParameters().entrySet()) {
                    Tensor g = entry.getValue().grad();
                    assertTrue(g != null && g.sumSquares(false).item() > 0, fixture + ": no gradient reached " + entry.getKey());
                }
                model.zeroGrad();
            }
        }
    }
}
