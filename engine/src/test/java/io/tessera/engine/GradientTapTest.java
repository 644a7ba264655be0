package io.tessera.engine;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;

import io.tessera.engine.autograd.GradientTap;
import io.tessera.engine.autograd.Node;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * A {@link GradientTap} sees each op's output gradient for each input that requires grad, and an input it takes gets
 * no gradient through that op; the tape names the two layouts of a linear, and an embedding lists its indices.
 */
class GradientTapTest {
    private record Offer(String op, int input, float[] gradient) {}

    @Test
    void takenInputsGetNoGradientAndOthersTheUsualOne() {
        long before = HostStorage.liveBytes();
        try (TensorScope scope = TensorScope.open()) {
            Tensor w = Tensor.of(new float[] {1, 2, 3, 4, 5, 6}, 3, 2).requiresGrad(true);
            Tensor wt = Tensor.of(new float[] {1, 2, 3, 4, 5, 6}, 2, 3).requiresGrad(true);
            Tensor b = Tensor.of(new float[] {0.5f, -1}, 2).requiresGrad(true);
            Tensor x = Tensor.of(new float[] {1, -1, 2, 0, 1, 1}, 2, 3);
            List<Offer> offers = new ArrayList<>();
            GradientTap tap = (output, node, input, gradient) -> {
                offers.add(new Offer(node.op(), input, gradient.toFloatArray()));
                return node.op().equals(GradientTap.LINEAR_INPUT_MAJOR);
            };
            x.linear(wt, false).add(x.linear(w, true)).add(b).sum().backward(tap);
            assertNull(w.grad(), "taken at the linear: no gradient");
            assertArrayEquals(new float[] {2, 2}, b.grad().toFloatArray());
            assertArrayEquals(new float[] {1, 0, 3, 1, 0, 3}, wt.grad().toFloatArray(), "g^T x, as without a tap");
            Offer taken = offers.stream().filter(o -> o.op().equals(GradientTap.LINEAR_INPUT_MAJOR)).findFirst().orElseThrow();
            assertEquals(1, taken.input());
            assertArrayEquals(new float[] {1, 1, 1, 1}, taken.gradient(), "the gradient of the linear's output");
            assertEquals(1, offers.stream().filter(o -> o.op().equals(GradientTap.LINEAR) && o.input() == 1).count());
            w.zeroGrad();
            wt.zeroGrad();
            b.zeroGrad();
        }
        assertEquals(before, HostStorage.liveBytes(), "native bytes left");
    }

    @Test
    void embeddingRecordsItsIndices() {
        try (TensorScope scope = TensorScope.open()) {
            Tensor table = Tensor.zeros(4, 2).requiresGrad(true);
            Tensor ids = Tensor.of(new long[] {3, 1}, 2);
            Node node = Tensor.embedding(table, ids).gradFn();
            assertEquals("embedding", node.op());
            assertSame(table, node.inputs().get(0));
            assertSame(ids, node.inputs().get(1));
        }
    }
}
