"""Writes a Hugging Face GPT-2 or LLaMA directory (config.json + model.safetensors, as `tessera create-model` writes
them) as a GGUF file for llama.cpp: F32, BF16 or Q8_0 weights (norms and biases F32, as llama.cpp's own converter
keeps them), tensor names and the q/k row order as llama.cpp's convert_hf_to_gguf.py writes them, and a synthetic
SentencePiece vocabulary of the model's size (<unk>, <s>, </s>, the 256 byte tokens, then "▁t<id>"): the benchmark
feeds token ids, but llama.cpp's bindings need a tokenizer to load.

    python hf_to_gguf.py MODEL_DIR OUT.gguf {f32,bf16,q8_0}
"""
import json
import sys

import gguf
import numpy as np


def load_file(path):
    """A safetensors file's F32 and BF16 tensors (BF16 as raw 16-bit words), memory-mapped."""
    raw = np.memmap(path, dtype=np.uint8, mode="r")
    size = int(raw[:8].view(np.uint64)[0])
    header = json.loads(bytes(raw[8:8 + size]))
    header.pop("__metadata__", None)
    types = {"F32": np.float32, "BF16": np.uint16}
    return {name: raw[8 + size + e["data_offsets"][0]:8 + size + e["data_offsets"][1]].view(types[e["dtype"]]).reshape(e["shape"])
            for name, e in header.items()}


def permute(w, heads):
    """HF's rotate-half q/k rows to llama.cpp's interleaved RoPE order (convert_hf_to_gguf.py's LlamaModel.permute)."""
    return w.reshape(heads, 2, w.shape[0] // heads // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def f32(tensors, name):
    t = tensors[name]
    if t.dtype == np.uint16:  # BF16
        t = (t.astype(np.uint32) << 16).view(np.float32)
    return t.astype(np.float32)


def llama_tensors(c, t):
    p = "model."
    yield "token_embd.weight", f32(t, p + "embed_tokens.weight"), True
    for i in range(c["num_hidden_layers"]):
        h = f"{p}layers.{i}."
        b = f"blk.{i}."
        yield b + "attn_norm.weight", f32(t, h + "input_layernorm.weight"), False
        yield b + "attn_q.weight", permute(f32(t, h + "self_attn.q_proj.weight"), c["num_attention_heads"]), True
        yield b + "attn_k.weight", permute(f32(t, h + "self_attn.k_proj.weight"), c["num_key_value_heads"]), True
        yield b + "attn_v.weight", f32(t, h + "self_attn.v_proj.weight"), True
        yield b + "attn_output.weight", f32(t, h + "self_attn.o_proj.weight"), True
        yield b + "ffn_norm.weight", f32(t, h + "post_attention_layernorm.weight"), False
        yield b + "ffn_gate.weight", f32(t, h + "mlp.gate_proj.weight"), True
        yield b + "ffn_up.weight", f32(t, h + "mlp.up_proj.weight"), True
        yield b + "ffn_down.weight", f32(t, h + "mlp.down_proj.weight"), True
    yield "output_norm.weight", f32(t, p + "norm.weight"), False
    yield "output.weight", f32(t, "lm_head.weight"), True


def gpt2_tensors(c, t):
    p = "transformer." if "transformer.wte.weight" in t else ""
    yield "token_embd.weight", f32(t, p + "wte.weight"), True
    yield "position_embd.weight", f32(t, p + "wpe.weight"), False
    for i in range(c["n_layer"]):
        h = f"{p}h.{i}."
        b = f"blk.{i}."
        for ours, theirs in (("attn_norm", "ln_1"), ("ffn_norm", "ln_2")):
            yield b + ours + ".weight", f32(t, h + theirs + ".weight"), False
            yield b + ours + ".bias", f32(t, h + theirs + ".bias"), False
        for ours, theirs in (("attn_qkv", "attn.c_attn"), ("attn_output", "attn.c_proj"), ("ffn_up", "mlp.c_fc"),
                             ("ffn_down", "mlp.c_proj")):
            yield b + ours + ".weight", np.ascontiguousarray(f32(t, h + theirs + ".weight").T), True  # Conv1D [in, out]
            yield b + ours + ".bias", f32(t, h + theirs + ".bias"), False
    yield "output_norm.weight", f32(t, p + "ln_f.weight"), False
    yield "output_norm.bias", f32(t, p + "ln_f.bias"), False


def add_vocabulary(w, size):
    tokens = ["<unk>", "<s>", "</s>"] + [f"<0x{b:02X}>" for b in range(256)]
    types = [gguf.TokenType.UNKNOWN, gguf.TokenType.CONTROL, gguf.TokenType.CONTROL] + [gguf.TokenType.BYTE] * 256
    tokens += [f"\u2581t{i}" for i in range(len(tokens), size)]
    types += [gguf.TokenType.NORMAL] * (size - len(types))
    w.add_tokenizer_model("llama")
    w.add_tokenizer_pre("default")
    w.add_token_list(tokens[:size])
    w.add_token_scores([0.0] * size)
    w.add_token_types(types[:size])
    w.add_unk_token_id(0)
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)


def main(model_dir, out, kind):
    c = json.load(open(f"{model_dir}/config.json"))
    t = load_file(f"{model_dir}/model.safetensors")
    arch = "gpt2" if c["model_type"] == "gpt2" else "llama"
    w = gguf.GGUFWriter(out, arch)
    w.add_name(f"{arch}-{kind}")
    add_vocabulary(w, c["vocab_size"])
    if arch == "gpt2":
        w.add_context_length(c["n_positions"])
        w.add_embedding_length(c["n_embd"])
        w.add_feed_forward_length(c.get("n_inner") or 4 * c["n_embd"])
        w.add_block_count(c["n_layer"])
        w.add_head_count(c["n_head"])
        w.add_layer_norm_eps(c.get("layer_norm_epsilon", 1e-5))
        w.add_vocab_size(c["vocab_size"])
        tensors = gpt2_tensors(c, t)
    else:
        w.add_context_length(c["max_position_embeddings"])
        w.add_embedding_length(c["hidden_size"])
        w.add_feed_forward_length(c["intermediate_size"])
        w.add_block_count(c["num_hidden_layers"])
        w.add_head_count(c["num_attention_heads"])
        w.add_head_count_kv(c["num_key_value_heads"])
        w.add_layer_norm_rms_eps(c.get("rms_norm_eps", 1e-6))
        w.add_rope_freq_base(c.get("rope_theta", 10000.0))
        w.add_rope_dimension_count(c.get("head_dim") or c["hidden_size"] // c["num_attention_heads"])
        w.add_vocab_size(c["vocab_size"])
        tensors = llama_tensors(c, t)
    for name, data, matrix in tensors:
        if matrix and kind == "q8_0":
            w.add_tensor(name, gguf.quants.quantize(data, gguf.GGMLQuantizationType.Q8_0),
                         raw_dtype=gguf.GGMLQuantizationType.Q8_0)
        elif matrix and kind == "bf16":
            w.add_tensor(name, gguf.quants.quantize(data, gguf.GGMLQuantizationType.BF16),
                         raw_dtype=gguf.GGMLQuantizationType.BF16)
        else:
            w.add_tensor(name, data)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


if __name__ == "__main__":
    main(*sys.argv[1:4])
