"""The Space's named API, through gradio_client, against the app launched in-process with the tiny model.

The main test follows the README's gradio_client example step by step.
"""

from __future__ import annotations

import json
import re
import time

import numpy as np
import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from PIL import Image

from pipelines.render.video import probe_video
from synth.songs import drum_song, write_song
from tests.space_app import TEST_LIMITS, sessions

SONG_SECONDS = 6.0
FPS = 8


@pytest.fixture(scope="module")
def client(space):
    return Client(space[1], analytics_enabled=False, verbose=False)


@pytest.fixture(scope="module")
def song(tmp_path_factory):
    samples, _, _ = drum_song(duration=SONG_SECONDS, bpm=120.0)
    return write_song(tmp_path_factory.mktemp("song") / "drums.wav", samples)


@pytest.fixture(scope="module")
def analysis(client, song):
    return client.predict(song=handle_file(str(song)), start=0, end=0, api_name="/analyze")


def small(project_json: str, **render) -> str:
    project = json.loads(project_json)
    project["render"].update({"width": 64, "height": 64, "fps": FPS, "steps": 1} | render)
    return json.dumps(project)


def test_every_step_is_a_named_endpoint(client):
    endpoints = client.view_api(return_format="dict", print_info=False)["named_endpoints"]
    assert set(endpoints) == {
        "/analyze",
        "/suggest_prompts",
        "/propose_keyframes",
        "/plan",
        "/preview_keyframe",
        "/render",
        "/stop",
        "/score",
        "/compose",
    }
    assert client.view_api(return_format="dict", print_info=False)["unnamed_endpoints"] == {}


@pytest.fixture(scope="module")
def rendered(client, song, analysis):
    """The README's example, step by step, on the test song at 64×64 and 8 fps."""
    # 2. Keyframes from two prompts, then plain JSON edits.
    proposed = client.predict(
        analysis_json=analysis,
        prompts="a red cat\na blue dog",
        start=0,
        end=0,
        seed=3,
        negative_prompt="blurry",
        every=1,
        api_name="/propose_keyframes",
    )
    project = small(proposed)
    # 3. The frame plan; 4. a keyframe's still; 5. the render.
    plan = client.predict(analysis_json=analysis, project_json=project, api_name="/plan")
    still = client.predict(project_json=project, index=1, api_name="/preview_keyframe")
    progress, video, rendered, score = client.predict(
        song=handle_file(str(song)), project_json=project, api_name="/render"
    )
    return {
        "proposed": proposed,
        "project": project,
        "plan": plan,
        "still": still,
        "progress": progress,
        "video": video,
        "rendered": rendered,
        "score": score,
    }


def test_readme_example_renders_a_video_with_the_song(analysis, rendered, space):
    found = json.loads(analysis)
    assert found["duration"] == pytest.approx(SONG_SECONDS, abs=0.05)
    assert found["tempo"] == pytest.approx(120, rel=0.05)

    proposed = json.loads(rendered["proposed"])
    assert [k["prompt"] for k in proposed["keyframes"]][:2] == ["a red cat", "a blue dog"]
    assert proposed["keyframes"][0]["seed"] == 3 and proposed["keyframes"][0]["negative_prompt"] == "blurry"

    # The frame plan has one entry per video frame.
    plan = json.loads(rendered["plan"])
    assert plan["n_frames"] == round(SONG_SECONDS * FPS) == len(plan["t"])

    assert Image.open(rendered["still"]).size == (64, 64)

    # The render: an mp4 with the song, every frame, the project beside it, and its sync score.
    progress, video, project, score = (rendered[k] for k in ("progress", "video", "rendered", "score"))
    info = probe_video(video)
    assert info.frames == round(SONG_SECONDS * FPS)
    assert (info.width, info.height) == (64, 64)
    assert info.has_audio
    assert progress.startswith("done")
    assert json.loads(project)["keyframes"] == json.loads(rendered["project"])["keyframes"]
    assert json.loads(project)["audio"]["path"] == "drums.wav"  # the song's name, never a server path
    figures = json.loads(score)
    assert 0.0 <= figures["f_measure"] <= 1.0 and figures["n_frames"] == info.frames
    assert "/" not in figures["video"]

    # The render happened in this client's own session folder.
    assert any((folder / "final.mp4").is_file() for folder in sessions(space[0]))


