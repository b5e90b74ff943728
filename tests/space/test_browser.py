"""Journeys through the Space in headless Chromium (Debian's), driven by Playwright, with the tiny model.

Upload a song, analyse, edit a keyframe, render a draft that plays; Stop a
render and resume it; a file that is not audio gets a clear error.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from synth.songs import drum_song, write_song
from tests.space_app import sessions

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--autoplay-policy=no-user-gesture-required",
]
SONG_SECONDS = 6.0
SLOW = 120_000  # ms: analysing and rendering on a busy 2-core machine

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium"),
]


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, space):
    context = browser.new_context(viewport={"width": 1280, "height": 1600})
    page = context.new_page()
    page.goto(space[1])
    page.wait_for_selector("#analyze", timeout=SLOW)
    yield page
    context.close()


@pytest.fixture(scope="module")
def song(tmp_path_factory):
    samples, _, _ = drum_song(duration=SONG_SECONDS, bpm=120.0)
    return write_song(tmp_path_factory.mktemp("song") / "drums.wav", samples)


def expect_text(page, selector: str, pattern: str, *, timeout: int = SLOW) -> str:
    from playwright.sync_api import expect

    expect(page.locator(selector)).to_contain_text(re.compile(pattern), timeout=timeout)
    return page.locator(selector).inner_text()


def analyse(page, song: Path) -> None:
    page.locator("#tab-audio-button").click()
    page.locator("#song input[type=file]").set_input_files(str(song))
    page.locator("#analyze").click()
    expect_text(page, "#analysis-summary", r"BPM")
    page.locator("#tab-keyframes-button").click()
    expect_text(page, "#keyframes-status", r"keyframes")


def edit_cell(page, row: int, column: int, text: str) -> None:
    """Type ``text`` into a cell of the keyframe table (rows and columns from 0) and press Enter."""
    page.locator(f"#keyframes-table [data-testid=cell-{row}-{column}]").dblclick()
    editor = page.locator("#keyframes-table textarea[aria-label='Edit cell']")
    editor.fill(text)
    editor.press("Enter")


def type_into(page, field, text: str) -> None:
    """Fill a text field just shown by an opened accordion and leave it (Tab), until the page keeps
    the text: a field mounted a moment ago can be reset to its first value after a fill."""
    for _ in range(5):
        field.fill(text)
        field.press("Tab")
        page.wait_for_timeout(250)
        if field.input_value() == text:
            return
    raise AssertionError(f"the field never kept {text!r}")


def set_slider(page, elem_id: str, value: float) -> None:
    box = page.locator(f"#{elem_id} input[type=number]")
    box.fill(str(value))
    box.press("Enter")


def small_render_settings(page) -> None:
    """64×64 at 8 fps: the frame plan (and its summary) follows each change."""
    page.locator("#tab-motion-button").click()
    set_slider(page, "fps", 8)
    expect_text(page, "#plan-summary", rf"{round(SONG_SECONDS * 8)} frames")
    set_slider(page, "width", 64)
    expect_text(page, "#plan-summary", r"64×\d+")
    set_slider(page, "height", 64)
    expect_text(page, "#plan-summary", r"64×64")


def video_state(page) -> dict:
    return page.locator("#render-video video").evaluate(
        "v => ({src: v.currentSrc, readyState: v.readyState, duration: v.duration, error: v.error && v.error.code})"
    )


def test_upload_analyse_edit_and_render_a_draft_that_plays(page, song):
    analyse(page, song)
    assert page.locator("#analysis-plot img, #analysis-plot canvas, #analysis-plot svg").count() > 0

    # Edit the second keyframe's prompt in the table: the project follows.
    edit_cell(page, 1, 1, "a golden desert at noon")
    expect_text(page, "#keyframes-status", r"2 keyframes")
    page.locator("#keyframe-choice input").click()
    expect_text(page, "ul[role=listbox]", r"golden desert")
    page.keyboard.press("Escape")

    small_render_settings(page)

    page.locator("#tab-render-button").click()
    page.locator("#render-draft").click()
    expect_text(page, "#render-progress", r"Draft done")
    page.wait_for_function(
        "() => { const v = document.querySelector('#render-video video'); return v && v.readyState >= 1; }",
        timeout=SLOW,
    )
    state = video_state(page)
    assert state["src"] and state["error"] is None
    assert state["duration"] == pytest.approx(SONG_SECONDS, abs=0.3)
    # It plays: time moves on.
    page.locator("#render-video video").evaluate("v => { v.muted = true; return v.play(); }")
    page.wait_for_function(
        "() => document.querySelector('#render-video video').currentTime > 0.2", timeout=30_000
    )
    # And it is scored.
    expect_text(page, "#sync-score", r"F-measure \d\.\d\d")
    assert page.locator("#download-video").is_visible()


def test_stop_keeps_the_job_and_resume_finishes_it(page, song, space):
    analyse(page, song)
    small_render_settings(page)
    set_slider(page, "batch-size", 2)  # 24 batches: still under way when Stop lands (auto, 32, makes two)
    page.locator("#tab-render-button").click()
    page.locator("#render-final").click()
    expect_text(page, "#render-progress", r"[1-9]\d* / \d+ frames")
    page.locator("#render-stop").click()
    expect_text(page, "#render-progress", r"Stopped at \d+ / 48 frames")
    # The render ends itself after its current batch, at the last finished chunk; then nothing moves.
    settled, previous = None, None
    for _ in range(30):
        page.wait_for_timeout(1000)
        text = page.locator("#render-progress").inner_text()
        if text == previous:
            settled = text
            break
        previous = text
    assert settled is not None and re.fullmatch(r"⏹️ Stopped at \d+ / 48 frames\. .*", settled.strip(), re.S)
    assert video_state_or_none(page) is None
    assert any((folder / "final-job").is_dir() for folder in sessions(space[0]))

    page.locator("#render-resume").click()
    expect_text(page, "#render-progress", r"Final done: 48 frames")
    page.wait_for_function(
        "() => { const v = document.querySelector('#render-video video'); return v && v.readyState >= 1; }",
        timeout=SLOW,
    )
    assert video_state(page)["duration"] == pytest.approx(SONG_SECONDS, abs=0.3)

    # Leaving the page removes the session's folder (job, videos, exports).
    page.context.close()
    for _ in range(30):
        if not sessions(space[0]):
            break
        time.sleep(0.5)
    assert sessions(space[0]) == []


def video_state_or_none(page):
    return video_state(page) if page.locator("#render-video video").count() else None


def test_a_file_that_is_not_audio_gets_a_clear_error(page, tmp_path):
    fake = tmp_path / "holiday.mp3"
    fake.write_text("not a song at all\n" * 100)
    page.locator("#song input[type=file]").set_input_files(str(fake))
    page.locator("#analyze").click()
    toast = expect_text(page, ".toast-body", r"holiday\.mp3", timeout=60_000)
    assert re.search(r"not an audio file|no audio stream", toast)
    assert "Traceback" not in toast
    assert "BPM" not in page.locator("#analysis-summary").inner_text()


def test_a_tempo_range_mends_the_metrical_level_and_a_bad_one_is_one_line(page, song):
    page.locator("#song input[type=file]").set_input_files(str(song))
    page.get_by_text("Tempo range").click()
    fastest = page.locator("#tempo-fastest input[type=number]")
    fastest.fill("80")
    page.locator("#analyze").click()
    expect_text(page, "#analysis-summary", r"\b(59|60|61)\.\d BPM")
    page.locator("#tempo-slowest input[type=number]").fill("100")
    page.locator("#analyze").click()
    toast = expect_text(page, ".toast-body", r"tempo range", timeout=60_000)
    assert "Traceback" not in toast
    # What was found before stays.
    assert re.search(r"\b(59|60|61)\.\d BPM", page.locator("#analysis-summary").inner_text())


def test_half_and_double_tempo_buttons_read_the_song_again(page, song):
    """½× sets the range one octave around half the tempo found and analyses again; 2× goes back."""
    page.get_by_text("Tempo range").click()
    page.locator("#tempo-half").click()
    toast = expect_text(page, ".toast-body", r"analyse a song first")
    assert "Traceback" not in toast
    page.locator("#song input[type=file]").set_input_files(str(song))
    page.locator("#analyze").click()
    expect_text(page, "#analysis-summary", r"\b(119|120|121)\.\d BPM")
    page.locator("#tempo-half").click()
    expect_text(page, "#analysis-summary", r"\b(59|60|61)\.\d BPM")
    slowest, fastest = (page.locator(f"#tempo-{end} input[type=number]") for end in ("slowest", "fastest"))
    assert 41 < float(slowest.input_value()) < 44 and 83 < float(fastest.input_value()) < 87
    page.locator("#tempo-double").click()
    expect_text(page, "#analysis-summary", r"\b(119|120|121)\.\d BPM")
    assert 83 < float(slowest.input_value()) < 87 and 167 < float(fastest.input_value()) < 173


def test_an_imported_project_brings_its_tempo_range_and_fits_this_space(page, song, tmp_path):
    """A project from a duplicated Space (512², 25 steps, a model this Space does not offer) with
    a tempo range: its settings are brought within this Space's, said so, and its range is used."""
    from pipelines.project import AudioRef, Keyframe, Project, RenderSettings

    project = Project(
        audio=AudioRef(path="drums.wav", tempo_range=(40, 80)),
        keyframes=[Keyframe(time=0, prompt="a fox")],
        render=RenderSettings(model="someone/their-own-model", width=512, height=512, steps=25),
    )
    project.save(tmp_path / "half-time.json")
    page.locator("#song input[type=file]").set_input_files(str(song))
    page.locator("#tab-keyframes-button").click()
    with page.expect_file_chooser() as chooser:
        page.locator("#import-project").click()
    chooser.value.set_files(str(tmp_path / "half-time.json"))
    # The boxes show the project's range and the song is analysed again with it.
    expect_text(page, "#analysis-summary", r"\b(59|60|61)\.\d BPM")
    toast = expect_text(page, ".toast-body", r"brought within this Space's settings")
    for change in ("width 512 → 384", "height 512 → 384", "steps 25 → 4", "model someone/their-own-model → tiny"):
        assert change in toast
    page.locator("#tab-audio-button").click()
    page.get_by_text("Tempo range").click()
    assert page.locator("#tempo-fastest input[type=number]").input_value() == "80"


