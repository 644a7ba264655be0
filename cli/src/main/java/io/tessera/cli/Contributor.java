package io.tessera.cli;

import io.tessera.engine.data.FashionMnist;
import java.util.List;
import java.util.Set;

/** A demo contributor: someone who improves the base model on the classes they care about. */
record Contributor(String name, String description, Set<Integer> classes) {

    static final List<Contributor> DEMO = List.of(
            new Contributor("alice", "tops: T-shirt, pullover, coat, shirt", Set.of(0, 2, 4, 6)),
            new Contributor("bob", "footwear and bags: sandal, sneaker, bag, ankle boot", Set.of(5, 7, 8, 9)));

    /** The first {@code limit} examples of {@code data} whose label is one of this contributor's classes. */
    FashionMnist.Split task(FashionMnist.Split data, int limit) {
        int pixels = data.rows() * data.cols();
        byte[] images = new byte[limit * pixels];
        byte[] labels = new byte[limit];
        int n = 0;
        for (int i = 0; i < data.count() && n < limit; i++) {
            if (classes.contains(data.label(i))) {
                System.arraycopy(data.pixels(), i * pixels, images, n * pixels, pixels);
                labels[n++] = (byte) data.label(i);
            }
        }
        return new FashionMnist.Split(n, data.rows(), data.cols(), java.util.Arrays.copyOf(images, n * pixels),
                java.util.Arrays.copyOf(labels, n));
    }

    int[] labels(FashionMnist.Split task) {
        int[] out = new int[task.count()];
        for (int i = 0; i < out.length; i++) {
            out[i] = task.label(i);
        }
        return out;
    }
}
