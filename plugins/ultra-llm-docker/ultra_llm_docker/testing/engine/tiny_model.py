"""Write a tiny, deterministic llama-architecture GGUF model that real llama.cpp can serve.

The model is random (fixed seed), so its text is gibberish, but it is a real model: llama.cpp
loads it, tokenises any text (byte-fallback tokens cover every byte), applies its one-line jinja
chat template, and generates thousands of tokens per second on one CPU core.

Its answers are always valid UTF-8: llama-server (b9878) parses every chat answer with its chat
format parser, which refuses invalid UTF-8 with ``500 "The model produced output that does not match
the expected peg-native format"``, so the model must never generate a lone byte token ``<0x80>``..
``<0xFF>``. One hidden dimension carries a constant (``BIAS_VALUE`` from the token embedding; no
block writes to it), and ``output.weight`` reads that dimension with ``BANNED_WEIGHT`` for those
byte tokens only, which gives them a logit far below any other whatever the sampler's temperature.
Multi-byte characters still appear in answers as whole word pieces (``VOCAB_WORDS``).

Only ``gguf`` and ``numpy`` are imported, and only when ``write_tiny_model`` is called.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["CHAT_TEMPLATE", "CONTEXT_LENGTH", "SEED", "VOCAB_WORDS", "banned_token_ids", "write_tiny_model"]

N_EMBD = 64
N_HEAD = 4
N_FF = 128
N_BLOCKS = 2
CONTEXT_LENGTH = 2048
SEED = 20240611
BIAS_DIM = 0
"""The hidden dimension that holds a constant through every block."""
BIAS_VALUE = 1.0 / N_EMBD**0.5  # the scale of the other dimensions: the norms are not dominated by it
BANNED_WEIGHT = -1000.0
"""``output.weight[token, BIAS_DIM]`` for the byte tokens that are not UTF-8 on their own."""

CHAT_TEMPLATE = (
    "{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}{{ eos_token }}{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)
"""The one-line jinja chat template stored in the model (``tokenizer.chat_template``)."""

VOCAB_WORDS: tuple[str, ...] = (
    "\u2581",
    "\u2581the",
    "\u2581a",
    "\u2581hello",
    "\u2581world",
    "\u2581tiny",
    "\u2581model",
    "\u2581is",
    "\u2581of",
    "\u2581and",
    "e",
    "t",
    "a",
    "o",
    "i",
    "n",
    "s",
    "r",
    "h",
    "l",
    "he",
    "in",
    "er",
    "on",
    "an",
    "re",
    "\u00e9",
    "\u00fc",
    "\u2192",
    "\u65e5\u672c",
    "<|user|>",
    "<|assistant|>",
    "<|system|>",
)
"""Word pieces after the 3 special and 256 byte tokens (SentencePiece style, ``\u2581`` = space)."""

# GGUF token types (gguf.TokenType): NORMAL 1, UNKNOWN 2, CONTROL 3, USER_DEFINED 4, BYTE 6.
_NORMAL, _UNKNOWN, _CONTROL, _USER_DEFINED, _BYTE = 1, 2, 3, 4, 6


def _vocabulary() -> tuple[list[str], list[float], list[int]]:
    tokens = ["<unk>", "<s>", "</s>"]
    scores = [0.0, 0.0, 0.0]
    types = [_UNKNOWN, _CONTROL, _CONTROL]
    for byte in range(256):
        tokens.append(f"<0x{byte:02X}>")
        scores.append(0.0)
        types.append(_BYTE)
    for rank, word in enumerate(VOCAB_WORDS):
        tokens.append(word)
        # SentencePiece merges prefer higher scores; longer pieces first.
        scores.append(-float(rank) / 100.0 + len(word))
        types.append(_USER_DEFINED if word.startswith("<|") else _NORMAL)
    return tokens, scores, types


def banned_token_ids() -> list[int]:
    """The ids of the byte tokens ``<0x80>``..``<0xFF>``: never generated (see the module doc)."""
    first_byte = 3  # after <unk>, <s>, </s>
    return list(range(first_byte + 0x80, first_byte + 0x100))


def write_tiny_model(path: str | Path, *, seed: int = SEED) -> Path:
    """Write the tiny model to ``path`` (a ``.gguf`` file, about 0.5 MB) and return the path.

    Deterministic: the same bytes for the same ``gguf`` version and ``seed`` (the random weights' seed;
    another seed gives another model with the same shapes, vocabulary and template).
    Architecture ``llama``: 2 blocks, embedding 64, 4 heads, feed-forward 128, float32 weights.
    """
    import gguf
    import numpy as np

    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tokens, scores, types = _vocabulary()
    n_vocab = len(tokens)
    rng = np.random.default_rng(seed)

    def weight(*shape: int) -> np.ndarray:
        scale = 1.0 / float(np.sqrt(shape[-1]))
        values: np.ndarray = (rng.standard_normal(shape) * scale).astype(np.float32)
        return values

    writer = gguf.GGUFWriter(str(target), "llama")
    writer.add_name("tiny")
    writer.add_context_length(CONTEXT_LENGTH)
    writer.add_embedding_length(N_EMBD)
    writer.add_block_count(N_BLOCKS)
    writer.add_feed_forward_length(N_FF)
    writer.add_head_count(N_HEAD)
    writer.add_head_count_kv(N_HEAD)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_rope_dimension_count(N_EMBD // N_HEAD)
    writer.add_file_type(0)  # all float32
    writer.add_tokenizer_model("llama")
    writer.add_token_list(tokens)
    writer.add_token_scores(scores)
    writer.add_token_types(types)
    writer.add_unk_token_id(0)
    writer.add_bos_token_id(1)
    writer.add_eos_token_id(2)
    writer.add_add_bos_token(True)
    writer.add_add_eos_token(False)
    writer.add_chat_template(CHAT_TEMPLATE)
    writer.add_pooling_type(gguf.PoolingType.MEAN)  # /v1/embeddings gives one vector per input

    # numpy shapes are (rows, cols) = GGUF's (ne1, ne0) reversed: a matrix is (outputs, inputs).
    token_embd = weight(n_vocab, N_EMBD)
    token_embd[:, BIAS_DIM] = BIAS_VALUE  # every position starts with the constant...
    output = weight(n_vocab, N_EMBD)
    output[:, BIAS_DIM] = 0.0
    output[banned_token_ids(), BIAS_DIM] = BANNED_WEIGHT
    writer.add_tensor("token_embd.weight", token_embd)
    writer.add_tensor("output_norm.weight", np.ones(N_EMBD, dtype=np.float32))
    writer.add_tensor("output.weight", output)
    for block in range(N_BLOCKS):
        prefix = f"blk.{block}"
        writer.add_tensor(f"{prefix}.attn_norm.weight", np.ones(N_EMBD, dtype=np.float32))
        for name in ("attn_q", "attn_k", "attn_v"):
            writer.add_tensor(f"{prefix}.{name}.weight", weight(N_EMBD, N_EMBD))
        attn_output = weight(N_EMBD, N_EMBD)
        attn_output[BIAS_DIM, :] = 0.0  # ...and no block adds to it
        writer.add_tensor(f"{prefix}.attn_output.weight", attn_output)
        writer.add_tensor(f"{prefix}.ffn_norm.weight", np.ones(N_EMBD, dtype=np.float32))
        writer.add_tensor(f"{prefix}.ffn_gate.weight", weight(N_FF, N_EMBD))
        writer.add_tensor(f"{prefix}.ffn_up.weight", weight(N_FF, N_EMBD))
        ffn_down = weight(N_EMBD, N_FF)
        ffn_down[BIAS_DIM, :] = 0.0
        writer.add_tensor(f"{prefix}.ffn_down.weight", ffn_down)

    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return target