def test_downloads_work_after_a_render_and_say_nothing_before(page, song, tmp_path):
    analyse(page, song)
    small_render_settings(page)
    page.locator("#tab-render-button").click()
    assert page.locator("#download-video").is_disabled() and page.locator("#download-project").is_disabled()
    page.locator("#render-draft").click()
    expect_text(page, "#sync-score", r"(It dances|It half dances|It barely follows the beat)\b")
    expect_text(page, "#render-progress", r"Draft done: \d+ frames\.\s*$")
    for button, suffix in (("#download-video", ".mp4"), ("#download-project", ".json")):
        with page.expect_download(timeout=SLOW) as download:
            page.locator(button).click()
        saved = tmp_path / f"download{suffix}"
        download.value.save_as(saved)
        assert saved.stat().st_size > 0 and download.value.suggested_filename.endswith(suffix)
    import json

    from pipelines.render.video import probe_video

    assert probe_video(tmp_path / "download.mp4").frames == round(SONG_SECONDS * 8)
    assert json.loads((tmp_path / "download.json").read_text())["audio"]["path"] == "drums.wav"  # no server path


def test_the_table_follows_the_project_and_refuses_a_time_past_the_song(page, song):
    analyse(page, song)
    assert page.locator("#keyframes-plot img, #keyframes-plot canvas, #keyframes-plot svg").count() > 0
    second = page.locator("#keyframes-table [data-testid=cell-1-1]").inner_text()
    edit_cell(page, 0, 0, "5")
    # Sorted in the project, and in the table too: row 1 is now the keyframe that was second.
    page.wait_for_function(
        "(text) => document.querySelector('#keyframes-table [data-testid=cell-0-1]').innerText === text",
        arg=second, timeout=SLOW,
    )  # fmt: skip
    edit_cell(page, 1, 0, "60")
    expect_text(page, "#keyframes-status", r"Not applied: keyframe \d+ is at 60 s, outside the song segment")


