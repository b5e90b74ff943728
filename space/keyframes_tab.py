"""Keyframes tab: the prompts on the song's timeline, as an editable table.

Every action here takes the project (JSON) and returns a new one; the table
is a view of ``project.keyframes`` and edits to it are validated row by row.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import gradio as gr
from pydantic import ValidationError

from pipelines.errors import BeatwalkError
from pipelines.project import Keyframe, Project

COLUMNS = ["time (s)", "prompt", "negative prompt", "seed", "guidance", "hold", "hold unit", "transition"]
DATATYPES = ["number", "str", "str", "number", "number", "number", "str", "str"]
SNAP_TARGETS = ["beat", "downbeat", "section start", "exact time"]
DEFAULT_PROMPTS = "a neon city at night, synthwave, glowing lights\na misty forest at dawn, volumetric light"
MAX_PROJECT_BYTES = 1_000_000


@dataclass
class KeyframesTab:
    prompts: gr.Textbox
    negative: gr.Textbox
    seed: gr.Number
    every: gr.Number
    propose: gr.Button
    table: gr.Dataframe
    status: gr.Markdown
    add_time: gr.Number
    add_snap: gr.Radio
    add_prompt: gr.Textbox
    add: gr.Button
    snap: gr.Button
    chosen: gr.Dropdown
    remove: gr.Button
    preview: gr.Button
    preview_image: gr.Image
    import_file: gr.UploadButton
    export: gr.Button
    export_file: gr.File


def build() -> KeyframesTab:
    """The tab's components (inside ``gr.Tab``); events are wired in ``space.blocks``."""
    with gr.Row():
        prompts = gr.Textbox(
            DEFAULT_PROMPTS, lines=3, label="Prompts, one per line (used in turn)", elem_id="prompts"
        )
        with gr.Column():
            negative = gr.Textbox("", label="Negative prompt (every keyframe)", elem_id="negative-prompt")
            with gr.Row():
                seed = gr.Number(0, precision=0, minimum=0, label="First seed", elem_id="seed")
                every = gr.Number(0, precision=0, minimum=0, label="Bars between keyframes (0: on sections)")
            propose = gr.Button("Propose keyframes for the whole song", variant="primary", elem_id="propose")
    table = gr.Dataframe(
        headers=COLUMNS,
        datatype=DATATYPES,
        type="array",
        interactive=True,
        show_row_numbers=True,
        label="Keyframes (edit any cell; hold unit: beats or seconds; transition: walk, linear, beats or cut)",
        elem_id="keyframes-table",
    )
    status = gr.Markdown("", elem_id="keyframes-status")
    with gr.Row():
        add_time = gr.Number(0, minimum=0, label="Add a keyframe near (s)", elem_id="add-time")
        add_snap = gr.Radio(SNAP_TARGETS, value="beat", label="on the nearest", elem_id="add-snap")
        add_prompt = gr.Textbox(
            "", label="with prompt (empty: the previous keyframe's)", elem_id="add-prompt"
        )
        add = gr.Button("Add keyframe", elem_id="add-keyframe")
    with gr.Row():
        snap = gr.Button("Snap all times to beats", elem_id="snap-keyframes")
        chosen = gr.Dropdown([], label="Keyframe", elem_id="keyframe-choice")
        remove = gr.Button("Remove it", elem_id="remove-keyframe")
        preview = gr.Button("Preview its still", elem_id="preview-keyframe")
    preview_image = gr.Image(label="Keyframe still", type="pil", elem_id="preview-image", height=320)
    with gr.Row():
        import_file = gr.UploadButton("Import project JSON", file_types=[".json"], elem_id="import-project")
        export = gr.Button("Export project JSON", elem_id="export-project")
        export_file = gr.File(label="Project file", elem_id="export-file")
    return KeyframesTab(
        prompts,
        negative,
        seed,
        every,
        propose,
        table,
        status,
        add_time,
        add_snap,
        add_prompt,
        add,
        snap,
        chosen,
        remove,
        preview,
        preview_image,
        import_file,
        export,
        export_file,
    )


# -- the project from a song, and keyframe edits --------------------------------