def test_draft_renders_the_same_frames_at_lower_resolution(client, song, analysis):
    project = client.predict(analysis_json=analysis, prompts="a lighthouse", api_name="/propose_keyframes")
    project = small(project, width=128, height=128, fps=4)
    _, video, _, _ = client.predict(
        song=handle_file(str(song)), project_json=project, draft=True, api_name="/render"
    )
    info = probe_video(video)
    assert (info.width, info.height) == (64, 64)
    assert info.frames == round(SONG_SECONDS * 4)


def test_score_endpoint_scores_any_video(client, song, rendered):
    video = rendered["video"]
    figures = json.loads(
        client.predict(video=handle_file(video), song=handle_file(str(song)), api_name="/score")
    )
    assert figures["audio_source"] == "song"
    assert figures["n_frames"] == round(SONG_SECONDS * FPS)


def one_line_error(call) -> str:
    with pytest.raises(AppError) as caught:
        call()
    message = str(caught.value)
    assert "\n" not in message and "Traceback" not in message
    return message


def test_a_file_that_is_not_audio_is_refused_in_one_line(client, tmp_path):
    fake = tmp_path / "song.wav"
    fake.write_text("these are not the samples you are looking for\n" * 50)
    message = one_line_error(lambda: client.predict(song=handle_file(str(fake)), api_name="/analyze"))
    assert "song.wav" in message and ("not an audio file" in message or "no audio stream" in message)


def test_limits_are_enforced_on_the_server(client, song, analysis):
    project = client.predict(analysis_json=analysis, prompts="a forest", api_name="/propose_keyframes")
    render = lambda p: client.predict(song=handle_file(str(song)), project_json=p, api_name="/render")
    assert "BEATWALK_MAX_PIXELS" in one_line_error(lambda: render(small(project, width=512, height=512)))
    assert "BEATWALK_MAX_STEPS" in one_line_error(
        lambda: render(small(project, steps=TEST_LIMITS.max_steps + 1))
    )
    assert "BEATWALK_MAX_FRAMES" in one_line_error(lambda: render(small(project, fps=30)))
    # A model id may name a folder on the server: only the offered models are accepted.
    assert "not offered" in one_line_error(lambda: render(small(project, model="/root")))
    assert "not offered" in one_line_error(
        lambda: client.predict(project_json=small(project, model="../weights"), api_name="/preview_keyframe")
    )


def test_paths_inside_a_project_are_never_opened(client, song, analysis):
    project = json.loads(
        small(client.predict(analysis_json=analysis, prompts="a desert", api_name="/propose_keyframes"))
    )
    project["keyframes"][0]["init_image"] = "/etc/hostname"
    message = one_line_error(
        lambda: client.predict(
            song=handle_file(str(song)), project_json=json.dumps(project), api_name="/render"
        )
    )
    assert "init image" in message


def test_bad_project_json_is_refused_in_one_line(client, analysis):
    assert "not valid JSON" in one_line_error(
        lambda: client.predict(project_json="{", api_name="/preview_keyframe")
    )
    broken = json.loads(
        small(client.predict(analysis_json=analysis, prompts="rain", api_name="/propose_keyframes"))
    )
    broken["keyframes"][0]["seed"] = -1
    assert "keyframes.0.seed" in one_line_error(
        lambda: client.predict(project_json=json.dumps(broken), api_name="/preview_keyframe")
    )


def test_keyframes_past_the_segment_are_refused(client, song, analysis):
    project = json.loads(
        small(client.predict(analysis_json=analysis, prompts="snow", api_name="/propose_keyframes"))
    )
    project["keyframes"].append(dict(project["keyframes"][0], time=SONG_SECONDS + 10))
    message = one_line_error(
        lambda: client.predict(
            song=handle_file(str(song)), project_json=json.dumps(project), api_name="/render"
        )
    )
    assert "outside the song segment" in message


def test_sessions_get_separate_folders_named_by_hash(space, song):
    from space.session import session_dir

    class Request:
        session_hash = "../../etc/passwd"

    folder = session_dir(Request())
    assert folder.parent == space[0] / "sessions"
    assert len(folder.name) == 32 and all(c in "0123456789abcdef" for c in folder.name)


