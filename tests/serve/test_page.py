"""The drawing page as a person meets it: the model menu opens on the shipped default and
names models readably; on a 390x844 phone the answer and the bars are visible right after
drawing (with a finger); a tap leaves no hover colour behind; key hints show only to people
with a keyboard. Browser tests run on the fake recognizer (tall mark -> 1, other -> 7)."""

from __future__ import annotations

import json

import pytest
from browser_helpers import expect_state, open_page
from serve_helpers import ONE, draw_png

from digitkit.serve.catalog import describe_model, readable_architecture

PHONE = {
    "viewport": {"width": 390, "height": 844},
    "device_scale_factor": 3,
    "is_mobile": True,
    "has_touch": True,
}
ACCENT, ACCENT_HOVER = "rgb(11, 87, 164)", "rgb(8, 71, 128)"  # style.css: button, :hover


# ----- the model list ----------------------------------------------------------------------


def write_json(path, doc) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc), encoding="utf-8")


def test_models_listing_labels_every_model_default_first(client):
    body = client.get("/api/models").json()
    details = body["details"]
    assert [d["name"] for d in details] == ["default", "unsure"]
    assert details[0]["default"] and not details[1]["default"]
    # "default" is the shipped ensemble: its label and accuracy come from its spec.
    assert details[0]["label"].startswith("Default: ")
    assert details[0]["label"].endswith("% on MNIST test")
    assert 0.9 < details[0]["accuracy"] <= 1
    # A name without a card (the test double) is shown as it is, with no accuracy.
    assert details[1] == {"name": "unsure", "label": "unsure", "accuracy": None, "default": False}
    assert sorted(d["name"] for d in details) == sorted(body["models"])


def test_describe_a_run_from_its_card(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_json(
        tmp_path / "trained" / "scratch-lenet5" / "card.json",
        {
            "engine": "numpy",
            "architecture": {"name": "lenet5", "args": {}},
            "seed": 3,
            "data": {"dataset": "mnist"},
            "metrics": {"test": {"accuracy": 0.9912}},
        },
    )
    info = describe_model("trained/scratch-lenet5")
    assert info.label == "Run scratch-lenet5: LeNet-5 in NumPy (MNIST, seed 3), 99.12%"
    assert info.accuracy == pytest.approx(0.9912)


def test_describe_an_ensemble_as_the_default(tmp_path):
    spec = tmp_path / "pair.json"
    write_json(
        spec,
        {
            "format": "digitkit-ensemble/1",
            "members": ["a", "b"],
            "data": {"dataset": "mixed"},
            "metrics": {"test": {"accuracy": 0.9967}},
        },
    )
    info = describe_model(str(spec), is_default=True)
    assert info.label == "Default: 2-model ensemble, 99.67% on MNIST test"
    assert describe_model(str(spec)).label == "2-model ensemble (real handwriting), 99.67%"


def test_a_damaged_card_falls_back_to_the_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "runs" / "odd").mkdir(parents=True)
    (tmp_path / "runs" / "odd" / "card.json").write_text("[1, 2", encoding="utf-8")
    assert describe_model("runs/odd").label == "Run odd: runs/odd"
    write_json(tmp_path / "runs" / "odd" / "card.json", {"metrics": [], "architecture": 3})
    assert describe_model("runs/odd").accuracy is None


@pytest.mark.parametrize(
    "name, readable",
    [
        ("cnn-medium", "CNN medium"),
        ("lenet5", "LeNet-5"),
        ("scratch-mlp", "MLP"),
        ("wrn-28-10", "WRN 28 10"),
    ],
)
def test_readable_architecture(name, readable):
    assert readable_architecture(name) == readable


# ----- in the browser ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server(page_server):
    return page_server


@pytest.fixture
def desktop(page):
    return page


@pytest.fixture
def phone(browser, server):
    page = open_page(browser, server, **PHONE)
    yield page
    assert page.js_errors == []
    page.context.close()


