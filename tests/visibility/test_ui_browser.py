"""The web UI end to end in headless Chromium (Debian's, driven by Playwright): a real broker, a
real orchestrator and services, the real store and server (tests/visibility/ui_scenario.py).

Sign-in with each kind of token, the 401/403 messages, filtering the list, opening the parked
workflow, retrying it through the confirmation and seeing it complete, a signal, the keyboard,
a narrow window. The screenshots in docs/images/ are taken here: `make screenshots` runs this
file with SAGABRIDGE_UI_SCREENSHOTS=docs/images (otherwise they go to a temporary directory).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, ViewportSize, expect, sync_playwright
from pydantic import SecretStr

from orchestrator.transport.admin import KafkaAdmin
from orchestrator.visibility.auth import TokenAuth
from orchestrator.visibility.ui import ReportSource
from tests.visibility.ui_scenario import OPERATE, READ, Running, running

CHROMIUM = os.environ.get("SAGABRIDGE_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
WIDE = ViewportSize(width=1280, height=860)
NARROW = ViewportSize(width=390, height=844)

expect.set_options(timeout=60_000)  # a loaded 2-core machine: behaviour, not speed


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `apt-get install -y chromium` (.ci/run does) or set SAGABRIDGE_CHROMIUM")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def shop(kafka_admin: KafkaAdmin, kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    with running(kafka_admin, kafka_bootstrap, tmp_path_factory.mktemp("ui")) as run:
        yield run


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = os.environ.get("SAGABRIDGE_UI_SCREENSHOTS")
    path = Path(target) if target else tmp_path_factory.mktemp("screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport=WIDE, color_scheme="light", reduced_motion="reduce")
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    yield pg
    context.close()
    assert errors == [], f"the page raised: {errors}"


@pytest.fixture
def restore_auth(shop: Running) -> Iterator[None]:
    ctx = shop.server.app.state.visibility
    original = ctx.auth
    yield
    ctx.auth = original


def sign_in(page: Page, base: str, token: str) -> None:
    page.goto(base + "/")
    page.get_by_label("Access token").fill(token)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#who")).to_contain_text("alice" if token == OPERATE else "viewer")


def settle(page: Page) -> None:
    """Let the live refresh draw once more (so a screenshot shows a finished page)."""
    page.wait_for_load_state("networkidle")


def test_sign_in_refuses_a_bad_token_and_a_read_token_sees_but_cannot_act(page: Page, shop: Running) -> None:
    page.goto(shop.base_url + f"/workflows/{shop.parked_id}")
    expect(page.get_by_role("heading", name=re.compile("Sign in"))).to_be_visible()
    page.get_by_label("Access token").fill("not-a-token-0123456789")
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#signin-error")).to_contain_text("not accepted (401 Unauthorized)")
    page.get_by_label("Access token").fill(READ)
    page.get_by_role("button", name="Sign in").click()
    # back where the person was going, as the read token's name
    expect(page.locator("h1.wf-title")).to_have_text(shop.parked_id)
    expect(page.locator("#who")).to_contain_text("viewer")
    expect(page.locator("#who")).to_contain_text("read only")
    retry = page.locator("button[data-action=retry]")
    expect(retry).to_be_disabled()
    expect(page.locator("#actions-note")).to_contain_text("actions need an operate token")
    # the token travels in headers only: not in the URL, no cookie; this tab's sessionStorage holds it
    assert READ not in page.url
    assert page.context.cookies() == []
    assert page.evaluate("() => sessionStorage.getItem('sagabridge.visibility.token')") == READ
    assert page.evaluate("() => localStorage.getItem('sagabridge.visibility.token')") is None
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name=re.compile("Sign in"))).to_be_visible()
    assert page.evaluate("() => sessionStorage.getItem('sagabridge.visibility.token')") is None


def test_a_token_revoked_mid_session_returns_to_sign_in_with_the_reason(
    page: Page, shop: Running, restore_auth: None
) -> None:
    sign_in(page, shop.base_url, OPERATE)
    expect(page.locator("a.wf-link").first).to_be_visible()
    shop.server.app.state.visibility.auth = TokenAuth({"viewer": SecretStr(READ)}, {})  # alice's token is gone
    # the list's live refresh meets the 401
    expect(page.get_by_text("no longer accepted (401 Unauthorized)")).to_be_visible()
    expect(page.get_by_label("Access token")).to_be_visible()
    assert page.evaluate("() => sessionStorage.getItem('sagabridge.visibility.token')") is None


def test_an_action_refused_with_403_says_why_and_sends_nothing(page: Page, shop: Running, restore_auth: None) -> None:
    sign_in(page, shop.base_url, OPERATE)
    page.goto(shop.base_url + f"/workflows/{shop.parked_id}")
    expect(page.locator("button[data-action=retry]")).to_be_enabled()
    # an administrator made alice's token read-only on the server meanwhile
    shop.server.app.state.visibility.auth = TokenAuth({"alice": SecretStr(OPERATE), "viewer": SecretStr(READ)}, {})
    page.locator("button[data-action=retry]").click()
    dialog = page.locator("#action-dialog")
    dialog.get_by_role("button", name="Retry").click()
    expect(dialog.locator("#action-error")).to_contain_text("Not allowed (403 Forbidden)")
    expect(dialog.locator("#action-error")).to_contain_text("may read but not operate")
    dialog.get_by_role("button", name="Back").click()
    expect(page.locator("#who")).to_contain_text("read only")  # the UI now shows the token as it is
    expect(page.locator("button[data-action=retry]")).to_be_disabled()
    with shop.http() as http:
        detail = http.get(f"/api/v1/workflows/{shop.parked_id}").json()
    assert detail["workflow"]["status"] == "parked" and detail["operator_actions"] == []


def test_filter_open_the_parked_workflow_retry_it_and_see_it_complete(page: Page, shop: Running, shots: Path) -> None:
    sign_in(page, shop.base_url, OPERATE)
    rows = page.locator("table.wf-table tbody tr")
    expect(rows).to_have_count(6)
    settle(page)
    page.screenshot(path=shots / "ui-list.png")

    # status counts double as filters
    expect(page.locator("button.chip[data-status=parked] .chip-count")).to_have_text("1")
    page.locator("button.chip[data-status=parked]").click()
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text(shop.parked_id)
    assert "status=parked" in page.url
    page.locator("button.chip[data-status=all]").click()

    # search attributes, id prefix, type, time range: all in the URL, all applied together
    page.get_by_label("Search attributes").fill("customer_id=c-42")
    page.get_by_role("button", name="Apply").click()
    expect(rows).to_have_count(2)
    expect(page.locator("#list-summary")).to_contain_text("2 of 2")
    page.get_by_label("Workflow id starts with").fill("order-1042")
    page.get_by_role("button", name="Apply").click()
    expect(rows).to_have_count(1)
    page.get_by_role("button", name="Clear").click()
    expect(rows).to_have_count(6)
    page.get_by_label("Type").select_option("order-approval")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text(shop.waiting_id)
    page.get_by_label("Type").select_option("")
    page.get_by_label("Started", exact=True).select_option("1h")
    expect(rows).to_have_count(6)
    page.get_by_label("Started", exact=True).select_option("custom")
    page.get_by_label("Started from").fill("2000-01-01T00:00:00")
    page.get_by_label("to", exact=True).fill("2000-01-02T00:00:00")
    page.get_by_role("button", name="Apply").click()
    expect(page.get_by_text("No workflow matches these filters.")).to_be_visible()
    page.get_by_role("button", name="Clear").click()

    # open the parked one from the filtered list
    page.locator("button.chip[data-status=parked]").click()
    expect(rows).to_have_count(1)
    page.get_by_role("link", name=shop.parked_id).click()
    expect(page.locator("h1.wf-title")).to_have_text(shop.parked_id)
    expect(page.locator("#now")).to_contain_text("Parked: waiting for an operator")
    expect(page.locator("#now")).to_contain_text("sku-9: 0 in stock")
    expect(page.locator("#trace-link")).to_have_attribute(
        "href", re.compile(r"^http://127\.0\.0\.1:16686/trace/[0-9a-f]{32}$")
    )
    expect(page.locator("svg.gantt .att-failed")).to_have_count(3)  # three attempts, then parked
    expect(page.locator("svg.gantt .bar.parked")).to_have_count(2)  # on the workflow's row and the step's
    expect(page.locator("svg.gantt .backoff")).to_have_count(2)
    expect(page.locator("#input pre.json")).to_contain_text('"sku": "sku-9"')
    settle(page)
    page.screenshot(path=shots / "ui-parked.png", full_page=True)

    # Skip offers the result a completed run of the same step returned, to edit; Back sends nothing
    page.locator("button[data-action=skip]").click()
    skip = page.locator("#action-dialog")
    expect(skip.get_by_label("Result schema (Avro full name)")).to_have_value("sagabridge.demo.inventory.StockReserved")
    expect(skip.get_by_label("Result (JSON)")).to_have_value(re.compile('"reservation_id": "r-order-'))
    skip.get_by_role("button", name="Back").click()
    expect(skip).to_be_hidden()

    # the stock is back: retry it, through the confirmation
    shop.shop.restock()
    page.locator("button[data-action=retry]").click()
    dialog = page.locator("#action-dialog")
    expect(dialog).to_be_visible()
    expect(dialog.locator("#action-what")).to_contain_text("step #1 inventory · ReserveStock is sent again")
    expect(dialog).to_contain_text("Recorded as alice.")
    dialog.get_by_label("Reason (recorded with the action)").fill("sku-9 restocked")
    page.screenshot(path=shots / "ui-retry-confirm.png")
    dialog.get_by_role("button", name="Retry").click()
    expect(dialog).to_be_hidden()
    expect(page.locator("#notices")).to_contain_text("RETRY accepted")
    expect(page.locator(".wf-title + .badge")).to_have_text("completed")
    expect(page.locator("#notices")).to_contain_text("RETRY applied by alice")
    actions = page.locator("#operator-actions tbody tr")
    expect(actions).to_have_count(1)
    expect(actions.first).to_contain_text("RETRY")
    expect(actions.first).to_contain_text("alice")
    expect(actions.first).to_contain_text("sku-9 restocked")
    expect(page.locator("svg.gantt .att-succeeded")).to_have_count(3)  # the retried reserve, charge, ship
    expect(page.locator("svg.gantt .marker-action")).to_have_count(1)
    expect(page.locator("#result pre.json")).to_contain_text('"order_id": "order-1042"')
    page.locator("details.step[data-seq='1'] > summary").click()
    expect(page.locator("details.step[data-seq='1'] tbody tr")).to_have_count(4)
    expect(page.locator("#notices .banner")).to_have_count(0)  # "accepted" went on "applied", which fades
    settle(page)
    page.screenshot(path=shots / "ui-completed.png", full_page=True)


def test_signal_the_waiting_workflow_from_its_page(page: Page, shop: Running) -> None:
    sign_in(page, shop.base_url, OPERATE)
    page.goto(shop.base_url + f"/workflows/{shop.waiting_id}")
    expect(page.locator("#now")).to_contain_text("Awaits signal approve")
    page.locator("button[data-action=signal]").click()
    dialog = page.locator("#action-dialog")
    expect(dialog.get_by_label("Signal name")).to_have_value("approve")
    dialog.get_by_role("button", name="Send the signal").click()
    signals = page.locator("#signals tbody tr")
    expect(signals).to_have_count(1)
    expect(signals.first).to_contain_text("alice")
    expect(page.locator("#children")).to_contain_text(f"{shop.waiting_id}/fulfil")
    page.get_by_role("link", name=f"{shop.waiting_id}/fulfil").click()  # a child id with a "/"
    expect(page.locator("h1.wf-title")).to_have_text(f"{shop.waiting_id}/fulfil")
    expect(page.locator(".wf-title + .badge")).to_have_text("completed")


def test_the_keyboard_reaches_everything(page: Page, shop: Running) -> None:
    sign_in(page, shop.base_url, READ)
    expect(page.locator("a.wf-link").first).to_be_visible()
    page.keyboard.press("/")
    expect(page.get_by_label("Workflow id starts with")).to_be_focused()
    page.keyboard.type("order-104")
    page.keyboard.press("Enter")
    expect(page.locator("#list-summary")).to_contain_text("(by id)")
    page.locator("body").click(position={"x": 5, "y": 300})
    page.keyboard.press("j")
    first = page.locator("a.wf-link").first
    expect(first).to_be_focused()
    name = first.inner_text()
    page.keyboard.press("Enter")
    expect(page.locator("h1.wf-title")).to_have_text(name)
    page.keyboard.press("u")
    expect(page.get_by_role("heading", name="Workflows")).to_be_visible()
    page.keyboard.press("?")
    expect(page.get_by_role("dialog", name="Keyboard shortcuts")).to_be_visible()
    page.keyboard.press("Escape")
    expect(page.get_by_role("dialog", name="Keyboard shortcuts")).to_be_hidden()


def test_a_narrow_window_needs_no_sideways_scrolling(browser: Browser, shop: Running, shots: Path) -> None:
    context = browser.new_context(viewport=NARROW, color_scheme="light", reduced_motion="reduce")
    page = context.new_page()
    try:
        sign_in(page, shop.base_url, OPERATE)
        expect(page.locator("a.wf-link").first).to_be_visible()
        assert page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")
        settle(page)
        page.screenshot(path=shots / "ui-narrow-list.png", full_page=True)
        page.goto(shop.base_url + f"/workflows/{shop.declined_id}")
        expect(page.locator("svg.gantt")).to_be_visible()
        expect(page.locator("#compensations")).to_contain_text("ReleaseStock")
        assert page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")
    finally:
        context.close()


def test_a_registered_report_is_listed_and_shown_sandboxed(page: Page, shop: Running) -> None:
    html = "<!doctype html><title>flow</title><style>h1{color:#123}</style><h1>Discovered flow</h1>"
    if "flow" not in shop.server.reports.sources:
        shop.server.reports.add(ReportSource("flow", "Shadow: discovered flow", lambda: html, "what choreography ran"))
    sign_in(page, shop.base_url, READ)
    nav = page.get_by_role("link", name="Reports")
    expect(nav).to_be_visible()
    nav.click()
    page.get_by_role("link", name="Shadow: discovered flow").click()
    frame = page.locator("iframe.report-frame")
    expect(frame).to_have_attribute("sandbox", "")
    expect(page.frame_locator("iframe.report-frame").get_by_role("heading", name="Discovered flow")).to_be_visible()


def test_pure_helpers_of_the_modules(page: Page, shop: Running) -> None:
    sign_in(page, shop.base_url, READ)
    parsed = page.evaluate(
        """async () => {
            const src = document.querySelector('script[type=module]').src;
            const list = await import(new URL('list.js', src));
            return list.parseAttributes('customer_id=c-42 note="two words" vip=true');
        }"""
    )
    assert parsed == ["customer_id=c-42", "note=two words", "vip=true"]