def project_for_song(
    project: Project | None,
    analysis,
    *,
    song: str,
    start: float,
    end: float | None,
    prompts: str,
    negative: str,
    seed: float | None,
    render,
) -> tuple[Project, str]:
    """The project after (re-)analysing a song: a new one, or the old one on the new segment.

    Keyframes that fall outside a shorter segment are dropped (and said so);
    if none is left, keyframes are proposed afresh. Returns the project and a
    status line.
    """
    from pipelines.plan.keyframes import propose_project, song_ref

    audio = song_ref(song, analysis, start=start, end=end)
    if project is None:
        fresh = propose_project(
            song,
            analysis,
            split_prompts(prompts),
            start=start,
            end=end,
            seed=_seed(seed),
            negative_prompt=negative,
            render=render,
        )
        return fresh, f"Proposed {len(fresh.keyframes)} keyframes from your prompts."
    kept = [k for k in project.keyframes if k.time < analysis.duration]
    if not kept:
        keyframes = propose(analysis, prompts, negative, seed, every=None)
        return replace(project, audio=audio, keyframes=keyframes), (
            f"No keyframe was inside the new segment: proposed {len(keyframes)} from your prompts."
        )
    dropped = len(project.keyframes) - len(kept)
    note = f" Dropped {dropped} keyframe(s) past the end of the segment." if dropped else ""
    return replace(project, audio=audio, keyframes=kept), f"Song analysed.{note}"


def propose(
    analysis, prompts: str, negative: str, seed: float | None, *, every: float | None
) -> list[Keyframe]:
    from pipelines.plan.keyframes import propose_keyframes

    bars = int(every) if every else None
    return propose_keyframes(
        analysis, split_prompts(prompts), seed=_seed(seed), negative_prompt=negative, every=bars
    )


def add_keyframe(project: Project, analysis, *, at: float | None, snap: str, prompt: str) -> Project:
    """A new keyframe near ``at`` seconds, on the nearest beat, downbeat or section start."""
    if at is None or not math.isfinite(float(at)) or float(at) < 0:
        raise BeatwalkError("give the time of the new keyframe in seconds (>= 0)")
    time = round(snap_time(float(at), analysis, snap), 3)
    if time >= analysis.duration:
        raise BeatwalkError(f"{time:g} s is past the end of the segment ({analysis.duration:g} s)")
    if any(abs(k.time - time) < 1e-3 for k in project.keyframes):
        raise BeatwalkError(f"there is already a keyframe at {time:g} s")
    before = [k for k in project.keyframes if k.time < time] or project.keyframes[:1]
    template = before[-1]
    keyframe = template.model_copy(
        update={
            "time": time,
            "prompt": prompt.strip() or template.prompt,
            "seed": (max(k.seed for k in project.keyframes) + 1) % 2**32,
            "hold": 0.0,
        }
    )
    return replace(project, keyframes=sorted([*project.keyframes, keyframe], key=lambda k: k.time))


def snap_time(time: float, analysis, target: str) -> float:
    from pipelines.plan.keyframes import snap_to_beat

    if target == "beat":
        return snap_to_beat(time, analysis)
    if target == "downbeat":
        return snap_to_beat(time, analysis, downbeats=True)
    if target == "section start":
        starts = [float(s["start"]) for s in analysis.sections] or [time]
        return min(starts, key=lambda s: abs(s - time))
    if target == "exact time":
        return time
    raise BeatwalkError(f"snap to one of: {', '.join(SNAP_TARGETS)}")


def snap_all(project: Project, analysis) -> Project:
    """Every keyframe time moved to its nearest beat; two landing on one beat is refused."""
    from pipelines.plan.keyframes import snap_to_beat

    times = [round(snap_to_beat(k.time, analysis), 3) for k in project.keyframes]
    for i in range(1, len(times)):
        if times[i] == times[i - 1]:
            raise BeatwalkError(
                f"keyframes {i} and {i + 1} would both land on the beat at {times[i]:g} s: move or remove one"
            )
    return replace(
        project, keyframes=[k.model_copy(update={"time": t}) for k, t in zip(project.keyframes, times)]
    )


def remove_keyframe(project: Project, index: int | None) -> Project:
    if index is None or not 0 <= int(index) < len(project.keyframes):
        raise BeatwalkError("choose a keyframe to remove")
    if len(project.keyframes) == 1:
        raise BeatwalkError("a project needs at least one keyframe")
    return replace(project, keyframes=[k for i, k in enumerate(project.keyframes) if i != int(index)])


# -- the table -----------------------------------------------------------------


def table_rows(project: Project | None) -> list[list]:
    if project is None:
        return []
    return [
        [k.time, k.prompt, k.negative_prompt, k.seed, k.guidance, k.hold, k.hold_unit, k.transition]
        for k in project.keyframes
    ]


def keyframe_choices(project: Project | None) -> list[tuple[str, int]]:
    if project is None:
        return []
    return [(f"{i + 1} · {k.time:g} s · {_shorten(k.prompt)}", i) for i, k in enumerate(project.keyframes)]


