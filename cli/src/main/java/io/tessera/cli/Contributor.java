package io.tessera.cli;

import io.tessera.data.FashionMnist;
import java.util.List;
import java.util.Set;

/** A demo contributor: someone who improves the base model on the classes they care about. */
record Contributor(String name, String description, Set<Integer> classes) {

    static final List<Contributor> DEMO = List.of(
            new Contributor("alice", "tops: T-shirt, pullover, coat, shirt", Set.of(0, 2, 4, 6)),
            new Contributor("bob", "footwear and bags: sandal, sneaker, bag, ankle boot", Set.of(5, 7, 8, 9)));

    /** The first {@code limit} examples of {@code data} whose label is one of this contributor's classes. */
    FashionMnist.Split task(FashionMnist.Split data, int limit) {
        return data.withLabels(classes, limit);
    }

    /**
     * Their task's first {@code limit} examples interleaved with as many examples of every class (from the
     * end of {@code data}), so fine-tuning improves their classes without unlearning the others.
     */
    FashionMnist.Split withReplay(FashionMnist.Split data, int limit) {
        FashionMnist.Split task = task(data, limit);
        int pixels = data.rows() * data.cols();
        int n = 2 * task.count();
        byte[] images = new byte[n * pixels];
        byte[] labels = new byte[n];
        for (int i = 0; i < task.count(); i++) {
            int general = data.count() - 1 - i;
            System.arraycopy(task.pixels(), i * pixels, images, 2 * i * pixels, pixels);
            labels[2 * i] = (byte) task.label(i);
            System.arraycopy(data.pixels(), general * pixels, images, (2 * i + 1) * pixels, pixels);
            labels[2 * i + 1] = (byte) data.label(general);
        }
        return new FashionMnist.Split(n, data.rows(), data.cols(), images, labels);
    }
}