def draw_with_finger(page, strokes, steps: int = 6) -> None:
    """Draw ``strokes`` (in the 280x280 canvas box) with touch events, as a finger does:
    Chrome DevTools touch input, so the page gets pointer events of type "touch"."""
    cdp = page.context.new_cdp_session(page)
    box = page.locator("#pad").bounding_box()

    def touch(kind: str, p=None) -> None:
        points = (
            []
            if p is None
            else [
                {
                    "x": box["x"] + p[0] * box["width"] / 280,
                    "y": box["y"] + p[1] * box["height"] / 280,
                }
            ]
        )
        cdp.send("Input.dispatchTouchEvent", {"type": kind, "touchPoints": points})

    for stroke in strokes:
        touch("touchStart", stroke[0])
        for a, b in zip(stroke, stroke[1:], strict=False):
            for i in range(1, steps + 1):
                t = i / steps
                touch("touchMove", (a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t))
        touch("touchEnd")
    cdp.detach()


def background(page, selector: str) -> str:
    return page.locator(selector).evaluate("e => getComputedStyle(e).backgroundColor")


@pytest.mark.browser
def test_model_menu_opens_on_the_default_by_name(desktop):
    from playwright.sync_api import expect

    menu = desktop.locator("#model")
    assert menu.input_value() == ""  # "" = the server's default
    selected = menu.locator("option:checked")
    expect(selected).to_have_text(
        desktop.evaluate("fetch('/api/models').then(r => r.json()).then(b => b.details[0].label)")
    )
    assert selected.inner_text().startswith("Default: ")
    expect(menu.locator("option")).to_have_count(2)
    assert menu.locator("option").nth(1).inner_text() == "unsure"


@pytest.mark.browser
def test_phone_shows_answer_and_bars_without_scrolling(phone, artifacts_dir):
    phone.evaluate(
        "window.kinds = []; document.getElementById('pad')"
        ".addEventListener('pointerdown', e => window.kinds.push(e.pointerType))"
    )
    draw_with_finger(phone, ONE)
    expect_state(phone, "ok", "1")
    assert phone.evaluate("window.kinds") == ["touch"]
    assert phone.evaluate("window.scrollY") == 0
    height = PHONE["viewport"]["height"]
    for part in ("#top", "#status", "#bars"):
        box = phone.locator(part).bounding_box()
        assert box["y"] >= 0 and box["y"] + box["height"] <= height, (part, box)
    assert phone.locator("#status").inner_text() == "It is a 1 (90%)"
    assert phone.locator("#bars li.best .d").inner_text() == "1"
    # Nothing wider than the screen, even with long model names in the menu.
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390
    phone.screenshot(path=artifacts_dir / "page-phone-390x844.png")


@pytest.mark.browser
def test_phone_tap_leaves_no_hover_colour(phone, tmp_path):
    # Something to clear, put there without touch: in headless chromium the first tap
    # within about a second of a DevTools touch drag gives no click (seen on every try).
    path = tmp_path / "one.png"
    path.write_bytes(draw_png(ONE))
    phone.set_input_files("#file", str(path))
    expect_state(phone, "ok", "1")
    phone.tap("#clear")
    expect_state(phone, "empty", "")
    # Whatever the browser still counts as hovered after a tap, the colour stays the same.
    phone.hover("#clear")
    assert phone.locator("#clear").evaluate("e => e.matches(':hover')")
    assert background(phone, "#clear") == ACCENT


@pytest.mark.browser
def test_desktop_mouse_still_gets_hover_colour(desktop):
    assert background(desktop, "#clear") == ACCENT
    desktop.hover("#clear")
    assert background(desktop, "#clear") == ACCENT_HOVER


@pytest.mark.browser
def test_key_hints_only_for_keyboards(phone, desktop):
    assert desktop.locator(".keys").is_visible()
    assert not phone.locator(".keys").is_visible()
    phone.keyboard.press("]")  # a phone with a keyboard: the hints appear
    assert phone.locator("#brush-out").inner_text() == "22"
    assert phone.locator(".keys").is_visible()


@pytest.mark.browser
def test_desktop_layout_unchanged_by_the_phone_rules(desktop, artifacts_dir):
    """Above 760 px the bars stay ten horizontal rows beside the pad."""
    bars = desktop.locator("#bars li")
    first, second = bars.nth(0).bounding_box(), bars.nth(1).bounding_box()
    assert second["y"] > first["y"] and abs(second["x"] - first["x"]) < 1
    pad, result = desktop.locator("#pad").bounding_box(), desktop.locator("#result").bounding_box()
    assert result["x"] > pad["x"] + pad["width"]
    desktop.screenshot(path=artifacts_dir / "page-desktop.png")
