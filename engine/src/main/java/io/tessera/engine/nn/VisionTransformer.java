package io.tessera.engine.nn;

import io.tessera.engine.Tensor;

/**
 * A small vision transformer classifier (ViT, Dosovitskiy et al.) for square one-channel images given as flat rows
 * of pixels, as {@link Mlp} takes them: the image is cut into non-overlapping square patches, each patch's pixels
 * go through {@code patch_embed} (a Linear to the model width) plus a learned position ({@code pos_embed}), then
 * pre-norm {@linkplain TransformerBlock#bidirectional bidirectional} blocks {@code h.0, h.1, ...}, {@code ln_f},
 * the mean over the patches, and the Linear {@code head} to the class logits. Mean pooling rather than a class
 * token keeps every parameter's use either a Linear or a broadcast add, so per-example gradients (Fisher) take
 * their fast paths.
 */
public final class VisionTransformer extends Module implements Layer {
    private final Config config;

    /**
     * The shape of a model: {@code image} x {@code image} pixels cut into {@code patch} x {@code patch} patches,
     * width {@code dim}, {@code heads} attention heads, {@code layers} blocks, {@code classes} outputs.
     */
    public record Config(int image, int patch, long dim, long heads, int layers, long classes) {
        public Config {
            if (image < 1 || patch < 1 || image % patch != 0) {
                throw new IllegalArgumentException("ViT: image side " + image + " must be a positive multiple of the patch side " + patch);
            }
            if (dim < 1 || heads < 1 || dim % heads != 0 || layers < 1 || classes < 1) {
                throw new IllegalArgumentException("ViT: dim " + dim + " must be a positive multiple of heads " + heads
                        + ", with layers " + layers + " and classes " + classes + " >= 1");
            }
        }

        /** Patches per side of the image. */
        public int grid() {
            return image / patch;
        }

        /** Patches per image: the sequence length the blocks see. */
        public long patches() {
            return (long) grid() * grid();
        }

        public long pixels() {
            return (long) image * image;
        }
    }

    public VisionTransformer(Config config, long seed) {
        this.config = config;
        long d = config.dim();
        child("patch_embed", Linear.of((long) config.patch() * config.patch(), d, true, seed));
        parameter("pos_embed", new long[] {config.patches(), d}, () -> Init.normal(seed, 1L << 44, 0.02, config.patches(), d));
        for (int i = 0; i < config.layers(); i++) {
            child("h." + i, TransformerBlock.bidirectional(d, config.heads(), 1e-5, seed + 10L * (i + 1)));
        }
        child("ln_f", new LayerNorm(d));
        child("head", Linear.of(d, config.classes(), true, seed + 7));
    }

    public Config config() {
        return config;
    }

    /** Images [batch, image * image] -> logits [batch, classes]. */
    @Override
    public Tensor forward(Tensor x) {
        if (x.rank() != 2 || x.dim(1) != config.pixels()) {
            throw new IllegalArgumentException("ViT: input " + x.describe() + " should be [batch, " + config.pixels() + "] ("
                    + config.image() + " x " + config.image() + " pixels per row)");
        }
        long batch = x.dim(0);
        int g = config.grid();
        int p = config.patch();
        // [b, rows of patches, pixel row, patch column, pixel column] -> one row of p*p pixels per patch
        Tensor patches = x.reshape(batch, g, p, g, p).permute(0, 1, 3, 2, 4).contiguous().reshape(batch, config.patches(), (long) p * p);
        Tensor h = child("patch_embed", Layer.class).forward(patches).add(parameter("pos_embed"));
        for (int i = 0; i < config.layers(); i++) {
            h = child("h." + i, TransformerBlock.class).forward(h, null);
        }
        Tensor pooled = child("ln_f", LayerNorm.class).forward(h).mean(false, 1);
        return child("head", Layer.class).forward(pooled);
    }
}
