"""Model-name normalisation and validation against Docker's reference grammar."""

from __future__ import annotations

import pytest

from ultra_llm.docker.names import normalize_model_name, parse_model_reference, same_model, short_model_name
from ultra_llm.errors import InvalidModelNameError


@pytest.mark.parametrize(
    "name",
    [
        "smollm2",
        "ai/smollm2",
        "ai/smollm2:latest",
        "docker.io/ai/smollm2:latest",
        "index.docker.io/ai/smollm2",
        " ai/smollm2 ",
    ],
)
def test_spellings_of_one_model_are_one_model(name: str) -> None:
    assert normalize_model_name(name) == "ai/smollm2:latest"
    assert same_model(name, "smollm2")


@pytest.mark.parametrize(
    ("name", "canonical", "short"),
    [
        ("ai/smollm2:360M-Q4_K_M", "ai/smollm2:360M-Q4_K_M", "smollm2:360M-Q4_K_M"),
        (
            "hf.co/bartowski/Llama-3.2-1B-GGUF:Q4_K_M",
            "hf.co/bartowski/llama-3.2-1b-gguf:Q4_K_M",
            "hf.co/bartowski/llama-3.2-1b-gguf:Q4_K_M",
        ),
        ("localhost:5000/team/model", "localhost:5000/team/model:latest", "localhost:5000/team/model"),
        ("myorg/model:v2", "myorg/model:v2", "myorg/model:v2"),
        ("gemma4:E4B", "ai/gemma4:E4B", "gemma4:E4B"),
    ],
)
def test_canonical_and_short_forms(name: str, canonical: str, short: str) -> None:
    assert normalize_model_name(name) == canonical
    assert short_model_name(name) == short
    assert normalize_model_name(short) == canonical


def test_digest_is_kept() -> None:
    digest = "sha256:" + "a" * 64
    ref = parse_model_reference(f"ai/smollm2@{digest}")
    assert ref.digest == digest and ref.tag == "latest"


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "   ",
        "-rf",
        "--help",
        "ai/x;rm -rf /",
        "a b",
        "ai/model:",
        "ai//x",
        "ai/x:-tag",
        "ai/x@sha256:zz",
        "$(id)",
        "ai/x\nrm",
        "ai/x:t\nx",
        "x" * 300,
    ],
)
def test_invalid_names_are_typed_errors(bad: str) -> None:
    with pytest.raises(InvalidModelNameError) as caught:
        normalize_model_name(bad)
    assert "not a valid model name" in caught.value.message
    assert caught.value.fix


def test_invalid_names_are_never_the_same_model() -> None:
    assert not same_model("-x", "-x")
    assert not same_model("ai/a", "ai/b")
