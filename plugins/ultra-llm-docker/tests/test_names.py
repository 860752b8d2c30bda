"""Model-name normalisation and validation against Docker's reference grammar."""

from __future__ import annotations

import pytest
from ultra_llm_docker.names import normalize_model_name, parse_model_reference, same_model, short_model_name

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
            "huggingface.co/bartowski/llama-3.2-1b-gguf:Q4_K_M",
            "huggingface.co/bartowski/llama-3.2-1b-gguf:Q4_K_M",
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


# The runner's normalizeModelName (docker/model-runner pkg/distribution/distribution/client.go:143-231
# at 642c7211) and its table test (normalize_test.go:68-135): hf.co is huggingface.co; IDs and
# sha256 digests are references by ID, never ai/ names.


@pytest.mark.parametrize(
    ("left", "right"),
    [
        ("hf.co/bartowski/Llama-3.2-1B-GGUF:Q4_K_M", "huggingface.co/bartowski/llama-3.2-1b-gguf:Q4_K_M"),
        ("hf.co/org/model", "huggingface.co/org/model:latest"),
        ("HF.CO/org/model", "huggingface.co/org/model"),
    ],
)
def test_hf_co_and_huggingface_co_are_one_registry(left: str, right: str) -> None:
    assert same_model(left, right)
    assert normalize_model_name(left) == normalize_model_name(right)
    assert normalize_model_name(left).startswith("huggingface.co/")  # the form the runner stores and lists


def test_hf_co_is_not_confused_with_other_hosts() -> None:
    assert not same_model("hf.co/org/model", "hf.com/org/model")
    assert normalize_model_name("myhf.co/org/model") == "myhf.co/org/model:latest"


SHORT_ID = "0123456789ab"
LONG_ID = "0123456789ab" + "c" * 52


@pytest.mark.parametrize(
    ("name", "canonical"),
    [
        (SHORT_ID, SHORT_ID),
        (LONG_ID, f"sha256:{LONG_ID}"),
        (f"sha256:{LONG_ID}", f"sha256:{LONG_ID}"),
        (f" {SHORT_ID} ", SHORT_ID),
    ],
)
def test_ids_and_digests_are_references_not_ai_names(name: str, canonical: str) -> None:
    ref = parse_model_reference(name)
    assert ref.model_id == canonical
    assert normalize_model_name(name) == canonical
    assert short_model_name(name) == canonical
    assert not same_model(name, f"ai/{name.strip()}")


def test_a_short_id_is_the_full_id_it_starts() -> None:
    assert same_model(SHORT_ID, f"sha256:{LONG_ID}")
    assert same_model(LONG_ID, f"sha256:{LONG_ID}")
    assert not same_model("ba9876543210", f"sha256:{LONG_ID}")


@pytest.mark.parametrize(
    ("name", "canonical"),
    [
        ("0123456789a", "ai/0123456789a:latest"),  # 11 hex: a name (looksLikeID wants 12 or 64)
        ("0123456789abc", "ai/0123456789abc:latest"),  # 13 hex
        ("0123456789AB", "ai/0123456789ab:latest"),  # upper case is no ID (client.go:206)
        ("ai/0123456789ab", "ai/0123456789ab:latest"),  # namespaced: a name
    ],
)
def test_near_ids_stay_names(name: str, canonical: str) -> None:
    assert parse_model_reference(name).model_id is None
    assert normalize_model_name(name) == canonical


def test_a_short_sha256_digest_is_not_an_id() -> None:
    # looksLikeDigest wants exactly 64 hex after sha256: (normalize_test.go:254); as a name,
    # "sha256:1234567890ab" is the repository ai/sha256 with a tag, as the runner would read it
    assert parse_model_reference("sha256:1234567890ab").model_id is None
