package io.tessera.engine.nn;

import io.tessera.engine.Tensor;

/**
 * A pre-norm GPT-2 block: x + attn(ln_1(x)), then + mlp(ln_2(x)), with GPT-2's parameter names
 * ({@code ln_1}, {@code attn.c_attn}, {@code attn.c_proj}, {@code ln_2}, {@code mlp.c_fc}, {@code mlp.c_proj})
 * and its tanh GELU.
 */
public final class TransformerBlock extends Module {
    private final LayerNorm ln1;
    private final CausalSelfAttention attn;
    private final LayerNorm ln2;
    private final FeedForward mlp;

    public TransformerBlock(long dim, long heads, long seed) {
        this(dim, heads, 1e-5, seed);
    }

    /** A block whose layer norms use {@code eps} (GPT-2's {@code layer_norm_epsilon}). */
    public TransformerBlock(long dim, long heads, double eps, long seed) {
        this(dim, heads, 4 * dim, Activation.GELU_TANH, eps, true, seed);
    }

    /** A block whose MLP is dim -> {@code mlpWidth} -> dim with {@code activation} between (GPT-2's {@code n_inner} and
     * {@code activation_function}). */
    public TransformerBlock(long dim, long heads, long mlpWidth, Activation activation, double eps, long seed) {
        this(dim, heads, mlpWidth, activation, eps, true, seed);
    }

    /** An encoder block: the same layout with {@linkplain CausalSelfAttention#bidirectional bidirectional} attention. */
    public static TransformerBlock bidirectional(long dim, long heads, double eps, long seed) {
        return new TransformerBlock(dim, heads, 4 * dim, Activation.GELU_TANH, eps, false, seed);
    }

    private TransformerBlock(long dim, long heads, long mlpWidth, Activation activation, double eps, boolean causal, long seed) {
        ln1 = child("ln_1", new LayerNorm(dim, eps));
        attn = child("attn", causal ? new CausalSelfAttention(dim, heads, seed) : CausalSelfAttention.bidirectional(dim, heads, seed));
        ln2 = child("ln_2", new LayerNorm(dim, eps));
        mlp = child("mlp", new FeedForward(dim, mlpWidth, activation, seed + 2));
    }

    public CausalSelfAttention attention() {
        return attn;
    }

    public Tensor forward(Tensor x, KvCache cache) {
        return forward(x, cache, null);
    }

    /** A forward of a left-padded batch ({@link CausalSelfAttention#forward(Tensor, KvCache, long[])}). */
    public Tensor forward(Tensor x, KvCache cache, long[] firstKeys) {
        Tensor h = x.add(attn.forward(ln1.forward(x), cache, firstKeys));
        return h.add(mlp.forward(ln2.forward(h)));
    }

    /** GPT-2's MLP: c_fc (d -> hidden), the activation, c_proj (hidden -> d). */
    static final class FeedForward extends Module {
        private final Activation activation;

        FeedForward(long dim, long hidden, Activation activation, long seed) {
            this.activation = activation;
            child("c_fc", Linear.conv1d(dim, hidden, seed));
            child("c_proj", Linear.conv1d(hidden, dim, seed + 1));
        }

        Tensor forward(Tensor x) {
            return child("c_proj", Layer.class).forward(activation.apply(child("c_fc", Layer.class).forward(x)));
        }
    }
}