def test_stop_ends_the_render_and_resume_finishes_it(client, song, analysis):
    proposed = client.predict(analysis_json=analysis, prompts="a lighthouse\na harbour", api_name="/propose_keyframes")
    project = small(proposed, width=128, height=128, steps=4)
    job = client.submit(song=handle_file(str(song)), project_json=project, api_name="/render")
    deadline = time.monotonic() + 120
    while not any(re.match(r"[1-9]\d* / 48 frames", output[0]) for output in job.outputs()):
        assert not job.done() and time.monotonic() < deadline
        time.sleep(0.05)
    assert "resume" in client.predict(api_name="/stop")
    progress, video, _, _ = job.result(timeout=120)
    assert re.fullmatch(r"stopped at \d+ frames: call again with resume", progress) and video is None

    progress, video, _, _ = client.predict(
        song=handle_file(str(song)), project_json=project, resume=True, api_name="/render"
    )
    assert progress == "done: 48 frames"
    assert probe_video(video).frames == 48


def test_tempo_range_goes_from_analyze_into_the_project(client, song):
    """A beat found at twice the tempo is mended by a range; the proposed project keeps it."""
    analysis = client.predict(
        song=handle_file(str(song)), start=0, end=0, slowest_bpm=40, fastest_bpm=80, api_name="/analyze"
    )
    found = json.loads(analysis)
    assert found["tempo"] == pytest.approx(60, rel=0.05) and found["tempo_range"] == [40, 80]
    project = client.predict(
        analysis_json=analysis, prompts="a red cat", start=0, end=0, seed=0, negative_prompt="", every=0,
        api_name="/propose_keyframes",
    )  # fmt: skip
    assert json.loads(project)["audio"]["tempo_range"] == [40, 80]
    song_file = handle_file(str(song))
    message = one_line_error(
        lambda: client.predict(song=song_file, slowest_bpm=90, fastest_bpm=60, api_name="/analyze")
    )
    assert message.startswith("the tempo range must run from a slower to a faster tempo")


def test_a_preview_during_another_clients_render_breaks_neither(space, song, analysis):
    """Two clients at once: A renders while B asks for stills. They share the loaded model, never its
    scheduler's state, so both finish and A's video equals the same render done alone."""
    a, b = (Client(space[1], analytics_enabled=False, verbose=False) for _ in range(2))
    proposed = a.predict(analysis_json=analysis, prompts="a lighthouse\na harbour", api_name="/propose_keyframes")
    project = small(proposed, width=128, height=128, steps=4)
    alone = a.predict(song=handle_file(str(song)), project_json=project, api_name="/render")[1]
    job = a.submit(song=handle_file(str(song)), project_json=project, api_name="/render")
    stills = 0
    while not job.done():
        still = b.predict(project_json=small(proposed, steps=3), index=stills % 2, api_name="/preview_keyframe")
        assert Image.open(still).size == (64, 64)
        stills += 1
    progress, video, _, _ = job.result(timeout=120)
    assert progress == "done: 48 frames" and stills >= 2
    from pipelines.render.video import read_frames

    assert all(np.array_equal(x, y) for x, y in zip(read_frames(video), read_frames(alone), strict=True))


def test_plans_are_made_only_on_the_servers_own_analyses(client, analysis):
    """A client-sent analysis is not trusted: a 10-hour duration or a NaN would cost the server a
    2-million-frame plan or a crash. Only what /analyze returned, unchanged, is planned on."""
    project = small(client.predict(analysis_json=analysis, prompts="rain", api_name="/propose_keyframes"))
    assert json.loads(client.predict(analysis_json=analysis, project_json=project, api_name="/plan"))["n_frames"] == 48
    same = json.dumps(json.loads(analysis))  # parsed and written again by the client: still the server's
    assert json.loads(client.predict(analysis_json=same, project_json=project, api_name="/plan"))["n_frames"] == 48
    for change in ({"duration": 36_000.0}, {"tempo": float("nan")}, {"signature": "0" * 64}):
        forged = json.dumps(json.loads(analysis) | change)
        for call in (
            lambda: client.predict(analysis_json=forged, project_json=project, api_name="/plan"),
            lambda: client.predict(analysis_json=forged, prompts="rain", api_name="/propose_keyframes"),
        ):
            assert "not made by this server" in one_line_error(call)
    unsigned = json.loads(analysis)
    del unsigned["signature"]
    assert "not made by this server" in one_line_error(
        lambda: client.predict(analysis_json=json.dumps(unsigned), project_json=project, api_name="/plan")
    )
    too_many = json.loads(project)
    too_many["keyframes"] = [dict(too_many["keyframes"][0], time=i * 0.01) for i in range(TEST_LIMITS.max_keyframes + 1)]
    assert "BEATWALK_MAX_KEYFRAMES" in one_line_error(
        lambda: client.predict(analysis_json=analysis, project_json=json.dumps(too_many), api_name="/plan")
    )
    nested = "[" * 100_000 + "]" * 100_000
    assert "nested too deeply" in one_line_error(
        lambda: client.predict(analysis_json=nested, project_json=project, api_name="/plan")
    )
    assert "nested too deeply" in one_line_error(
        lambda: client.predict(analysis_json=analysis, project_json=nested, api_name="/plan")
    )


