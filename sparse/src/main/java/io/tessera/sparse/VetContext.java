package io.tessera.sparse;

import io.tessera.engine.Tensor;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/**
 * What {@link Vetting} may compare a patch with beyond its base; every part is optional, and the items it
 * feeds are reported as skipped without it.
 *
 * @param accepted patches accepted before (against this base or earlier ones): the history of normal change
 *        sizes the robust z-scores measure against
 * @param pending other patches waiting for review, to catch duplicates and sybils by their cosine
 * @param rootGradient the gradient of the loss on the maintainer's small clean root set, at the base (same
 *        names and shapes as the model); its negative is the reference update (FLTrust's, one step)
 * @param rootFisher the diagonal Fisher on that root set: where the model's behaviour on clean data lives
 * @param classifier the base's held-out predictions, for per-class metrics and trigger probes
 */
public record VetContext(List<Path> accepted, List<Path> pending, Map<String, Tensor> rootGradient,
                         Map<String, Tensor> rootFisher, Classifier classifier) {

    /** Nothing but the base. */
    public static final VetContext NONE = new VetContext(List.of(), List.of(), null, null, null);

    public VetContext {
        accepted = List.copyOf(accepted);
        pending = List.copyOf(pending);
    }

    /**
     * A classifier's forward on held-out examples: clean, and stamped with trigger patterns (canaries a
     * backdoor would react to).
     */
    public interface Classifier {
        /** The key of the unstamped examples in {@link #predict}'s result. */
        String CLEAN = "clean";

        /** The true class of each held-out example. */
        int[] labels();

        int classes();

        /**
         * The predicted class of each held-out example under {@code weights}: under {@link #CLEAN}, and under
         * each trigger pattern's name for the same examples stamped with it.
         */
        Map<String, int[]> predict(Map<String, Tensor> weights);
    }
}
