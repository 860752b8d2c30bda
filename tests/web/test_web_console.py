"""The console in a real headless browser: Playwright driving Debian's Chromium.

Loads the page, sees the mock's models, generates and watches the text stream in, pulls with a
visible progress bar, removes; at laptop and phone widths. Screenshots go to ``test-artifacts/``.
Skips with the reason when Playwright (pip) or Chromium (``apt-get install chromium``) is absent.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = os.environ.get("ULTRA_LLM_TEST_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "web"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORTS = {"laptop": {"width": 1366, "height": 860}, "phone": {"width": 390, "height": 844}}

sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed (pip install playwright)")
if not os.path.exists(CHROMIUM):
    pytest.skip(f"Chromium not found at {CHROMIUM} (apt-get install -y chromium)", allow_module_level=True)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture(params=list(VIEWPORTS))
def page(request: pytest.FixtureRequest, browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport=VIEWPORTS[request.param], device_scale_factor=1)
    page = context.new_page()
    page.viewport_name = request.param
    page.allow_http_errors = False  # a test expecting 4xx answers sets it: the browser logs those
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    try:
        yield page
    finally:
        context.close()
    if page.allow_http_errors:
        errors = [e for e in errors if not e.startswith("Failed to load resource")]
    assert not errors, errors


def shot(page: Any, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}-{page.viewport_name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def test_console_generate_streams_in(web_server: Any, page: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ULTRA_LLM_MOCK_DELAY", "0.15")
    server = web_server()
    page.goto(server.url + "/")
    page.wait_for_selector("body[data-ready=true]")
    expect = sync_api.expect
    expect(page.locator("#status-pill")).to_have_text("mock: ready")
    expect(page.locator("#model-list li[data-model='mock/echo']")).to_be_visible()
    expect(page.locator("#model-list li[data-model='mock/fixed']")).to_be_visible()
    page.locator("#doctor summary").click()
    expect(page.locator("#doctor-steps li.ok").first).to_be_visible()
    # Options come from the backend's schema.
    page.locator("#options summary").click()
    expect(page.locator("#option-fields input[name=temperature]")).to_have_attribute("max", "2")
    expect(page.locator("#option-fields input[name=max_tokens]")).to_have_attribute("step", "1")
    shot(page, "loaded")

    prompt = "the quick brown fox jumps over the lazy dog again and again"
    page.select_option("#model-select", "mock/echo")
    page.fill("#prompt", prompt)
    page.click("#generate-button")
    answer = page.locator("#answer")
    # Part of the answer is visible while the rest is still being generated.
    expect(answer).to_contain_text("the quick", timeout=5000)
    partial = answer.text_content() or ""
    assert partial != prompt and prompt.startswith(partial)
    expect(answer).to_have_class("answer streaming")
    shot(page, "streaming")
    expect(answer).to_have_text(prompt, timeout=10000)
    expect(page.locator("#generate-stats")).to_contain_text("stop")
    expect(answer).to_have_class("answer")
    shot(page, "answered")

    # Options are sent: max_tokens stops early.
    page.fill("#option-fields input[name=max_tokens]", "2")
    page.click("#generate-button")
    expect(page.locator("#generate-stats")).to_contain_text("length", timeout=10000)
    expect(answer).to_have_text("the quick ")


def test_console_pull_shows_progress_then_remove(web_server: Any, page: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ULTRA_LLM_MOCK_DELAY", "0.6")
    server = web_server()
    page.goto(server.url + "/")
    page.wait_for_selector("body[data-ready=true]")
    expect = sync_api.expect
    page.fill("#pull-model", "ai/gemma3")
    page.click("#pull-button")
    bar = page.locator("#pull-progress")
    expect(bar).to_be_visible()
    expect(page.locator("#pull-text")).to_contain_text("Downloaded", timeout=5000)
    value = bar.evaluate("b => b.value")  # 1/3 or 2/3: the mock pauses 0.6 s after each MB
    assert 0 < value < 1, value
    shot(page, "pulling")
    expect(page.locator("#pull-text")).to_have_text("Pulled ai/gemma3.", timeout=10000)
    assert bar.evaluate("b => b.value") == 1
    expect(page.locator("#model-list li[data-model='ai/gemma3']")).to_be_visible()
    shot(page, "pulled")

    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#model-list li[data-model='ai/gemma3'] button")
    expect(page.locator("#model-list li[data-model='ai/gemma3']")).to_have_count(0)


def test_console_shows_errors_with_their_fix(web_server: Any, page: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ULTRA_LLM_MOCK_FAULT", "unknown-model")
    page.allow_http_errors = True
    server = web_server()
    page.goto(server.url + "/")
    page.wait_for_selector("body[data-ready=true]")
    page.evaluate(
        "() => { const s = document.getElementById('model-select');"
        " s.add(new Option('ai/nope', 'ai/nope')); s.value = 'ai/nope'; }"
    )
    page.fill("#prompt", "hello")
    page.click("#generate-button")
    message = page.locator("#message")
    sync_api.expect(message).to_be_visible()
    sync_api.expect(page.locator("#message-text")).to_contain_text("ai/nope")
    sync_api.expect(page.locator("#message-fix")).to_contain_text("ultra-llm pull ai/nope")
    shot(page, "error")


def test_console_asks_for_the_token(web_server: Any, page: Any) -> None:
    token = "console-token-0123456789abcdef"
    page.allow_http_errors = True
    server = web_server(token=token)
    page.goto(server.url + "/")
    auth = page.locator("#auth")
    sync_api.expect(auth).to_be_visible()
    shot(page, "token")
    page.fill("#auth-token", token)
    page.click("#auth button")
    page.wait_for_selector("body[data-ready=true]")
    sync_api.expect(page.locator("#model-list li[data-model='mock/echo']")).to_be_visible()
    # The token also works from the URL fragment, which the browser never sends to the server.
    page.goto(server.url + "/#token=" + token)
    page.reload()
    page.wait_for_selector("body[data-ready=true]")
    assert "token" not in page.url


def test_console_sends_an_image_a_schema_and_tools(web_server: Any, web_host: Any, page: Any, tmp_path: Path) -> None:
    import json

    from tests.support.feature_backend import PNG, TOOLS, FeaturePlugin

    web_host.register(FeaturePlugin(), name="features")
    server = web_server()
    page.goto(server.url + "/")
    page.wait_for_selector("body[data-ready=true]")
    expect = sync_api.expect
    page.select_option("#backend-select", "features")
    page.locator("#features summary").click()
    expect(page.locator("#feature-support")).to_have_text("features: takes images, JSON schemas, tools.")
    page.select_option("#model-select", "mock/echo")

    image = tmp_path / "red.png"
    image.write_bytes(PNG)
    page.set_input_files("#attach", str(image))
    page.fill("#prompt", "what is this?")
    page.click("#generate-button")
    expect(page.locator("#answer")).to_have_text("echo: what is this? [1 image(s): image/png]", timeout=10000)
    page.set_input_files("#attach", [])

    page.fill("#schema", '{"type": "object", "properties": {"answer": {"type": "string"}}}')
    page.click("#generate-button")
    expect(page.locator("#parsed-box")).to_be_visible(timeout=10000)
    assert json.loads(page.locator("#parsed").text_content() or "") == {"answer": "what is this?", "images": 0}
    expect(page.locator("#tool-calls-box")).to_be_hidden()

    page.fill("#schema", "")
    page.fill("#tools", json.dumps(TOOLS))
    page.click("#generate-button")
    expect(page.locator("#tool-calls-box")).to_be_visible(timeout=10000)
    calls = json.loads(page.locator("#tool-calls").text_content() or "")
    assert [call["name"] for call in calls] == ["get_weather", "get_time"]
    assert calls[0]["parsed_arguments"] == {"prompt": "what is this?"}
    expect(page.locator("#parsed-box")).to_be_hidden()
    expect(page.locator("#generate-stats")).to_contain_text("tool_calls")
    shot(page, "tool-calls")

    page.fill("#tools", "[not json")
    page.click("#generate-button")
    expect(page.locator("#message-text")).to_contain_text("The tools are not valid JSON")
