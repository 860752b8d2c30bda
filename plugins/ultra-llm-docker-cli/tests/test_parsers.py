"""The docker-cli parsers as pure functions, on texts in the real CLI's formats."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st
from ultra_llm_docker_cli.parsers import (
    Failure,
    classify_failure,
    parse_list_json,
    parse_list_table,
    parse_progress_line,
    parse_size,
    parse_status_json,
    parse_status_text,
    render_prompt,
)
from ultra_llm_docker_cli.run_output import Event, RunOutputParser

NEW_TABLE = (
    "MODEL NAME  PARAMETERS  QUANTIZATION   ARCHITECTURE  MODEL ID      CREATED      CONTEXT  SIZE     \n"
    "gemma4:E4B  7.52B       MOSTLY_Q4_K_M  gemma4        1163f19dcd97  2 weeks ago           4.74GiB  \n"
    "smollm2     361.82 M    IQ2_XXS/Q4_K_M llama         354bf30d0aa3  5 weeks ago  8192     256.35 MiB\n"
)
OLD_TABLE = (
    "MODEL NAME         PARAMETERS  QUANTIZATION    ARCHITECTURE  MODEL ID      CREATED      SIZE\n"
    "ai/smollm2:latest  361.82 M    IQ2_XXS/Q4_K_M  llama         354bf30d0aa3  5 weeks ago  256.35 MiB\n"
    "<none>             1B          Q4              llama         aaaaaaaaaaaa  1 day ago    1 GiB\n"
)


def test_new_table_blank_context_and_spaced_cells() -> None:
    gemma, smol = parse_list_table(NEW_TABLE)
    assert (gemma.name, gemma.context_size, gemma.size, gemma.id) == ("gemma4:E4B", None, "4.74GiB", "1163f19dcd97")
    assert (smol.parameters, smol.context_size, smol.size, smol.created) == (
        "361.82 M",
        8192,
        "256.35 MiB",
        "5 weeks ago",
    )


def test_old_table_raw_tags_and_none_rows_dropped() -> None:
    (smol,) = parse_list_table(OLD_TABLE)
    assert smol.name == "ai/smollm2:latest" and smol.context_size is None and smol.quantization == "IQ2_XXS/Q4_K_M"


def test_table_with_only_a_header_or_garbage() -> None:
    assert parse_list_table(NEW_TABLE.splitlines()[0]) == []
    assert parse_list_table("Docker Model Runner is not running\n") == []


def test_list_json_one_entry_per_tag_and_missing_config() -> None:
    a, b = "a" * 64, "b" * 64
    text = (
        f'[{{"id": "sha256:{a}", "tags": ["ai/smollm2:latest", "ai/smollm2:360M"], "created": 1742816981,'
        ' "config": {"parameters": "361.82 M", "gguf": {"llama.context_length": "8192"}}},'
        f' {{"id": "sha256:{b}", "tags": [], "config": {{}}}}, {{"id": "x", "tags": ["ai/bare"]}}]'
    )
    models = parse_list_json(text)
    assert [m.name for m in models] == ["ai/smollm2:latest", "ai/smollm2:360M", "ai/bare"]
    assert models[0].context_size == 8192 and models[0].created == 1742816981
    assert models[2].details() == {"id": "x"}
    with pytest.raises(ValueError):
        parse_list_json('{"object": "list"}')


def test_status_json_and_texts() -> None:
    status = parse_status_json('{"running":true,"backends":{"llama.cpp":"Running: b1"},"kind":"Docker Desktop"}')
    assert (
        status.running is True and status.backends == {"llama.cpp": "Running: b1"} and status.kind == "Docker Desktop"
    )
    new = parse_status_text("Docker Model Runner is running\n\nBACKEND    STATUS   DETAILS\nllama.cpp  Running  b1\n")
    assert new.running is True and new.backends == {"llama.cpp": "Running: b1"}
    old = parse_status_text("Docker Model Runner is running\n\nStatus:\nllama.cpp: running llama.cpp latest-metal\n")
    assert old.running is True and old.backends == {"llama.cpp": "running llama.cpp latest-metal"}
    off = parse_status_text(
        "Docker Model Runner is not running\n\x1b[1m\nWhat's next:\x1b[0m\n"
        "    Enable ... → docker desktop enable model-runner\n"
    )
    assert off.running is False and "What's next:" in off.text and "\x1b" not in off.text
    assert parse_status_text("something else").running is None


def test_sizes_and_progress_lines() -> None:
    assert parse_size("12.34MB") == 12_340_000
    assert parse_size("256.35 MiB") == int(256.35 * 1024**2)
    assert parse_size("4.74GiB") == int(4.74 * 1024**3)
    assert parse_size("lots") is None
    assert parse_progress_line("Downloaded 1.50kB of 3.00kB") == (1500, 3000)
    assert parse_progress_line("Model pulled successfully") is None


@pytest.mark.parametrize(
    ("stderr", "kind"),
    [
        ("docker: 'model' is not a docker command.\nSee 'docker --help'", Failure.PLUGIN_MISSING),
        ("docker: unknown command: docker model\n\nRun 'docker --help' for more information", Failure.PLUGIN_MISSING),
        ("Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?",
         Failure.DAEMON_DOWN),
        ("Docker Model Runner is not running. Please start it and try again.\n\n\x1b[1m\nWhat's next:",
         Failure.RUNNER_NOT_RUNNING),
        ("Failed to get model foo: foo: model not found", Failure.MODEL_NOT_FOUND),
        ("Failed to remove model: no such model: foo", Failure.MODEL_NOT_FOUND),
        ("Failed to pull model: pulling ai/foo:latest failed with status 404 Not Found: Model not found",
         Failure.MODEL_NOT_FOUND),
        ("unknown flag: --json\nSee 'docker model list --help'.", Failure.UNKNOWN_FLAG),
        ("Failed to generate a response: error response: status=500 body=unable to load runner: x", Failure.OTHER),
    ],
)  # fmt: skip
def test_classify_failure(stderr: str, kind: Failure) -> None:
    assert classify_failure(stderr) is kind


def test_render_prompt() -> None:
    assert render_prompt([("user", "--help")]) == "--help"
    assert render_prompt([("system", "Be brief."), ("user", "hi")]) == "Be brief.\n\nhi"
    conversation = [("user", "a"), ("assistant", "b"), ("user", "c")]
    assert render_prompt(conversation) == "User: a\n\nAssistant: b\n\nc"


# ------------------------------------------------------------------------- run output


def collect(events: list[Event]) -> tuple[str, str, list[str], tuple[int, int, int] | None]:
    text = "".join(e.text for e in events if e.kind == "text")
    reasoning = "".join(e.text for e in events if e.kind == "reasoning")
    cli: list[str] = [e.kind for e in events if e.kind in ("pull-started", "progress", "pulled")]
    usage = next((e.usage for e in events if e.kind == "usage"), None)
    return text, reasoning, cli, usage


def parse_in_pieces(data: bytes, cuts: list[int]) -> list[Event]:
    parser = RunOutputParser()
    events: list[Event] = []
    last = 0
    for cut in sorted(cuts):
        events += parser.feed(data[last:cut])
        last = cut
    events += parser.feed(data[last:])
    return events + parser.finish()


FULL = (
    "Unable to find model 'qwen3' locally. Pulling from the server.\n"
    "Downloaded 1.00MB of 2.00MB\nDownloaded 2.00MB of 2.00MB\nModel pulled successfully\n"
    "Thinking:\nhmm, let me think\n\n--\n\n"
    "Héllo 日本語 🙂\n\nsecond paragraph\n"
    "\n\nToken usage: 5 prompt + 7 completion = 12 total\n"
).encode()


def test_full_output_every_single_cut() -> None:
    for cut in range(len(FULL) + 1):
        text, reasoning, cli, usage = collect(parse_in_pieces(FULL, [cut]))
        assert text == "Héllo 日本語 🙂\n\nsecond paragraph\n", cut
        assert reasoning == "hmm, let me think"
        assert cli == ["pull-started", "progress", "progress", "pulled"]
        assert usage == (5, 7, 12)


@given(st.lists(st.integers(min_value=0, max_value=len(FULL)), max_size=12))
def test_full_output_random_cuts(cuts: list[int]) -> None:
    text, reasoning, _, usage = collect(parse_in_pieces(FULL, cuts))
    assert (text, reasoning, usage) == ("Héllo 日本語 🙂\n\nsecond paragraph\n", "hmm, let me think", (5, 7, 12))


@given(st.text(min_size=1), st.lists(st.integers(min_value=0, max_value=400), max_size=8))
def test_any_answer_round_trips(answer: str, cuts: list[int]) -> None:
    data = (answer + "\n").encode()
    text, _, _, usage = collect(parse_in_pieces(data, [c for c in cuts if c <= len(data)]))
    if answer.startswith(("Thinking:\n", "Unable to find model '")):
        return  # would be read as the CLI's own lines, as the real CLI's output is ambiguous there
    assert text == answer and usage is None


def test_answer_is_passed_on_before_the_line_ends() -> None:
    parser = RunOutputParser()
    assert [e.text for e in parser.feed(b"Hello")] == ["Hello"]
    assert parser.feed(b" wor") == [Event("text", " wor")]
    assert parser.feed(b"ld\n") == [Event("text", "ld")]  # the newline may be the CLI's: held
    assert parser.finish() == []


def test_invalid_bytes_become_replacement_characters() -> None:
    events = parse_in_pieces(b"ok \xff\xfe fine\n", [4])
    assert collect(events)[0] == "ok \ufffd\ufffd fine"


def test_random_multibyte_splits() -> None:
    rng = random.Random(7)
    answer = "naïve café ✓ 日本語 🙂 " * 20
    data = (answer + "\n").encode()
    for _ in range(200):
        cuts = [rng.randrange(len(data)) for _ in range(rng.randrange(1, 30))]
        assert collect(parse_in_pieces(data, cuts))[0] == answer


def test_status_json_without_endpoint_host_keeps_the_endpoint() -> None:
    # CLIs before endpointHost (status.go:126-179 at 642c7211 added it) print only endpoint
    status = parse_status_json('{"running":true,"backends":{},"kind":"Docker Engine","endpoint":"http://h:1/v1/"}')
    assert status.endpoint == "http://h:1/v1/" and status.container_endpoint is None


def test_install_lines_alone_at_the_start_are_install_events_not_text() -> None:
    parser = RunOutputParser()
    data = b"latest: Pulling from docker/model-runner\nSuccessfully pulled docker/model-runner:latest\nHi\n"
    events = parser.feed(data) + parser.finish()
    assert [e.kind for e in events] == ["install", "install", "text"] and events[-1].text == "Hi"


def test_a_warning_line_is_answer_text_unless_inside_an_install_block() -> None:
    parser = RunOutputParser(installer=True)
    events = parser.feed(b"Warning: answers may vary\n") + parser.finish()
    assert "".join(e.text for e in events if e.kind == "text") == "Warning: answers may vary"


def test_a_412_naming_no_engine_is_still_engine_not_installed() -> None:
    from ultra_llm_docker.errors import RunnerEngineNotInstalledError
    from ultra_llm_docker_cli.failures import error_for

    stderr = "Failed to generate a response: error response: status=412 body=precondition failed\n\n"
    error = error_for("run", returncode=1, stderr=stderr, model="ai/smollm2:latest")
    assert isinstance(error, RunnerEngineNotInstalledError)
    assert error.fix == RunnerEngineNotInstalledError.default_fix and "status=412" in error.message
