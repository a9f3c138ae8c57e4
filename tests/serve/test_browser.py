"""The drawing page in headless chromium: real mouse strokes, empty state, clear/undo,
upload, number mode, keyboard, a phone viewport. Runs on the fake recognizer (tall mark -> 1,
other marks -> 7), so it checks the page, not the model; real-model drawings are in
test_real_model.py. Screenshots go to the artifacts directory."""

from __future__ import annotations

import pytest
from browser_helpers import draw, expect_state, open_page
from serve_helpers import ONE, SEVEN, draw_png

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def server(page_server):
    return page_server


def test_empty_canvas_claims_nothing(page, artifacts_dir):
    expect_state(page, "empty", "")
    assert page.locator("#status").inner_text() == "Nothing drawn yet."
    pcts = page.locator("#bars .pct").all_inner_texts()
    assert pcts == ["0%"] * 10
    assert page.locator("#pad").evaluate("c => getComputedStyle(c).touchAction") == "none"
    page.screenshot(path=artifacts_dir / "web-empty.png")


def test_draw_digits_with_mouse(page, artifacts_dir):
    draw(page, ONE)
    expect_state(page, "ok", "1")
    assert page.locator("#bars li.best .d").inner_text() == "1"
    assert page.locator("#bars li.best .pct").inner_text() == "90%"
    # The preview shows what the model saw: some bright pixels.
    lit = page.locator("#preview").evaluate(
        "c => c.getContext('2d').getImageData(0, 0, 28, 28).data.filter(v => v > 200).length"
    )
    assert lit > 28
    page.screenshot(path=artifacts_dir / "web-one.png")
    page.click("#clear")
    draw(page, SEVEN)
    expect_state(page, "ok", "7")


def test_undo_and_clear(page):
    draw(page, ONE)
    expect_state(page, "ok", "1")
    draw(page, [[(60, 140), (230, 140)]])  # a wide cross-bar: no longer a tall mark
    expect_state(page, "ok", "7")
    page.click("#undo")
    expect_state(page, "ok", "1")
    page.click("#undo")
    expect_state(page, "empty", "")
    draw(page, SEVEN)
    expect_state(page, "ok", "7")
    page.click("#clear")
    expect_state(page, "empty", "")
    ink = page.locator("#pad").evaluate(
        "c => c.getContext('2d').getImageData(0, 0, c.width, c.height).data"
        ".filter(v => v < 128).length"
    )
    assert ink == 0


def test_keyboard(page):
    draw(page, ONE)
    expect_state(page, "ok", "1")
    page.keyboard.press("Control+z")
    expect_state(page, "empty")
    draw(page, ONE)
    expect_state(page, "ok", "1")
    page.keyboard.press("Escape")
    expect_state(page, "empty")
    page.keyboard.press("]")
    assert page.locator("#brush-out").inner_text() == "22"
    # Every control is reachable with Tab and has an accessible name.
    for sel in ("#undo", "#clear", "#open", "#brush", "#model"):
        page.focus(sel)
        assert page.evaluate("document.activeElement.id") == sel[1:]
    assert page.locator("label[for=brush]").count() == 1
    assert page.locator("label[for=model]").count() == 1


def test_upload_a_file(page, tmp_path, artifacts_dir):
    path = tmp_path / "seven.png"
    path.write_bytes(draw_png(SEVEN))
    page.set_input_files("#file", str(path))
    expect_state(page, "ok", "7")
    page.screenshot(path=artifacts_dir / "web-upload.png")
    page.click("#undo")  # removes the uploaded image
    expect_state(page, "empty")


def test_strokes_go_as_a_drawing_an_opened_file_as_itself(page, tmp_path):
    """The page tells the server what it sends: strokes on its plain canvas are a drawing
    (nothing in them is print); an opened file, even drawn over, is judged as a file."""

    def predicts(request) -> bool:
        return "/api/predict" in request.url

    with page.expect_request(predicts) as drawn:
        draw(page, ONE)
    expect_state(page, "ok", "1")
    assert "drawing=true" in drawn.value.url
    page.click("#clear")
    path = tmp_path / "seven.png"
    path.write_bytes(draw_png(SEVEN))
    with page.expect_request(predicts) as opened:
        page.set_input_files("#file", str(path))
    expect_state(page, "ok", "7")
    with page.expect_request(predicts) as drawn_over:
        draw(page, [[(60, 250), (90, 250)]])
    expect_state(page, "ok", "7")
    assert "drawing=" not in opened.value.url and "drawing=" not in drawn_over.value.url


def test_drop_a_file(page):
    data = list(draw_png(ONE))
    page.evaluate(
        """bytes => {
        const dt = new DataTransfer();
        dt.items.add(new File([new Uint8Array(bytes)], "one.png", {type: "image/png"}));
        document.getElementById("drop").dispatchEvent(
            new DragEvent("drop", {dataTransfer: dt, bubbles: true, cancelable: true}));
    }""",
        data,
    )
    expect_state(page, "ok", "1")


def test_rejects_other_files(page, tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("hello")
    page.set_input_files("#file", str(path))
    expect_state(page, "error")
    assert "PNG" in page.locator("#status").inner_text()


def test_uncertain_model_says_not_sure(page):
    from playwright.sync_api import expect

    options = page.locator("#model option")
    expect(options).to_have_count(2)
    assert options.nth(0).inner_text().startswith("Default: ")  # test_page.py: the labels
    assert options.nth(1).inner_text() == "unsure"
    page.select_option("#model", "unsure")
    draw(page, ONE)
    expect_state(page, "uncertain", "1")
    assert "Not sure" in page.locator("#status").inner_text()


def test_number_mode(page):
    page.check("input[name=mode][value=number]")
    assert page.locator("#pad").evaluate("c => [c.width, c.height]") == [560, 280]
    strokes = [[(x + 20, y) for x, y in ONE[0]]] + [[(x + 280, y) for x, y in SEVEN[0]]]
    draw(page, strokes, space=(560, 280))
    expect_state(page, "number", "17")
    assert page.locator("#digits li").count() == 2
    assert not page.locator("#bars").is_visible()  # per-digit results replace the bars
    assert not page.locator("#preview").is_visible()


def test_number_mode_says_why_nothing_was_read(page):
    page.select_option("#model", "unsure")  # the fake reads no digit surely
    page.check("input[name=mode][value=number]")
    draw(page, ONE, space=(560, 280))
    expect_state(page, "blank", "")
    assert page.locator("#status").inner_text().startswith("No number: blank: no digit read surely")


def test_phone_viewport(browser, server, artifacts_dir):
    page = open_page(
        browser,
        server,
        viewport={"width": 375, "height": 740},
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
    )
    try:
        # Nothing wider than the screen, and the canvas fills the width.
        assert page.evaluate("document.documentElement.scrollWidth") <= 375
        box = page.locator("#pad").bounding_box()
        assert 300 <= box["width"] <= 375 and abs(box["width"] - box["height"]) < 2
        draw(page, ONE)
        expect_state(page, "ok", "1")
        page.screenshot(path=artifacts_dir / "web-phone.png", full_page=True)
        assert page.js_errors == []
    finally:
        page.context.close()