def test_a_refusal_marks_no_other_panel_and_a_new_song_clears_the_old(page, song, tmp_path):
    analyse(page, song)
    fake = tmp_path / "notes.mp3"
    fake.write_text("not a song\n" * 100)
    page.locator("#tab-audio-button").click()
    page.locator("#song button[aria-label=Clear]").click()
    # The old song's findings go with it.
    expect_text(page, "#analysis-summary", r"Upload a song")
    page.locator("#song input[type=file]").set_input_files(str(fake))
    expect_text(page, "#analysis-summary", r"Press Analyse")
    page.locator("#analyze").click()
    expect_text(page, ".toast-body", r"not an audio file", timeout=60_000)
    page.locator("#tab-keyframes-button").click()
    assert "Error" not in page.locator("#keyframes-status").inner_text()
    # Resume with nothing to resume, Stop with nothing running: one line, no panel marked "Error".
    page.locator("#tab-render-button").click()
    page.locator("#render-resume").click()
    expect_text(page, ".toast-body", r"no stopped render to resume", timeout=60_000)
    for panel in ("#render-frame", "#render-video", "#sync-score", "#sync-plot"):
        assert "Error" not in page.locator(panel).inner_text()
    page.locator("#render-stop").click()
    expect_text(page, "#render-progress", r"No render is running\.")