def test_every_endpoint_applies_the_limits(client, song, analysis, tmp_path):
    """/score of a long (small) file, a batch or a keyframe count over the limits: one line, fast."""
    import soundfile

    long_song = tmp_path / "silence.flac"
    soundfile.write(long_song, np.zeros(22050 * 90, np.float32), 22050)  # 90 s of silence, a few kB
    started = time.monotonic()
    message = one_line_error(
        lambda: client.predict(video=handle_file(rendered_video(client, song, analysis)),
                               song=handle_file(str(long_song)), api_name="/score")
    )  # fmt: skip
    assert message.startswith("song is too long: 90 s (the limit is 60 s")
    assert time.monotonic() - started < 30
    project = client.predict(analysis_json=analysis, prompts="a forest", api_name="/propose_keyframes")
    render = lambda p: client.predict(song=handle_file(str(song)), project_json=p, api_name="/render")
    assert "BEATWALK_MAX_BATCH_SIZE" in one_line_error(lambda: render(small(project, batch_size=256)))
    assert "BEATWALK_MAX_BATCH_SIZE" in one_line_error(
        lambda: client.predict(project_json=small(project, batch_size=256), api_name="/preview_keyframe")
    )
    many = json.loads(small(project))
    many["keyframes"] = [dict(many["keyframes"][0], time=i * 0.01) for i in range(TEST_LIMITS.max_keyframes + 1)]
    assert "BEATWALK_MAX_KEYFRAMES" in one_line_error(lambda: render(json.dumps(many)))


def rendered_video(client, song, analysis) -> str:
    project = small(client.predict(analysis_json=analysis, prompts="a fox", api_name="/propose_keyframes"), fps=4)
    return client.predict(song=handle_file(str(song)), project_json=project, draft=True, api_name="/render")[1]


def test_uploads_that_name_server_files_are_refused_without_a_trace(client, song, analysis, tmp_path):
    """An HLS playlist sent as the song names a server file (a real song); a JSON sent as the video to
    /score names one as its song. Neither is opened, and no answer shows a server path."""
    secret = tmp_path / "secret.wav"
    secret.write_bytes(song.read_bytes())
    playlist = tmp_path / "song.mp3"
    playlist.write_text(f"#EXTM3U\n#EXT-X-TARGETDURATION:32\n#EXTINF:32.0,\nfile://{secret}\n#EXT-X-ENDLIST\n")
    assert one_line_error(lambda: client.predict(song=handle_file(str(playlist)), api_name="/analyze")) == (
        "not an audio file (or corrupt): song.mp3"
    )
    project = small(client.predict(analysis_json=analysis, prompts="a fox", api_name="/propose_keyframes"))
    message = one_line_error(
        lambda: client.predict(song=handle_file(str(playlist)), project_json=project, api_name="/render")
    )
    assert message == "not an audio file (or corrupt): song.mp3"
    sidecar = tmp_path / "video.json"
    sidecar.write_text(json.dumps(json.loads(project) | {"audio": {"path": str(secret)}}))
    message = one_line_error(lambda: client.predict(video=handle_file(str(sidecar)), song=None, api_name="/score"))
    assert "video.json" in message and str(tmp_path) not in message and "/tmp" not in message


