"""Prompt ideas: the composer for real, the model engine with a random-weight model (gibberish,
so its parsing and fallback are what is tested), and the ideas written into a project."""

from __future__ import annotations

import pytest

from pipelines.errors import BeatwalkError
from pipelines.ideas.language_model import parse_answer
from pipelines.ideas.prompts import TOKEN_LIMIT, clean_theme, token_count
from pipelines.ideas.suggest import suggest_prompts, with_ideas
from pipelines.music.describe import Passage, SongDescription
from pipelines.plan import edits
from pipelines.project import Project
from tests.clip_tokenizer import clip_tokenizer


def passage(start, end, label, *, mode="minor", level="moderate", arc="steady", tempo="mid-tempo", **more):
    fields = dict(bpm=120.0, tempo=tempo, groove="straight", key="A", mode=mode, loudness_db=-14.0, level=level,
                  arc=arc, brightness="warm", density="moderate") | more  # fmt: skip
    return Passage(start=start, end=end, label=label, **fields)


SONG = SongDescription(
    bpm=120.0, key="A", mode="minor",
    sections=[passage(0, 20, "A", level="quiet", arc="intro", tempo="slow"),
              passage(20, 50, "B", mode="major", level="loud", arc="drop", tempo="fast"),
              passage(50, 70, "A", level="quiet", arc="break", tempo="slow"),
              passage(70, 100, "B", mode="major", level="loud", arc="drop", tempo="fast")],
    windows=[passage(t, t + 10, "", level="quiet" if (t // 10) % 5 < 2 else "loud") for t in range(0, 100, 10)],
)  # fmt: skip
THEMES = ["", "a journey through space", "my grandmother's garden in the rain, painted by monet", "x" * 300]


def test_the_composer_is_deterministic_consistent_and_follows_the_music():
    first = suggest_prompts(SONG, theme="a journey through space", seed=4)
    assert first.to_dict() == suggest_prompts(SONG, theme="a journey through space", seed=4).to_dict()
    assert first.to_dict() != suggest_prompts(SONG, theme="a journey through space", seed=5).to_dict()
    prompts = [i.prompt for i in first.ideas]
    assert all(p.startswith("a journey through space, ") for p in prompts)
    # The quiet minor A and the loud major B get different pictures; a section that comes back, its own.
    assert prompts[0] != prompts[1] and prompts[0].split(", ")[1] == prompts[2].split(", ")[1]
    assert prompts[1].split(", ")[1] == prompts[3].split(", ")[1]
    # One style for the whole song.
    styles = {p.split(", ")[-2] for p in prompts}
    assert len(styles) == 1, styles
    assert all(i.engine == "composer" and i.seed == 4 and i.negative_prompt for i in first.ideas)
    assert first.notes == []


@pytest.mark.parametrize("theme", THEMES)
@pytest.mark.parametrize("seed", range(6))
def test_prompts_are_never_empty_and_fit_clips_77_tokens(theme, seed):
    tokenizer = clip_tokenizer()
    for times in (None, [0.0, 5.0, 12.0, 25.0, 48.0, 61.0, 77.0, 99.0]):
        for idea in suggest_prompts(SONG, theme=theme, seed=seed, times=times).ideas:
            assert idea.prompt.strip() and len(idea.prompt.split()) >= 3
            assert len(tokenizer(idea.prompt)["input_ids"]) <= TOKEN_LIMIT, idea.prompt
            assert token_count(idea.prompt) >= len(tokenizer(idea.prompt)["input_ids"])  # the bound holds
            assert len(tokenizer(idea.negative_prompt)["input_ids"]) <= TOKEN_LIMIT


def test_an_empty_theme_is_chosen_from_the_music_and_said_so():
    suggestions = suggest_prompts(SONG, theme="   ", seed=1)
    assert suggestions.theme and all(i.prompt.startswith(suggestions.theme) for i in suggestions.ideas)
    assert suggestions.notes == [f"No theme given: the composer chose “{suggestions.theme}” from the music."]


@pytest.mark.parametrize(
    ("call", "message"),
    [(lambda: suggest_prompts(SONG, theme="x" * 5000), r"^the theme is 5000 characters long; keep it to 300"),
     (lambda: suggest_prompts(SONG, engine="gpt-4"), r"^engine must be one of: composer, model"),
     (lambda: suggest_prompts(SongDescription(0, "", "", [], [])), r"^the song has no sections"),
     (lambda: suggest_prompts(SONG, times=[150.0]), r"^a keyframe at 150 s is outside the described song")],
)  # fmt: skip
def test_bad_requests_are_one_line(call, message):
    with pytest.raises(BeatwalkError, match=message):
        call()


def test_a_theme_is_cleaned_to_one_line():
    assert clean_theme("  a  journey\n through\tspace ") == "a journey through space"
    assert clean_theme(None) == ""


def test_a_model_that_cannot_load_falls_back_to_the_composer_and_says_so():
    suggestions = suggest_prompts(SONG, theme="space", engine="model", model="nobody/no-such-model", seed=2)
    assert [i.prompt for i in suggestions.ideas] == [
        i.prompt for i in suggest_prompts(SONG, theme="space", seed=2).ideas
    ]
    assert len(suggestions.notes) == 1 and "cannot be loaded" in suggestions.notes[0]
    assert suggestions.notes[0].endswith("the composer wrote every prompt.")


def test_the_model_engine_with_a_random_model_writes_gibberish_that_is_caught():
    suggestions = suggest_prompts(SONG, theme="space", engine="model", model="tiny", seed=2)
    again = suggest_prompts(SONG, theme="space", engine="model", model="tiny", seed=2)
    assert suggestions.to_dict() == again.to_dict()  # deterministic for a seed
    assert len(suggestions.ideas) == len(SONG.sections)
    tokenizer = clip_tokenizer()
    for idea in suggestions.ideas:
        assert idea.prompt.strip() and len(tokenizer(idea.prompt)["input_ids"]) <= TOKEN_LIMIT
    composed = sum(i.engine == "composer" for i in suggestions.ideas)
    if composed:
        assert f"no usable line for {composed} of 4 passages" in " ".join(suggestions.notes)


def test_a_models_answer_is_parsed_and_checked_line_by_line():
    long_line = ", ".join(f"detail number {i} of a very elaborate scene" for i in range(30))
    answer = "\n".join([
        "Sure! Here are your prompts:",
        "1. a nebula over a quiet ocean, soft light, watercolor",
        "2) ok",  # too short
        "3: " + long_line,  # over the limit: cut at a comma
        "3. a second line 3 is ignored, first wins",
        "7. out of range prompt with enough words",
        "4 - \"a storm of neon lightning, cinematic\"",
    ])  # fmt: skip
    parsed = parse_answer(answer, 4, tokenizer=clip_tokenizer())
    assert parsed[0] == "a nebula over a quiet ocean, soft light, watercolor"
    assert parsed[1] is None
    assert (
        parsed[2].startswith("detail number 0")
        and len(clip_tokenizer()(parsed[2])["input_ids"]) <= TOKEN_LIMIT
    )
    assert parsed[3] == "a storm of neon lightning, cinematic"
    assert parse_answer("word salad \x00\x01 with no numbers", 2) == [None, None]


def project(*times) -> Project:
    keyframes = [{"time": t, "prompt": f"prompt {i}", "seed": i} for i, t in enumerate(times)]
    return Project.from_dict({"audio": {"path": "song.wav"}, "keyframes": keyframes})


def test_ideas_fill_a_projects_keyframes_and_record_what_wrote_them():
    start = project(0.0, 25.0, 55.0, 80.0)
    new, suggestions = with_ideas(start, SONG, theme="a journey through space", seed=3)
    assert [k.prompt for k in new.keyframes] == [i.prompt for i in suggestions.ideas]
    assert all(k.idea.engine == "composer" and k.idea.seed == 3 and k.idea.theme == "a journey through space"
               for k in new.keyframes)  # fmt: skip
    assert [k.seed for k in new.keyframes] == [0, 1, 2, 3]  # the pictures' seeds are the person's
    # Another idea for one keyframe: only it changes, in the same style.
    other, _ = with_ideas(new, SONG, theme="a journey through space", seed=3, variation=1, only=1)
    assert [k.prompt for k in other.keyframes][::2] == [k.prompt for k in new.keyframes][::2]
    assert other.keyframes[1].prompt != new.keyframes[1].prompt and other.keyframes[1].idea.seed == 4
    assert other.keyframes[1].prompt.split(", ")[-2] == new.keyframes[1].prompt.split(", ")[-2]
    # A person's edit of the prompt in the table drops the record; other edits keep it.
    rows = edits.keyframe_rows(new)
    rows[0][1], rows[1][3] = "my own prompt", 42
    edited = edits.with_rows(new, rows)
    assert edited.keyframes[0].idea is None and edited.keyframes[1].idea == new.keyframes[1].idea
    assert Project.from_json(new.to_json()) == new
    with pytest.raises(BeatwalkError, match="choose a keyframe for another idea"):
        with_ideas(new, SONG, only=9)


def test_the_cli_prints_ideas_and_makes_a_project_with_them(tmp_path, capsys):
    import json

    from pipelines.cli import main
    from synth.songs import chord_song, write_song

    samples, _ = chord_song(duration=24.0, mode="minor", parts=((12.0, 0.1), (12.0, 1.0)))
    song = write_song(tmp_path / "minor.wav", samples)
    assert main(["ideas", str(song), "--theme", "a journey through space", "--seed", "2"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["description"]["mode"] == "minor" and printed["description"]["windows"]
    assert printed["suggestions"]["ideas"][0]["prompt"].startswith("a journey through space, ")

    out = tmp_path / "video.json"
    assert main(["new", str(song), "--suggest", "--out", str(out)]) == 0
    captured = capsys.readouterr()
    assert "note: No theme given: the composer chose" in captured.err
    project = Project.load(out)
    assert all(k.idea is not None and k.idea.engine == "composer" for k in project.keyframes)

    assert main(["ideas", str(song), "--engine", "model", "--ideas-model", "nobody/no-such-model"]) == 0
    assert "cannot be loaded" in capsys.readouterr().err
    assert main(["ideas", str(song), "--theme", "x" * 5000]) == 2
    assert capsys.readouterr().err.startswith("error: the theme is 5000 characters long")
    assert main(["new", str(song)]) == 2
    assert capsys.readouterr().err.strip() == "error: give --prompt (one or more) or --suggest"


def test_a_bad_seed_is_one_line_and_a_long_song_asks_the_model_for_24_passages_at_most():
    for seed in (-1, 2**32):
        with pytest.raises(BeatwalkError, match="^the seed must be a whole number from 0 to"):
            suggest_prompts(SONG, seed=seed)
    times = [float(t) for t in range(0, 100, 3)]  # 34 keyframes
    suggestions = suggest_prompts(SONG, theme="space", engine="model", model="tiny", seed=1, times=times)
    assert len(suggestions.ideas) == 34
    composed = sum(i.engine == "composer" for i in suggestions.ideas)
    assert composed >= 34 - 24 and f"no usable line for {composed} of 34 passages" in " ".join(
        suggestions.notes
    )


def test_a_language_model_without_a_chat_template_falls_back_and_says_why(tmp_path):
    from pipelines.ideas.language_model import _tiny

    tokenizer, model = _tiny()
    tokenizer.chat_template = None
    tokenizer.save_pretrained(tmp_path)
    model.save_pretrained(tmp_path)
    suggestions = suggest_prompts(SONG, theme="space", engine="model", model=str(tmp_path), seed=1)
    assert all(i.engine == "composer" for i in suggestions.ideas)
    assert suggestions.notes == [
        f"the language model {tmp_path} has no chat template (an instruct model is needed): the composer wrote every prompt."
    ]