def project_from_table(project: Project, rows: list[list]) -> Project:
    """The project with its keyframes read from the edited table (rows sorted by time).

    Raises a one-line ``BeatwalkError`` naming the row (as numbered in the table).
    """
    keyframes = []
    for number, row in enumerate(rows, start=1):
        cells = list(row) + [None] * (len(COLUMNS) - len(row))
        if all(_blank(c) for c in cells):
            continue
        time, prompt, negative, seed, guidance, hold, hold_unit, transition = cells[: len(COLUMNS)]
        data = {
            "time": _number(time, "time", number),
            "prompt": "" if _blank(prompt) else str(prompt),
            "negative_prompt": "" if _blank(negative) else str(negative),
            "seed": 0 if _blank(seed) else _integer(seed, "seed", number),
            "guidance": None if _blank(guidance) else _number(guidance, "guidance", number),
            "hold": 0.0 if _blank(hold) else _number(hold, "hold", number),
            "hold_unit": "beats" if _blank(hold_unit) else str(hold_unit).strip(),
            "transition": "walk" if _blank(transition) else str(transition).strip(),
        }
        try:
            keyframes.append(Keyframe.model_validate(data))
        except ValidationError as exc:
            error = exc.errors()[0]
            where = ".".join(str(p) for p in error["loc"])
            raise BeatwalkError(
                f"row {number}: {where}: {error['msg'].removeprefix('Value error, ')}"
            ) from None
    if not keyframes:
        raise BeatwalkError("the table has no keyframe: a project needs at least one")
    return replace(project, keyframes=sorted(keyframes, key=lambda k: k.time))


# -- import / export -----------------------------------------------------------


def import_project(upload: str, *, song: str | None) -> Project:
    """A project from an uploaded JSON file, pointed at the song loaded here (never at a path it names)."""
    path = Path(upload)
    if path.stat().st_size > MAX_PROJECT_BYTES:
        raise BeatwalkError(f"project file is too large (over {MAX_PROJECT_BYTES // 1000} kB)")
    project = Project.from_json(path.read_bytes())
    return for_space(project, song=song)


def for_space(project: Project, *, song: str | None) -> Project:
    """A project as the Space may use it: its song is the one uploaded here, and it names no other file.

    A project's paths come from whoever wrote it, so none is ever opened here.
    """
    for i, keyframe in enumerate(project.keyframes):
        if keyframe.init_image is not None:
            raise BeatwalkError(
                f"keyframe {i + 1} has an init image: the Space does not read image files named in a "
                "project (render it with the CLI)"
            )
    return replace(project, audio=project.audio.model_copy(update={"path": song or "song"}))


def export_project(project: Project, folder: Path, *, song: str | None) -> Path:
    """Write the project for download; its song is named by its file name only (as the CLI reads it)."""
    exported = replace(
        project, audio=project.audio.model_copy(update={"path": Path(song).name if song else "song"})
    )
    return exported.save(folder / "beatwalk-project.json")


# -- small helpers ---------------------------------------------------------------


def replace(project: Project, **fields) -> Project:
    """A validated copy of ``project`` with some top-level fields replaced (``model_copy`` skips checks)."""

    def plain(value):
        return value.model_dump() if hasattr(value, "model_dump") else value

    data = project.model_dump()
    for name, value in fields.items():
        data[name] = [plain(v) for v in value] if isinstance(value, list) else plain(value)
    return Project.from_dict(data)


def split_prompts(text: str) -> list[str]:
    prompts = [line.strip() for line in (text or "").splitlines() if line.strip()]
    if not prompts:
        raise BeatwalkError("write at least one prompt (one per line)")
    return prompts


def parse(project_json: str | None) -> Project:
    if not project_json:
        raise BeatwalkError("analyse a song first (Audio tab)")
    return Project.from_json(project_json)


def _seed(seed: float | None) -> int:
    return 0 if seed in (None, "") else int(seed)


def _blank(cell) -> bool:
    return (
        cell is None
        or (isinstance(cell, float) and math.isnan(cell))
        or (isinstance(cell, str) and not cell.strip())
    )


def _number(cell, name: str, row: int) -> float:
    try:
        value = float(cell)
    except (TypeError, ValueError):
        raise BeatwalkError(f"row {row}: {name} must be a number, got {json.dumps(str(cell))}") from None
    if not math.isfinite(value):
        raise BeatwalkError(f"row {row}: {name} must be a finite number")
    return value


def _integer(cell, name: str, row: int) -> int:
    value = _number(cell, name, row)
    if value != int(value):
        raise BeatwalkError(f"row {row}: {name} must be a whole number, got {value:g}")
    return int(value)


def _shorten(text: str, length: int = 40) -> str:
    return text if len(text) <= length else text[: length - 1] + "…"
