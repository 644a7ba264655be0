"""The whole-model decode contexts and prompt lengths both sides measure, and the peer result key of each (shared by peer.py
and report.py)."""

# the new token attends to this many positions (ModelDecodeBenchmark's context param)
DECODE_CONTEXTS = (128, 1024)


def context_suffix(ctx):
    """The peer result key's suffix for a decode context: none at 128 (the keys older runs used), else _ctx<N>."""
    return "" if ctx == 128 else f"_ctx{ctx}"


# batched decoding (BatchedDecodeBenchmark's batch param): this many prompts at once, each attending to BATCHED_CONTEXT
# positions (batch 1 is ModelDecodeBenchmark's row at context 128)
DECODE_BATCHES = (4, 8, 16)
BATCHED_CONTEXT = 128


def batch_suffix(batch):
    """The peer result key's suffix for a batched decode row."""
    return f"_b{batch}"


# prompt processing (ModelPrefillBenchmark's tokens param): a prompt of this many ids into an empty cache
PREFILL_TOKENS = (128, 1024)


def prefill_key(decode_key, tokens):
    """The peer result key of a prefill row, from the decode row's key of the same model and weights."""
    return decode_key.replace("model_decode", "model_prefill") + f"_t{tokens}"


# prompts of unequal lengths left-padded into one batch (PaddedPrefillBenchmark's lengths param), GPT-2 small in F32
PADDED_PREFILL_LENGTHS = (1000, 400)


def padded_prefill_key(lengths):
    """The peer result key of the padded-batch prefill row."""
    return "model_padded_prefill_" + "_".join(map(str, lengths))


# Jlama's weights beside Tessera's: the same F32 and BF16 directories, and its own 4-bit format (it has no int8 weights)
JLAMA_WEIGHTS = ("f32", "bf16")
JLAMA_Q4 = "q4"


# llama.cpp's GGUF weights beside Tessera's (bench/llamacpp-peer): F32, BF16, and Q8_0 beside int8 everywhere
LLAMACPP_WEIGHTS = ("f32", "bf16", "int8-all")


def engine_key(model, weights, ctx):
    """The result key of bench/jlama-peer (JlamaPeer.key spells it the same) and bench/llamacpp-peer (its run script
    too) for a ModelDecodeBenchmark model, weights and context."""
    return f"{model}/{weights}/ctx{ctx}"