def test_a_reload_keeps_the_project_and_an_aspect_preset_sets_the_size(page, song):
    analyse(page, song)
    page.locator("#tab-motion-button").click()
    set_slider(page, "width", 128)
    expect_text(page, "#plan-summary", r"128×\d+")
    page.locator("#aspect").get_by_text("16:9", exact=True).click()
    expect_text(page, "#plan-summary", r"128×72")
    page.reload()
    page.wait_for_selector("#analyze", timeout=SLOW)
    page.locator("#tab-keyframes-button").click()
    expect_text(page, "#keyframes-status", r"Restored your project from this browser \(\d+ keyframes\)")
    page.locator("#tab-motion-button").click()
    assert page.locator("#width input[type=number]").input_value() == "128"
    assert page.locator("#height input[type=number]").input_value() == "72"


def test_the_first_screen_on_a_phone(browser, space):
    """390 px wide: every tab is a button of its own, and the song and Analyse are on the first screen."""
    context = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True)
    phone = context.new_page()
    phone.goto(space[1])
    phone.wait_for_selector("#analyze", timeout=SLOW)
    for tab in ("audio", "keyframes", "motion", "render", "live"):
        assert phone.locator(f"#tab-{tab}-button").is_visible(), tab
    assert phone.locator("#analyze").bounding_box()["y"] < 844
    assert phone.locator("#song").bounding_box()["y"] < 844
    context.close()


def test_plots_on_a_phone_keep_a_readable_size_and_scroll_sideways(browser, space, song):
    context = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True)
    phone = context.new_page()
    phone.goto(space[1])
    phone.wait_for_selector("#analyze", timeout=SLOW)
    analyse(phone, song)
    phone.locator("#tab-audio-button").click()
    phone.wait_for_selector("#analysis-plot img", timeout=SLOW)
    width, scrolls = phone.locator("#analysis-plot").evaluate(
        "p => [p.querySelector('img').getBoundingClientRect().width, p.scrollWidth > p.clientWidth]"
    )
    assert width >= 760 and scrolls
    assert phone.locator("#analysis-plot").bounding_box()["width"] <= 390  # the page itself does not widen
    context.close()


def count_project_writes(page) -> None:
    """Count the page's writes of the project kept in the browser (Gradio writes it after each edit)."""
    page.evaluate(
        """() => {
            window.__projectWrites = 0;
            const setItem = Storage.prototype.setItem;
            Storage.prototype.setItem = function (key, value) {
                if (key === 'beatwalk-project') { window.__projectWrites += 1; window.__projectWritten = Date.now(); }
                return setItem.call(this, key, value);
            };
        }"""
    )


def project_written(page, *, quiet_ms: int = 1000) -> None:
    """Wait for a new write of the browser's copy, then for none more during ``quiet_ms``."""
    page.wait_for_function(
        "(quiet) => window.__projectWrites > 0 && Date.now() - window.__projectWritten > quiet",
        arg=quiet_ms,
        timeout=SLOW,
    )
    page.evaluate("() => { window.__projectWrites = 0; }")