def test_prompt_ideas_from_the_song_and_a_model_that_cannot_load_falls_back(client, song):
    answer = json.loads(client.predict(song=handle_file(str(song)), theme="a journey through space", engine="composer",
                                       seed=3, api_name="/suggest_prompts"))  # fmt: skip
    description, suggestions = answer["description"], answer["suggestions"]
    assert description["bpm"] > 0 and description["sections"] and description["windows"]
    assert len(suggestions["ideas"]) == len(description["sections"])
    assert all(i["prompt"].startswith("a journey through space, ") and i["engine"] == "composer" for i in suggestions["ideas"])
    # Offline, the language model cannot load: the composer writes, and the answer says so.
    fallback = json.loads(client.predict(song=handle_file(str(song)), theme="", engine="model", seed=3,
                                         api_name="/suggest_prompts"))["suggestions"]  # fmt: skip
    assert any("cannot be loaded" in note for note in fallback["notes"])
    assert [i["engine"] for i in fallback["ideas"]] == ["composer"] * len(fallback["ideas"])
    assert one_line_error(lambda: client.predict(song=handle_file(str(song)), theme="x" * 5000,
                                                 api_name="/suggest_prompts")).startswith("the theme is 5000 characters")  # fmt: skip
    assert one_line_error(lambda: client.predict(song=handle_file(str(song)), engine="gpt",
                                                 api_name="/suggest_prompts")).startswith("engine must be one of")  # fmt: skip


def test_compose_returns_songs_that_analyse_like_any_upload(client):
    import soundfile

    progress, first, songs, recorded = client.predict(
        prompt="a slow lo-fi beat", seconds=3, variations=2, model="tiny", seed=4, guidance=3, temperature=1,
        top_k=250, melody=None, api_name="/compose",
    )  # fmt: skip
    assert progress.startswith("✅ Composed 2 songs")
    assert len(songs) == 2 and songs[0] == first
    samples, rate = soundfile.read(first)
    assert len(samples) == 3 * rate == 96000
    assert not np.array_equal(samples, soundfile.read(songs[1])[0])
    assert json.loads(recorded) | {"model": "tiny", "prompt": "a slow lo-fi beat", "seconds": 3.0, "seed": 4} == json.loads(
        recorded
    )
    analysis = json.loads(client.predict(song=handle_file(first), start=0, end=0, api_name="/analyze"))
    assert abs(analysis["duration"] - 3.0) < 0.01


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"prompt": "  "}, "say what the music should be"),
        ({"seconds": 0}, "seconds"),
        ({"seconds": 61}, "BEATWALK_MAX_COMPOSE_SECONDS"),
        ({"variations": 3}, "BEATWALK_MAX_VARIATIONS"),
        ({"model": "facebook/musicgen-small", "melody": "SONG"}, "cannot follow a melody"),
        ({"melody": "TEXT"}, "not an audio file"),
    ],
)
def test_compose_refuses_bad_input_in_one_line(client, song, tmp_path, settings, message):
    text = tmp_path / "tune.wav"
    text.write_text("no tune here")
    files = {"SONG": handle_file(str(song)), "TEXT": handle_file(str(text))}
    arguments = {"prompt": "a tune", "seconds": 3, "variations": 1, "model": "tiny", "seed": 0, "guidance": 3,
                 "temperature": 1, "top_k": 250, "melody": None} | settings  # fmt: skip
    arguments["melody"] = files.get(arguments["melody"])
    with pytest.raises(AppError) as caught:
        client.predict(**arguments, api_name="/compose")
    assert message in str(caught.value) and "\n" not in str(caught.value) and "Traceback" not in str(caught.value)


def test_stop_ends_a_composition_and_keeps_no_half_song(space):
    client = Client(space[1], analytics_enabled=False, verbose=False)
    job = client.submit(prompt="a long drone", seconds=60, variations=1, model="tiny", seed=0, guidance=3,
                        temperature=1, top_k=250, melody=None, api_name="/compose")  # fmt: skip
    deadline = time.monotonic() + 60
    # Each update is (progress, first song, songs, composition): Stop once the progress line says it composes.
    while not any(str(update[0]).startswith("🎹 Composing") for update in job.outputs()):
        assert time.monotonic() < deadline and not job.done(), "the composition never reported its progress"
        time.sleep(0.05)
    assert client.predict(api_name="/stop") == "stopping the composition: the finished songs are kept"
    progress, first, songs, recorded = job.result(timeout=60)
    assert progress == "⏹️ Stopped: nothing was kept." and first is None and recorded is None
    folders = [folder / "songs" for folder in sessions(space[0]) if (folder / "songs").is_dir()]
    assert folders and not any(p.name.startswith(".") for folder in folders for p in folder.iterdir())
