"""The playground page in a real headless Chromium (Debian's package), driven by Playwright.

Each scenario keeps a screenshot under ``$PENGUIFLOW_SCREENSHOTS`` (default: a pytest
temporary directory). Without ``/usr/bin/chromium`` the tests skip, and fail when the
``CI`` environment variable is set.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playground_agent import CALLS, TOKEN, serve

playwright_api = pytest.importorskip("playwright.sync_api")

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
WIDE = {"width": 1280, "height": 800}
TIMEOUT_MS = 15_000

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not (os.path.exists(CHROMIUM) or shutil.which("chromium")):
        message = "chromium not found; run scripts/ci_services.sh (apt-get install chromium)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    playwright_api.expect.set_options(timeout=TIMEOUT_MS)
    with playwright_api.sync_playwright() as pw:
        launched = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with serve(tmp_path_factory.mktemp("browser")) as url:
        yield url


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    configured = os.environ.get("PENGUIFLOW_SCREENSHOTS")
    folder = Path(configured) if configured else tmp_path_factory.mktemp("screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def context(browser: Any) -> Iterator[Any]:
    CALLS.clear()
    ctx = browser.new_context(viewport=WIDE)
    ctx.set_default_timeout(TIMEOUT_MS)
    yield ctx
    ctx.close()


def open_page(context: Any, base_url: str) -> Any:
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{base_url}/?token={TOKEN}")
    page.wait_for_selector("body[data-ready=true]")
    page.errors = errors
    return page


def ask(page: Any, question: str) -> Any:
    page.fill("#question", question)
    page.press("#question", "Enter")
    return page.locator(".msg-agent").last


def approvals(page: Any) -> Any:
    """Open the inbox; return the newest undecided pause card (found by its pause id)."""
    page.click("#tab-approvals")
    fresh = page.locator(".pause-card:not(.decided)").last
    return page.locator(f'.pause-card[data-pause="{fresh.get_attribute("data-pause")}"]')


def test_the_token_leaves_the_url_and_requests_without_it_are_refused(
    context: Any, base_url: str, shots: Path
) -> None:
    page = open_page(context, base_url)
    assert "token" not in page.url
    assert page.evaluate("sessionStorage.getItem('penguiflow.playground.token')") == TOKEN
    status = page.evaluate("fetch('/api/info').then(r => r.status)")
    assert status == 401
    stranger = context.browser.new_context(viewport=WIDE)
    other = stranger.new_page()
    other.goto(base_url)
    other.wait_for_selector("#auth-missing:not([hidden])")
    other.screenshot(path=shots / "no-token.png")
    stranger.close()
    assert not page.errors


def test_chat_streams_the_answer_with_tool_cards_side_by_side(
    context: Any, base_url: str, shots: Path
) -> None:
    page = open_page(context, base_url)
    reply = ask(page, "weather in Paris")
    playwright_api.expect(reply.locator(".answer")).to_have_text("It is sunny in Paris.")
    card = reply.locator(".tool-card")
    playwright_api.expect(card).to_have_count(1)
    playwright_api.expect(card.locator(".card-status")).to_contain_text("ok")
    playwright_api.expect(card.locator(".card-args")).to_contain_text('"city": "Paris"')
    reply = ask(page, "compare Paris and Oslo")
    playwright_api.expect(reply.locator(".answer")).to_have_text("Paris: sunny; Oslo: snow")
    cards = reply.locator(".step-group.parallel .tool-card")
    playwright_api.expect(cards).to_have_count(2)
    first, second = (cards.nth(i).bounding_box() for i in range(2))
    assert first["y"] == second["y"] and first["x"] < second["x"]  # side by side
    page.wait_for_selector("#chat-timeline svg .tl-row")
    page.locator("#chat-timeline .tl-row").first.click()
    playwright_api.expect(page.locator("#chat-step")).to_contain_text("Model request")
    page.screenshot(path=shots / "chat.png")
    assert CALLS["lookup"] == 3 and not page.errors


def test_approving_runs_the_tool_once_and_updates_the_timeline(
    context: Any, base_url: str, shots: Path
) -> None:
    page = open_page(context, base_url)
    reply = ask(page, "announce lunch at noon")
    playwright_api.expect(reply.locator(".run-note")).to_contain_text("Paused")
    card = approvals(page)
    playwright_api.expect(card.locator("textarea")).to_contain_text('"text": "lunch at noon"')
    page.screenshot(path=shots / "approvals.png")
    card.get_by_role("button", name="Approve", exact=True).click()
    playwright_api.expect(card.locator(".won")).to_contain_text("approved by you")
    page.click("#tab-chat")
    playwright_api.expect(reply.locator(".answer")).to_have_text(
        "Posted: lunch at noon (priority 1)"
    )
    timeline = page.locator("#chat-timeline")
    playwright_api.expect(timeline.locator(".tl-tool.tl-ok")).to_have_count(1)
    playwright_api.expect(timeline.locator(".tl-mark-resume")).to_have_count(1)
    page.screenshot(path=shots / "approved.png")
    assert CALLS["post_announcement"] == 1 and not page.errors


def test_rejecting_with_a_reason(context: Any, base_url: str, shots: Path) -> None:
    page = open_page(context, base_url)
    reply = ask(page, "announce a holiday")
    playwright_api.expect(reply.locator(".run-note")).to_contain_text("Paused")
    card = approvals(page)
    card.get_by_label("Rejection reason").fill("ask HR first")
    card.get_by_role("button", name="Reject").click()
    playwright_api.expect(card.locator(".won")).to_contain_text("rejected: ask HR first")
    page.click("#tab-chat")
    playwright_api.expect(reply.locator(".answer")).to_contain_text("ask HR first")
    playwright_api.expect(reply.locator(".tool-card.status-rejected")).to_have_count(1)
    page.screenshot(path=shots / "rejected.png")
    assert CALLS["post_announcement"] == 0 and not page.errors


def test_editing_arguments_shows_errors_inline_then_runs_the_valid_edit(
    context: Any, base_url: str, shots: Path
) -> None:
    page = open_page(context, base_url)
    reply = ask(page, "announce the offsite")
    playwright_api.expect(reply.locator(".run-note")).to_contain_text("Paused")
    card = approvals(page)
    args = card.locator("textarea")
    args.fill('{"text": "the offsite", "priority": 9}')
    card.get_by_role("button", name="Approve edited").click()
    playwright_api.expect(card.locator(".field-errors")).to_contain_text(
        "priority: Input should be less than or equal to 5"
    )
    playwright_api.expect(args).to_have_attribute("aria-invalid", "true")
    page.screenshot(path=shots / "edit-invalid.png")
    assert CALLS["post_announcement"] == 0
    args.fill('{"text": "the offsite is on Friday", "priority": 3}')
    card.get_by_role("button", name="Approve edited").click()
    playwright_api.expect(card.locator(".won")).to_contain_text("edited arguments")
    page.click("#tab-chat")
    playwright_api.expect(reply.locator(".answer")).to_have_text(
        "Posted: the offsite is on Friday (priority 3)"
    )
    assert CALLS["post_announcement"] == 1 and not page.errors


def test_a_reload_finds_the_history(context: Any, base_url: str, shots: Path) -> None:
    page = open_page(context, base_url)
    reply = ask(page, "weather in Oslo")
    playwright_api.expect(reply).to_have_attribute("data-status", "finished")
    page.reload()
    page.wait_for_selector("body[data-ready=true]")
    playwright_api.expect(page.locator(".msg-user")).to_have_text(["weather in Oslo"])
    restored = page.locator(".msg-agent").last
    playwright_api.expect(restored.locator(".answer")).to_have_text("It is snow in Oslo.")
    playwright_api.expect(restored.locator(".tool-card")).to_have_count(1)
    page.click("#tab-runs")
    row = page.locator("#runs-table tbody tr", has_text="weather in Oslo")
    playwright_api.expect(row).to_have_count(1)
    page.select_option("#filter-status", "paused")
    playwright_api.expect(
        page.locator("#runs-table tbody tr", has_text="weather in Oslo")
    ).to_have_count(0)
    page.select_option("#filter-status", "")
    row.click()
    page.wait_for_selector("#run-detail svg .tl-row")
    page.screenshot(path=shots / "runs.png")
    assert not page.errors


def test_two_tabs_approve_the_same_pause_and_exactly_one_wins(
    context: Any, base_url: str, shots: Path
) -> None:
    first = open_page(context, base_url)
    reply = ask(first, "announce the race")
    playwright_api.expect(reply.locator(".run-note")).to_contain_text("Paused")
    second = open_page(context, base_url)
    cards = [approvals(first), approvals(second)]
    for card in cards:
        playwright_api.expect(card).to_be_visible()
    for card in cards:
        card.get_by_role("button", name="Approve", exact=True).click(no_wait_after=True)
    playwright_api.expect(first.locator(".won, .lost")).to_have_count(1)
    playwright_api.expect(second.locator(".won, .lost")).to_have_count(1)
    outcomes = [page.locator(".won, .lost").first for page in (first, second)]
    classes = sorted(o.get_attribute("class") or "" for o in outcomes)
    assert classes == ["lost", "won"]
    winner, loser = (
        (first, second) if "won" in (outcomes[0].get_attribute("class") or "") else (second, first)
    )
    label = winner.evaluate("sessionStorage.getItem('penguiflow.playground.client')")
    playwright_api.expect(loser.locator(".lost")).to_contain_text(f"Already decided by {label}")
    loser.screenshot(path=shots / "two-tabs-loser.png")
    first.click("#tab-chat")
    playwright_api.expect(reply.locator(".answer")).to_have_text("Posted: the race (priority 1)")
    assert CALLS["post_announcement"] == 1


def test_a_narrow_window_and_the_keyboard(context: Any, base_url: str, shots: Path) -> None:
    page = open_page(context, base_url)
    page.set_viewport_size({"width": 420, "height": 800})
    reply = ask(page, "weather in Rome")
    playwright_api.expect(reply.locator(".answer")).to_have_text("It is sunny in Rome.")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 420
    page.focus("#tab-chat")
    page.keyboard.press("ArrowRight")
    playwright_api.expect(page.locator("#view-approvals")).to_be_visible()
    page.keyboard.press("ArrowRight")
    playwright_api.expect(page.locator("#view-runs")).to_be_visible()
    page.click("#tab-chat")
    page.screenshot(path=shots / "narrow.png", full_page=False)
    page.set_viewport_size(WIDE)
    page.click("#tab-tools")
    playwright_api.expect(page.locator(".tool-entry")).to_have_count(3)
    page.screenshot(path=shots / "tools.png")
    page.click("#tab-flow")
    playwright_api.expect(page.locator(".flow-graph .node-tool")).to_have_count(3)
    page.screenshot(path=shots / "flow.png")
    assert not page.errors