def test_a_keyframe_starts_from_a_picture_kept_through_edits_and_rendered(page, song, tmp_path):
    from PIL import Image

    analyse(page, song)
    picture = tmp_path / "sunset.png"
    Image.new("RGB", (96, 64), (230, 120, 30)).save(picture)
    # Keyframe 1 is chosen after the analysis: give it the picture at strength 0.3.
    page.locator("#init-image input[type=file]").set_input_files(str(picture))
    page.wait_for_selector("#init-image img", timeout=SLOW)  # uploaded: under load this takes a while
    set_slider(page, "init-strength", 0.3)
    page.locator("#set-init").click()
    expect_text(page, "#keyframes-status", r"Keyframe 1 starts from the picture at strength 0\.3")
    # Another keyframe shows none; back on the first, its picture and strength are shown again.
    page.locator("#keyframe-choice input").click()
    page.get_by_role("option", name=re.compile(r"^2 · ")).click()
    page.wait_for_function("() => !document.querySelector('#init-image img')", timeout=SLOW)
    page.locator("#keyframe-choice input").click()
    page.get_by_role("option", name=re.compile(r"^1 · ")).click()
    page.wait_for_selector("#init-image img", timeout=SLOW)
    assert page.locator("#init-strength input[type=number]").input_value() == "0.3"
    # A table edit keeps it; the render starts from it.
    edit_cell(page, 0, 1, "an orange sky over the sea")
    expect_text(page, "#keyframes-status", r"2 keyframes")
    small_render_settings(page)
    page.locator("#tab-render-button").click()
    page.locator("#render-draft").click()
    expect_text(page, "#render-progress", r"Draft done")
    page.locator("#tab-keyframes-button").click()
    count_project_writes(page)
    page.locator("#clear-init").click()
    expect_text(page, "#keyframes-status", r"Keyframe 1 has no init image")
    page.wait_for_function("() => !document.querySelector('#init-image img')", timeout=SLOW)
    project_written(page)
    # Set again, then the page reloaded: the project comes back, its picture (a file of the server's
    # session, gone with it) left out, and said so.
    page.locator("#init-image input[type=file]").set_input_files(str(picture))
    page.wait_for_selector("#init-image img", timeout=SLOW)
    page.locator("#set-init").click()
    expect_text(page, "#keyframes-status", r"Keyframe 1 starts from the picture")
    project_written(page)
    page.reload()
    page.wait_for_selector("#analyze", timeout=SLOW)
    page.locator("#tab-keyframes-button").click()
    expect_text(page, "#keyframes-status", r"Restored your project .* Its init images were not kept")


def test_prompts_from_the_music_fill_the_table_and_another_idea_changes_one_row(page, song):
    analyse(page, song)
    page.locator("#tab-audio-button").click()
    expect_text(page, "#analysis-summary", r"BPM\*?\*? · \*?\*?[A-G][#b]? (major|minor)")
    page.locator("#tab-keyframes-button").click()
    page.locator("#ideas").get_by_text("No idea what to show?").click()
    theme = page.locator("#theme").locator("textarea, input").first
    type_into(page, theme, "a journey through space")
    page.locator("#suggest").click()
    expect_text(page, "#keyframes-status", r"Suggested 2 prompts \(theme: a journey through space\)")
    cell = "#keyframes-table [data-testid=cell-{}-1]"
    page.wait_for_function(
        "(s) => document.querySelector(s).innerText.startsWith('a journey through space, ')",
        arg=cell.format(0), timeout=SLOW,
    )  # fmt: skip
    first, second = (page.locator(cell.format(row)).inner_text() for row in (0, 1))
    page.locator("#another-idea").click()  # keyframe 1 is the one chosen
    expect_text(page, "#keyframes-status", r"Another idea for keyframe 1\.")
    page.wait_for_function(
        "([s, before]) => document.querySelector(s).innerText !== before", arg=[cell.format(0), first], timeout=SLOW
    )
    assert page.locator(cell.format(1)).inner_text() == second
    # The language model cannot load offline: the composer writes, and the page says so.
    page.locator("#engine").get_by_text("Language model").click()
    page.locator("#suggest").click()
    expect_text(page, "#keyframes-status", r"cannot be loaded here .*the composer wrote every prompt")


