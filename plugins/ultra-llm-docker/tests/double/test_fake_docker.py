"""The docker double, run as a real subprocess found on PATH: formats, errors, stdin, faults."""

from __future__ import annotations

import itertools
import json
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import pytest
from ultra_llm_docker.testing.double import fake_docker
from ultra_llm_docker.testing.double.fixtures import DockerDouble

NEXT_STEPS_CLI = "Enable Docker Model Runner via the CLI → docker desktop enable model-runner"


def docker(*args: str, input: bytes | None = None, timeout: float = 20) -> subprocess.CompletedProcess[bytes]:
    """Run ``docker ARGS`` as found on PATH; stdin is /dev/null unless ``input`` is given."""
    return subprocess.run(
        ["docker", *args],
        input=input,
        stdin=None if input is not None else subprocess.DEVNULL,
        capture_output=True,
        timeout=timeout,
    )


def header_cells(line: str) -> list[str]:
    return [c for c in line.split("  ") if c.strip()]


def test_double_is_first_on_path(docker_double: DockerDouble) -> None:
    assert shutil.which("docker") == docker_double.docker


def test_no_docker_fixture_hides_every_docker(no_docker: object) -> None:
    assert shutil.which("docker") is None


# ----------------------------------------------------------------------------- list


def test_list_new_table_shortens_names_and_has_context(docker_double: DockerDouble) -> None:
    docker_double.add_model("docker.io/ai/gemma3:v1", parameters="7.52B", size="4.74GiB", context_size=None)
    r = docker("model", "list")
    assert r.returncode == 0 and r.stderr == b""
    lines = r.stdout.decode().splitlines()
    assert header_cells(lines[0]) == [
        "MODEL NAME",
        "PARAMETERS",
        "QUANTIZATION",
        "ARCHITECTURE",
        "MODEL ID",
        "CREATED",
        "CONTEXT",
        "SIZE",
    ]
    names = [line.split("  ")[0].strip() for line in lines[1:]]
    assert names == ["gemma3:v1", "smollm2"]  # sorted, docker.io/ ai/ :latest dropped
    ctx_col = lines[0].index("CONTEXT")
    size_col = lines[0].index("SIZE")
    gemma, smol = lines[1], lines[2]
    assert gemma[ctx_col:size_col].strip() == ""  # blank cell
    assert smol[ctx_col:size_col].strip() == "8192"
    assert "361.82 M" in smol and "256.35 MiB" in smol
    ids = {m["id"][7:19] for m in docker_double.models}
    assert {line[lines[0].index("MODEL ID") :].split()[0] for line in lines[1:]} == ids


def test_list_old_table_has_raw_tags_and_no_context(docker_double: DockerDouble) -> None:
    docker_double.set(cli_version="old")
    lines = docker("model", "ls").stdout.decode().splitlines()
    assert "CONTEXT" not in lines[0]
    assert lines[1].startswith("ai/smollm2:latest  ")


def test_list_json_is_the_models_array(docker_double: DockerDouble) -> None:
    r = docker("model", "list", "--json")
    data = json.loads(r.stdout)
    assert [m["tags"] for m in data] == [m["tags"] for m in docker_double.models]
    assert data[0]["config"]["context_size"] == 8192
    assert "reasoning" not in data[0]  # the double's private key is not printed
    assert r.stdout.startswith(b"[\n    {")  # four-space indentation


def test_oldest_cli_has_no_list_json(docker_double: DockerDouble) -> None:
    docker_double.set(cli_version="oldest")
    r = docker("model", "list", "--json")
    assert r.returncode == 1 and r.stdout == b""
    assert r.stderr.decode() == "unknown flag: --json\nSee 'docker model list --help'.\n"


def test_list_openai_and_quiet(docker_double: DockerDouble) -> None:
    data = json.loads(docker("model", "list", "--openai").stdout)
    assert data["object"] == "list"
    assert [d["id"] for d in data["data"]] == ["docker.io/ai/smollm2:latest"]
    docker_double.set(cli_version="old")
    assert json.loads(docker("model", "list", "--openai").stdout)["data"][0]["id"] == "ai/smollm2:latest"
    quiet = docker("model", "list", "-q").stdout.decode().split()
    assert quiet == [m["id"][7:19] for m in docker_double.models]


# ----------------------------------------------------------------------------- status, version


def test_status_running_text_and_json(docker_double: DockerDouble) -> None:
    r = docker("model", "status")
    out = r.stdout.decode()
    assert r.returncode == 0
    assert out.startswith("Docker Model Runner is running\n\nBACKEND")
    assert "llama.cpp  Running" in out
    data = json.loads(docker("model", "status", "--json").stdout)
    assert data["running"] is True and "llama.cpp" in data["backends"]


