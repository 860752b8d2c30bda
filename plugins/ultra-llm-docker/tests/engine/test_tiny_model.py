"""The tiny GGUF model: deterministic, small, readable back with the gguf package."""

from __future__ import annotations

from pathlib import Path

import pytest

gguf = pytest.importorskip("gguf")

from ultra_llm_docker.testing.engine.tiny_model import CHAT_TEMPLATE, VOCAB_WORDS, write_tiny_model  # noqa: E402


def test_written_twice_gives_the_same_bytes(tmp_path: Path) -> None:
    first = write_tiny_model(tmp_path / "a" / "tiny.gguf")
    second = write_tiny_model(tmp_path / "b" / "tiny.gguf")
    assert first.read_bytes() == second.read_bytes()
    assert 200_000 < first.stat().st_size < 1_000_000


def test_metadata_and_tensors(tmp_path: Path) -> None:
    path = write_tiny_model(tmp_path / "tiny.gguf")
    reader = gguf.GGUFReader(str(path))
    fields = reader.fields

    def text(key: str) -> str:
        field = fields[key]
        return bytes(field.parts[field.data[0]]).decode()

    assert text("general.architecture") == "llama"
    assert text("tokenizer.ggml.model") == "llama"
    assert text("tokenizer.chat_template") == CHAT_TEMPLATE
    assert "\n" not in CHAT_TEMPLATE
    tokens = fields["tokenizer.ggml.tokens"]
    assert len(tokens.data) == 3 + 256 + len(VOCAB_WORDS)
    names = {tensor.name for tensor in reader.tensors}
    per_block = {"attn_norm", "attn_q", "attn_k", "attn_v", "attn_output", "ffn_norm", "ffn_gate", "ffn_up", "ffn_down"}
    expected = {"token_embd.weight", "output_norm.weight", "output.weight"}
    expected |= {f"blk.{b}.{n}.weight" for b in range(2) for n in per_block}
    assert names == expected
