"""The Live tab in headless Chromium: a song played live shows frames in the tab's page, Next and
Stop work, a second visitor is told the one live session is taken, and a microphone (Chromium's
fake one) streams into a session that locks onto it."""

from __future__ import annotations

import pytest

from tests.space.test_browser import CHROMIUM, SLOW, browser, expect_text, page, song  # noqa: F401  (fixtures)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium"),
]


def start_live(tab, song_path) -> None:  # noqa: D103
    tab.locator("#tab-audio-button").click()
    tab.locator("#song input[type=file]").set_input_files(str(song_path))
    tab.wait_for_selector("#song audio", state="attached", timeout=SLOW)
    tab.locator("#tab-live-button").click()
    tab.locator("#live-prompts textarea").fill("a red sun\na blue sea")
    tab.locator("#live-start").click()


def test_a_song_played_live_shows_frames_and_stops(page, song):  # noqa: F811
    start_live(page, song)
    expect_text(page, "#live-status", r"locked at \d+", timeout=60_000)
    screen = page.frame_locator("#live-screen iframe")
    screen.locator("#line").wait_for(timeout=SLOW)
    page.wait_for_function(
        "() => { const f = document.querySelector('#live-screen iframe');"
        " const img = f && f.contentDocument && f.contentDocument.getElementById('frames');"
        " return img && img.naturalWidth === 64; }",
        timeout=30_000,
    )
    assert "live frames" == screen.locator("#frames").get_attribute("alt")
    page.locator("#live-add input, #live-add textarea").first.fill("green hills")
    page.locator("#live-add input, #live-add textarea").first.press("Enter")
    expect_text(page, "#live-status", r"now: .*")
    page.locator("#live-stop").click()
    expect_text(page, "#live-status", r"\bstopped")
    assert page.locator("#live-screen iframe").count() == 0


def test_a_second_visitor_is_told_the_live_session_is_taken(browser, space, song):  # noqa: F811
    first, second = browser.new_context(), browser.new_context()
    try:
        one, two = first.new_page(), second.new_page()
        for tab in (one, two):
            tab.goto(space[1])
            tab.wait_for_selector("#analyze", timeout=SLOW)
        start_live(one, song)
        expect_text(one, "#live-status", r"starting|listening|locked", timeout=60_000)
        start_live(two, song)
        expect_text(two, ".toast-body, [data-testid=toast-body]", r"live session\(s\) at once", timeout=30_000)
        one.locator("#live-stop").click()
        expect_text(one, "#live-status", r"\bstopped")
    finally:
        first.close()
        second.close()


def test_the_microphone_streams_into_a_session(browser, space):  # noqa: F811
    """Chromium's fake microphone (a regular beep) through Gradio's streaming audio: the session
    hears it and follows it."""
    args = ["--no-sandbox", "--disable-gpu", "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream"]
    # A Chromium of its own (the fake devices are launch flags), from the same Playwright as the others.
    chromium = browser.browser_type.launch(executable_path=str(CHROMIUM), headless=True, args=args)
    try:
        tab = chromium.new_context(permissions=["microphone"]).new_page()
        tab.goto(space[1])
        tab.wait_for_selector("#analyze", timeout=SLOW)
        tab.locator("#tab-live-button").click()
        tab.locator("#live-source label:has-text('Microphone')").click()
        tab.locator("#live-prompts textarea").fill("a red sun")
        tab.locator("#live-start").click()
        expect_text(tab, "#live-status", r"no sound yet.*record button", timeout=60_000)
        tab.locator("#live-mic button:has-text('Record')").click()
        expect_text(tab, "#live-status", r"locked at \d+", timeout=60_000)
        tab.locator("#live-stop").click()
        expect_text(tab, "#live-status", r"\bstopped")
    finally:
        chromium.close()