def test_status_disabled(docker_double: DockerDouble) -> None:
    docker_double.set(runner="disabled")
    r = docker("model", "status")
    assert r.returncode == 1 and r.stderr == b""
    out = r.stdout.decode()
    assert out.startswith("Docker Model Runner is not running\n")
    assert "What's next:" in out and NEXT_STEPS_CLI in out
    j = docker("model", "status", "--json")
    assert j.returncode == 0 and json.loads(j.stdout)["running"] is False


def test_old_status_text_and_no_json(docker_double: DockerDouble) -> None:
    docker_double.set(cli_version="old", backends={"llama.cpp": "running llama.cpp latest-metal version: 5d01670"})
    out = docker("model", "status").stdout.decode()
    expected = "Docker Model Runner is running\n\nStatus:\nllama.cpp: running llama.cpp latest-metal version: 5d01670\n"
    assert out == expected
    r = docker("model", "status", "--json")
    assert r.returncode == 1 and r.stderr.startswith(b"unknown flag: --json")


def test_version_new_and_old(docker_double: DockerDouble) -> None:
    assert docker("model", "version").stdout.decode().startswith("Client:\n Version:")
    docker_double.set(cli_version="old")
    assert docker("model", "version").stdout.decode().startswith("Docker Model Runner version v0.1")


# ----------------------------------------------------------------------------- environment errors


@pytest.mark.parametrize("args", [("list",), ("run", "smollm2", "hi"), ("status",), ("inspect", "smollm2")])
def test_daemon_down(docker_double: DockerDouble, args: tuple[str, ...]) -> None:
    docker_double.set(daemon="down")
    r = docker("model", *args)
    assert r.returncode == 1 and r.stdout == b""
    assert r.stderr.decode() == fake_docker.DAEMON_DOWN + "\n"


@pytest.mark.parametrize(
    ("style", "expected"),
    [
        ("old", "docker: 'model' is not a docker command.\nSee 'docker --help'\n"),
        ("new", "docker: unknown command: docker model\n\nRun 'docker --help' for more information\n"),
    ],
)
def test_plugin_missing(docker_double: DockerDouble, style: str, expected: str) -> None:
    docker_double.set(plugin_installed=False, docker_cli=style)
    r = docker("model", "list")
    assert (r.returncode, r.stdout, r.stderr.decode()) == (1, b"", expected)


@pytest.mark.parametrize("args", [("list",), ("run", "smollm2", "hi"), ("inspect", "smollm2"), ("pull", "smollm2")])
def test_runner_disabled_other_commands(docker_double: DockerDouble, args: tuple[str, ...]) -> None:
    docker_double.set(runner="disabled")
    r = docker("model", *args)
    assert r.returncode == 1 and r.stdout == b""
    err = r.stderr.decode()
    assert err.startswith("Docker Model Runner is not running. Please start it and try again.\n\n")
    assert NEXT_STEPS_CLI in err


# ----------------------------------------------------------------------------- model management


def test_unknown_model_messages(docker_double: DockerDouble) -> None:
    assert docker("model", "inspect", "foo").stderr.decode() == "Failed to get model foo: foo: model not found\n"
    assert docker("model", "rm", "foo").stderr.decode() == "Failed to remove model: no such model: foo\n"
    r = docker("model", "pull", "foo")
    assert r.returncode == 1
    assert r.stderr.decode().startswith("Failed to pull model: pulling ai/foo:latest failed with status 404")


def test_pull_and_rm_mutate_state(docker_double: DockerDouble) -> None:
    docker_double.set(pull_steps=4)
    r = docker("model", "pull", "ai/gemma3")
    lines = r.stdout.decode().splitlines()
    assert r.returncode == 0
    assert [line.startswith("Downloaded ") for line in lines] == [True] * 4 + [False]
    assert lines[-1] == "Model pulled successfully"
    assert any("ai/gemma3:latest" in m["tags"] for m in docker_double.models)
    inspected = json.loads(docker("model", "inspect", "gemma3").stdout)
    assert inspected["tags"] == ["ai/gemma3:latest"]
    rm = docker("model", "rm", "docker.io/ai/gemma3:latest")
    assert rm.returncode == 0 and rm.stdout.decode().startswith("Untagged: ai/gemma3:latest\nDeleted: sha256:")
    assert not any("ai/gemma3:latest" in m["tags"] for m in docker_double.models)


# ----------------------------------------------------------------------------- run


def test_run_prompt_from_stdin_only(docker_double: DockerDouble) -> None:
    r = docker("model", "run", "smollm2", input=b"Tell me a joke")
    assert r.returncode == 0 and r.stderr == b""
    assert r.stdout.decode() == docker_double.expected_output("Tell me a joke", "smollm2")
    (call,) = docker_double.invocations()
    assert call["argv"] == ["model", "run", "smollm2"] and call["stdin_bytes"] == len(b"Tell me a joke")