def test_a_camera_preset_and_the_feedback_renderer_render_a_draft(page, song):
    analyse(page, song)
    small_render_settings(page)
    page.locator("#camera-preset input").click()
    page.get_by_role("option", name="zoom pulse").click()
    expect_text(page, "#plan-summary", r"camera zoom pulse")
    set_slider(page, "steps", 2)  # the feedback renderer needs two at least
    expect_text(page, "#plan-summary", r"2 steps")
    page.locator("#renderer").get_by_text("feedback", exact=True).click()
    expect_text(page, "#plan-summary", r"camera zoom pulse · feedback renderer")
    set_slider(page, "cadence", 2)
    page.wait_for_selector("#plan-plot img, #plan-plot canvas, #plan-plot svg", timeout=SLOW)
    # The chorus (keyframe 2) brings a camera of its own; a table edit keeps it.
    page.locator("#tab-keyframes-button").click()
    page.locator("#keyframe-choice input").click()
    page.get_by_role("option", name=re.compile(r"^2 · ")).click()
    page.locator("#keyframe-camera input").click()
    page.get_by_role("option", name="tunnel").click()
    expect_text(page, "#keyframes-status", r"Keyframe 2 brings the camera “tunnel”")
    edit_cell(page, 1, 1, "a tunnel of light")
    expect_text(page, "#keyframes-status", r"2 keyframes")
    page.locator("#tab-motion-button").click()
    expect_text(page, "#plan-summary", r"camera zoom pulse \(and keyframes’ own\) · feedback renderer")
    page.locator("#tab-render-button").click()
    page.locator("#render-draft").click()
    expect_text(page, "#render-progress", r"Draft done")
    expect_text(page, "#sync-score", r"AV-Align \d\.\d\d")
    # The project the page keeps says so: a reload brings the camera and the renderer back.
    page.reload()
    page.wait_for_selector("#analyze", timeout=SLOW)
    page.locator("#tab-motion-button").click()
    page.wait_for_function(
        "() => document.querySelector('#camera-preset input').value === 'zoom pulse'", timeout=SLOW
    )
    assert page.locator("#renderer input[value=feedback]").is_checked()


def test_a_composed_song_lands_in_the_audio_tab_is_analysed_and_recorded(page, space):
    """No song: words in, a song out, analysed as the project's song; the project records how it
    was composed; a second variation is picked with its button."""
    page.locator("#tab-audio-button").click()
    page.get_by_text("No song yet? Compose one from words").click()
    assert "random weights" in page.locator("#compose-licence").inner_text()
    type_into(page, page.locator("#compose-prompt textarea"), "an ambient pad with soft bells")
    set_slider(page, "compose-seconds", 4)
    set_slider(page, "compose-variations", 2)
    page.locator("#compose-run").click()
    expect_text(page, "#compose-progress", r"Composed 2 songs of 4 s")
    expect_text(page, "#analysis-summary", r"4\.0 s · sections")
    assert page.locator("#compose-song-1").is_visible() and page.locator("#compose-use-1").is_visible()
    page.locator("#tab-keyframes-button").click()
    expect_text(page, "#keyframes-status", r"keyframes")
    page.locator("#export-project").click()
    expect_text(page, "#export-file", r"\.json")
    exported = [f / "beatwalk-project.json" for f in sessions(space[0]) if (f / "beatwalk-project.json").is_file()]
    import json

    recorded = [json.loads(f.read_text())["audio"]["composition"] for f in exported]
    assert {"prompt": "an ambient pad with soft bells", "seconds": 4.0, "seed": 0}.items() <= recorded[-1].items()
    # The second variation, picked: analysed in its turn, its seed recorded.
    page.locator("#tab-audio-button").click()
    page.locator("#compose-use-1").click()
    page.locator("#tab-keyframes-button").click()
    deadline = time.monotonic() + 60  # the analysis of the second song runs; export until it is in
    while time.monotonic() < deadline:
        page.locator("#export-project").click()
        time.sleep(1.0)
        recorded = [json.loads(f.read_text())["audio"]["composition"] for f in exported]
        if recorded[-1]["seed"] == 1:
            break
    assert recorded[-1]["seed"] == 1


def test_composing_over_the_limit_or_with_no_words_is_one_line(page):
    page.locator("#tab-audio-button").click()
    page.get_by_text("No song yet? Compose one from words").click()
    page.locator("#compose-run").click()
    toast = expect_text(page, ".toast-body", r"say what the music should be", timeout=60_000)
    assert "Traceback" not in toast
    assert page.locator("#compose-seconds input[type=number]").get_attribute("max") == "60"