def test_run_argument_and_stdin_are_joined_by_a_blank_line(docker_double: DockerDouble) -> None:
    r = docker("model", "run", "smollm2", "Summarise:", input=b"the text")
    assert r.stdout.decode() == docker_double.expected_output("Summarise:\n\nthe text", "smollm2")


def test_run_ignores_dev_null_stdin(docker_double: DockerDouble) -> None:
    r = docker("model", "run", "smollm2", "hello there")
    assert r.stdout.decode() == docker_double.expected_output("hello there", "smollm2")
    assert docker_double.invocations()[0]["stdin_bytes"] == 0


def test_run_with_open_pipe_hangs_until_stdin_closes(docker_double: DockerDouble) -> None:
    proc = subprocess.Popen(["docker", "model", "run", "smollm2", "hi"], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        time.sleep(0.5)
        assert proc.poll() is None  # still reading stdin, as the real CLI does
        assert proc.stdin is not None
        proc.stdin.close()
        assert proc.stdout is not None
        out = proc.stdout.read()
        assert proc.wait(timeout=10) == 0
        # "hi" + "\n\n" + empty stdin, trimmed by processImagesInPrompt (images.go) before sending
        assert out.decode() == docker_double.expected_output("hi", "smollm2")
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        assert proc.stdout is not None
        proc.stdout.close()


def test_run_without_prompt_is_interactive(docker_double: DockerDouble) -> None:
    r = docker("model", "run", "smollm2")  # stdin /dev/null: a character device, so not read
    assert r.returncode == 0
    assert r.stdout.decode() == "> \n"


def test_run_prompt_starting_with_dash(docker_double: DockerDouble) -> None:
    r = docker("model", "run", "smollm2", "--help-me")
    assert r.returncode == 1 and r.stderr.decode() == "unknown flag: --help-me\nSee 'docker model run --help'.\n"
    r = docker("model", "run", "smollm2", "-x")
    assert r.stderr.decode().startswith("unknown shorthand flag: 'x' in -x")
    r = docker("model", "run", "smollm2", "--", "--help-me")
    assert r.returncode == 0 and r.stdout.decode() == docker_double.expected_output("--help-me", "smollm2")
    r = docker("model", "run", "smollm2", input=b"--help")
    assert r.returncode == 0 and r.stdout.decode() == docker_double.expected_output("--help", "smollm2")


def test_run_auto_pulls_a_missing_model(docker_double: DockerDouble) -> None:
    r = docker("model", "run", "gemma3", input=b"hi")
    lines = r.stdout.decode().splitlines(keepends=True)
    assert lines[0] == "Unable to find model 'gemma3' locally. Pulling from the server.\n"
    assert lines[1].startswith("Downloaded ")
    pulled = lines.index("Model pulled successfully\n")
    assert "".join(lines[pulled + 1 :]) == docker_double.expected_output("hi", "gemma3")
    assert any("ai/gemma3:latest" in m["tags"] for m in docker_double.models)


def test_run_unknown_model(docker_double: DockerDouble) -> None:
    r = docker("model", "run", "nosuch", input=b"hi")
    assert r.returncode == 1
    assert r.stdout.decode() == "Unable to find model 'nosuch' locally. Pulling from the server.\n"
    assert r.stderr.decode().startswith("Failed to pull model: pulling ai/nosuch:latest failed with status 404")


def test_run_reasoning_model_and_usage(docker_double: DockerDouble) -> None:
    docker_double.set(usage=True)
    docker_double.add_model("ai/qwen3:latest", reasoning=True)
    out = docker("model", "run", "qwen3", input=b"why is the sky blue").stdout.decode()
    assert out == docker_double.expected_output("why is the sky blue", "qwen3", reasoning=True)
    assert out.startswith("Thinking:\n") and "\n\n--\n\n" in out
    assert out.endswith(" total\n") and "\n\nToken usage: 5 prompt + " in out


def test_run_one_mib_prompt(docker_double: DockerDouble) -> None:
    prompt = ("word " * (1 << 18))[: 1 << 20]
    r = docker("model", "run", "smollm2", input=prompt.encode())
    assert r.returncode == 0
    assert f"({1 << 20} chars)" in r.stdout.decode()


def test_run_streams_tokens_with_delays(docker_double: DockerDouble) -> None:
    docker_double.set(first_token_delay=0.3, token_delay=0.05)
    docker_double.enable_timestamps()
    start = time.monotonic_ns()
    r = docker("model", "run", "smollm2", input=b"one two three")
    stamps = docker_double.timestamps()
    tokens = fake_docker.tokens_of(docker_double.expected_answer("one two three", "smollm2"))
    assert len(stamps) == len(tokens) + 1  # one write per token, then the final newline
    assert sum(n for _, n in stamps) == len(r.stdout)
    assert stamps[0][0] - start >= 300_000_000
    gaps = [b[0] - a[0] for a, b in itertools.pairwise(stamps[:-1])]
    assert all(g >= 50_000_000 for g in gaps)


def test_run_non_ascii_split_across_writes(docker_double: DockerDouble) -> None:
    docker_double.set(non_ascii=True, split_utf8=True, split_delay=0.001)
    docker_double.enable_timestamps()
    r = docker("model", "run", "smollm2", input=b"hi")
    assert r.stdout.decode("utf-8") == docker_double.expected_output("hi", "smollm2")
    assert fake_docker.NON_ASCII_TAIL in r.stdout.decode()
    offsets, pos = [], 0
    for _, n in docker_double.timestamps():
        pos += n
        offsets.append(pos)
    # some write boundary falls inside a multi-byte character (a continuation byte follows it)
    assert any(0 < o < len(r.stdout) and (r.stdout[o] & 0xC0) == 0x80 for o in offsets)


# ----------------------------------------------------------------------------- faults


def test_crash_mid_stream(docker_double: DockerDouble) -> None:
    docker_double.set(fault="crash", fault_after=2)
    r = docker("model", "run", "smollm2", input=b"alpha beta gamma")
    tokens = fake_docker.tokens_of(docker_double.expected_answer("alpha beta gamma", "smollm2"))
    assert r.returncode == 1
    assert r.stdout.decode() == "".join(tokens[:2])
    assert r.stderr.decode().startswith("Failed to generate a response:")


def test_killed_mid_stream(docker_double: DockerDouble) -> None:
    docker_double.set(fault="kill", fault_after=1)
    r = docker("model", "run", "smollm2", input=b"alpha")
    assert r.returncode == -9 and r.stderr == b""


def test_hang_gives_no_output(docker_double: DockerDouble) -> None:
    docker_double.set(fault="hang")
    proc = subprocess.Popen(
        ["docker", "model", "run", "smollm2", "hi"], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE
    )
    try:
        with pytest.raises(subprocess.TimeoutExpired):
            proc.communicate(timeout=0.5)
    finally:
        proc.kill()
        out, _ = proc.communicate()
    assert out == b"" and proc.returncode == -9


def test_bad_utf8_and_runner_500(docker_double: DockerDouble) -> None:
    docker_double.set(fault="bad_utf8", fault_after=1)
    out = docker("model", "run", "smollm2", input=b"hi").stdout
    with pytest.raises(UnicodeDecodeError):
        out.decode("utf-8")
    docker_double.set(fault="runner_500", fault_message="boom")
    r = docker("model", "run", "smollm2", input=b"hi")
    assert r.returncode == 1 and r.stdout == b""
    assert r.stderr.decode().startswith(
        "Failed to generate a response: error response: status=500 body=unable to load runner: boom"
    )


# ----------------------------------------------------------------------------- engine URL


class _SSEHandler(BaseHTTPRequestHandler):
    pieces: ClassVar[list[str]] = []
    requests: ClassVar[list[dict[str, Any]]] = []

    def do_POST(self) -> None:
        length = int(self.headers["Content-Length"])
        type(self).requests.append({"path": self.path, "body": json.loads(self.rfile.read(length))})
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        for piece in self.pieces:
            chunk = {"object": "chat.completion.chunk", "choices": [{"delta": {"content": piece}}]}
            self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
            self.wfile.flush()
        usage = {"choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}}
        self.wfile.write(f"data: {json.dumps(usage)}\n\ndata: [DONE]\n\n".encode())

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def sse_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _SSEHandler)
    _SSEHandler.pieces = ["Hel", "", "lo ", "wörld"]
    _SSEHandler.requests = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_run_answers_from_an_engine_url(docker_double: DockerDouble, sse_server: str) -> None:
    docker_double.set(engine_url=sse_server, engine_model="ai/tiny")
    r = docker("model", "run", "smollm2", input=b"say hello")
    assert r.returncode == 0
    assert r.stdout.decode() == "Hello wörld\n\nToken usage: 3 prompt + 4 completion = 7 total\n"
    (req,) = _SSEHandler.requests
    assert req["path"] == "/v1/chat/completions"
    assert req["body"]["stream"] is True and req["body"]["model"] == "ai/tiny"
    assert req["body"]["messages"] == [{"role": "user", "content": "say hello"}]


def test_state_env_var_points_at_the_state_file(docker_double: DockerDouble) -> None:
    assert os.environ["FAKE_DOCKER_STATE"] == str(docker_double.state_path)
