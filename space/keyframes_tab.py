"""Keyframes tab: the prompts on the song's timeline, as an editable table.

Every action takes the project (JSON) and returns a new one through the edits of
:mod:`pipelines.plan.edits`; the table is a view of ``project.keyframes``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import gradio as gr

from pipelines.admission import for_download, from_stranger
from pipelines.errors import BeatwalkError
from pipelines.limits import Limits
from pipelines.plan import edits
from pipelines.plan.camera import PRESETS, camera_preset, preset_of
from pipelines.project import Project
from space.errors import user_errors, without_paths
from space.page import Page, analysis_of, parse, private, unchanged
from space.views import redraw

DATATYPES = ["number", "str", "str", "number", "number", "number", "str", "str"]
DEFAULT_PROMPTS = "a neon city at night, synthwave, glowing lights\na misty forest at dawn, volumetric light"
MAX_PROJECT_BYTES = 1_000_000
AS_BEFORE = "as before"
"""A keyframe's camera choice when it brings none of its own."""
CUSTOM = "custom (from the project)"


@dataclass
class KeyframesTab:
    prompts: gr.Textbox
    negative: gr.Textbox
    seed: gr.Number
    every: gr.Number
    propose: gr.Button
    theme: gr.Textbox
    engine: gr.Radio
    suggest: gr.Button
    another: gr.Button
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
    init_image: gr.Image
    init_strength: gr.Slider
    set_init: gr.Button
    clear_init: gr.Button
    keyframe_camera: gr.Dropdown
    import_file: gr.UploadButton
    export: gr.Button
    export_file: gr.File
    timeline: gr.Plot


def build() -> KeyframesTab:
    """The tab's components (inside ``gr.Tab``)."""
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
    with gr.Accordion("No idea what to show? Prompts from the music", open=False, elem_id="ideas"):
        with gr.Row():
            theme = gr.Textbox(
                "", label="Theme (optional), e.g. a journey through space", max_length=300, elem_id="theme"
            )
            engine = gr.Radio(
                [("Composer (no weights, instant)", "composer"), ("Language model (local)", "model")],
                value="composer", label="Written by", elem_id="engine",
            )  # fmt: skip
        with gr.Row():
            suggest = gr.Button("Suggest a prompt for every keyframe", elem_id="suggest")
            another = gr.Button("Another idea for the chosen keyframe", elem_id="another-idea")
    table = gr.Dataframe(
        headers=list(edits.KEYFRAME_COLUMNS),
        datatype=DATATYPES,
        type="array",
        interactive=True,
        show_row_numbers=True,
        label="Keyframes (edit any cell; hold unit: beats or seconds; transition: walk, linear, beats or cut)",
        elem_id="keyframes-table",
    )
    status = gr.Markdown("", elem_id="keyframes-status")
    gr.Markdown(
        "**guidance**: how strongly the picture follows the prompt (empty: the model's own; turbo models "
        "need none, ≤ 1 skips it). **hold**: stay on the keyframe's picture this long after its time, in "
        "**hold unit** (beats follow the song's tempo, or seconds), then move on. **transition**: how the "
        "picture moves into the next keyframe: *walk* (speed follows the music), *linear*, *beats* (a step "
        "on every beat) or *cut* (a jump on the downbeat nearest the next keyframe).",
        elem_id="keyframes-help",
    )
    timeline = gr.Plot(
        label="Keyframes on the song: sections, beats, downbeats",
        elem_id="keyframes-plot",
        elem_classes=["wide-plot"],
    )
    with gr.Row():
        add_time = gr.Number(0, minimum=0, label="Add a keyframe near (s)", elem_id="add-time")
        add_snap = gr.Radio(
            list(edits.SNAP_TARGETS), value="beat", label="on the nearest", elem_id="add-snap"
        )
        add_prompt = gr.Textbox(
            "", label="with prompt (empty: the previous keyframe's)", elem_id="add-prompt"
        )
        add = gr.Button("Add keyframe", elem_id="add-keyframe")
    with gr.Row():
        snap = gr.Button("Snap all times to beats", elem_id="snap-keyframes")
        chosen = gr.Dropdown([], label="Keyframe", elem_id="keyframe-choice")
        remove = gr.Button("Remove it", elem_id="remove-keyframe")
        preview = gr.Button("Preview its still", elem_id="preview-keyframe")
    with gr.Row():
        preview_image = gr.Image(label="Keyframe still", type="pil", elem_id="preview-image", height=320)
        init_image = gr.Image(
            label="Its init image (optional: the keyframe starts from this picture; SD 1.x/2.x models)",
            type="filepath", image_mode=None, sources=["upload", "clipboard"], height=320, elem_id="init-image",
        )  # fmt: skip
        with gr.Column():
            init_strength = gr.Slider(
                0.05, 1.0, value=0.6, step=0.05, elem_id="init-strength",
                label="Init strength (low: close to the picture; 1: the prompt alone)",
            )  # fmt: skip
            set_init = gr.Button("Use this picture for the keyframe", elem_id="set-init")
            clear_init = gr.Button("No init image", elem_id="clear-init")
            keyframe_camera = gr.Dropdown(
                [AS_BEFORE, *PRESETS], value=AS_BEFORE, label="Camera from this keyframe on",
                info="e.g. a slow drift in the verse, a zoom pulse from the chorus", elem_id="keyframe-camera",
            )  # fmt: skip
    with gr.Row():
        import_file = gr.UploadButton("Import project JSON", file_types=[".json"], elem_id="import-project")
        export = gr.Button("Export project JSON", elem_id="export-project")
        export_file = gr.File(label="Project file", elem_id="export-file")
    return KeyframesTab(
        prompts, negative, seed, every, propose, theme, engine, suggest, another, table, status, add_time, add_snap, add_prompt, add, snap,
        chosen, remove, preview, preview_image, init_image, init_strength, set_init, clear_init, keyframe_camera, import_file,
        export, export_file, timeline,
    )  # fmt: skip


def wire(page: Page, limits: Limits) -> None:
    """Propose, edit, add, snap, remove, preview, import and export."""
    from pipelines.admission import (
        admit_preview,
        check_init_images,
        fit_to_limits,
        save_init_image,
        without_init_images,
    )
    from space import audio_tab, gpu, motion_tab

    keys, audio, motion = page.keys, page.audio, page.motion
    changed = {page.project, keys.status}

    def result(project: Project, note: str) -> dict:
        return {page.project: project.to_json(), keys.status: note}

    @user_errors
    def propose(project_json, analysis_dict, prompts, negative, seed, every):
        from pipelines.plan.keyframes import propose_keyframes

        keyframes = propose_keyframes(
            analysis_of(analysis_dict), edits.split_prompts(prompts), negative_prompt=negative,
            seed=0 if seed in (None, "") else int(seed), every=int(every) if every else None,
        )  # fmt: skip
        return result(
            parse(project_json).replace(keyframes=keyframes), f"Proposed {len(keyframes)} keyframes."
        )

    @user_errors
    def edit_table(project_json, rows, analysis_dict):
        if not project_json:
            return {keys.status: "Analyse a song first (Audio tab)."}
        try:
            new = edits.with_rows(parse(project_json), rows)
            if analysis_dict:
                new.validate_against(analysis_of(analysis_dict).duration)
        except BeatwalkError as exc:  # shown beside the table while the person keeps typing
            return {keys.status: f"⚠️ Not applied: {without_paths(str(exc))}"}
        updates = result(new, f"{len(new.keyframes)} keyframes.")
        filled = [row for row in rows if not all(edits.blank(cell) for cell in row)]
        if [k.time for k in new.keyframes] != [float(row[0]) for row in filled]:
            # Sorted by time (or blank rows gone): the table's row numbers are the keyframes' again.
            updates[keys.table] = edits.keyframe_rows(new)
        return updates

    @user_errors
    def add(project_json, analysis_dict, at, snap, prompt):
        new = edits.add_keyframe(
            parse(project_json), analysis_of(analysis_dict), at=at, snap=snap, prompt=prompt
        )
        return result(new, f"Added a keyframe; {len(new.keyframes)} in all.")

    @user_errors
    def snap(project_json, analysis_dict):
        return result(
            edits.snap_all(parse(project_json), analysis_of(analysis_dict)),
            "Every keyframe is on a beat.",
        )

    @user_errors
    def remove(project_json, index):
        new = edits.remove_keyframe(parse(project_json), index)
        return result(new, f"Removed; {len(new.keyframes)} keyframes left.")

    @user_errors
    def preview(project_json, index, request: gr.Request):
        from space.session import session_dir

        current = parse(project_json)
        if index is None:
            raise BeatwalkError("choose a keyframe to preview")
        # The only files a preview opens are the pictures this page kept for the visitor.
        current = from_stranger(current, song=None, images=session_dir(request))
        admit_preview(current, limits=limits)
        return gpu.preview_still(current.to_json(), int(index))

    def show_init(project_json, index):
        """The chosen keyframe's init image and strength."""
        if (
            not project_json
            or index is None
            or not 0 <= int(index) < len(keyframes := parse(project_json).keyframes)
        ):
            return None, 0.6
        keyframe = keyframes[int(index)]
        return (keyframe.init_image, keyframe.init_strength) if keyframe.init_image else (None, 0.6)

    @user_errors
    def set_init(project_json, index, picture, strength, request: gr.Request):
        from space.session import session_dir

        if picture is None:
            raise BeatwalkError("upload a picture first (or press No init image)")
        kept = save_init_image(picture, session_dir(request))
        new = edits.set_init_image(parse(project_json), index, str(kept), strength)
        check_init_images(new)
        return result(
            new, f"Keyframe {int(index) + 1} starts from the picture at strength {float(strength):g}."
        )

    @user_errors
    def clear_init(project_json, index):
        new = edits.set_init_image(parse(project_json), index, None)
        shown = {keys.init_image: None, keys.init_strength: 0.6}  # the keyframe chosen stays chosen
        return result(new, f"Keyframe {int(index) + 1} has no init image.") | shown

    def show_camera(project_json, index):
        """The chosen keyframe's own camera: a preset's name, custom, or as before."""
        project = parse(project_json) if project_json else None
        if project is None or index is None or not 0 <= int(index) < len(project.keyframes):
            return gr.update(choices=[AS_BEFORE, *PRESETS], value=AS_BEFORE)
        camera = project.keyframes[int(index)].camera
        if camera is None:
            return gr.update(choices=[AS_BEFORE, *PRESETS], value=AS_BEFORE)
        named = preset_of(camera)
        return gr.update(choices=[AS_BEFORE, *PRESETS, *([] if named else [CUSTOM])], value=named or CUSTOM)

    @user_errors
    def set_camera(project_json, index, choice):
        project = parse(project_json)
        if choice == CUSTOM:
            return unchanged(page.project)
        camera = None if choice == AS_BEFORE else camera_preset(choice)
        new = edits.set_keyframe_camera(project, index, camera)
        said = "goes on with the camera before it" if camera is None else f"brings the camera “{choice}”"
        return result(new, f"Keyframe {int(index) + 1} {said}.")

    def ideas(project_json, description_dict, theme, engine, seed, only=None):
        from pipelines.ideas.suggest import with_ideas
        from pipelines.music.describe import SongDescription

        if not description_dict:
            raise BeatwalkError("analyse a song first (Audio tab)")
        current, base = parse(project_json), 0 if seed in (None, "") else int(seed)
        variation = 0
        if only is not None:
            if not 0 <= int(only) < len(current.keyframes):
                raise BeatwalkError("choose a keyframe for another idea")
            source = current.keyframes[int(only)].idea
            variation = (source.seed - base + 1) if source is not None and source.seed >= base else 1
        new, suggestions = with_ideas(
            current, SongDescription.from_dict(description_dict), theme=theme, engine=engine, seed=base,
            variation=variation, only=only, model=os.environ.get("BEATWALK_IDEAS_MODEL") or None, local_only=True,
        )  # fmt: skip
        done = (
            f"Another idea for keyframe {int(only) + 1}."
            if only is not None
            else (f"Suggested {len(new.keyframes)} prompts (theme: {suggestions.theme}).")
        )
        return result(new, " ".join([done, *suggestions.notes]))

    @user_errors
    def suggest(project_json, description_dict, theme, engine, seed):
        return ideas(project_json, description_dict, theme, engine, seed)

    @user_errors
    def another(project_json, description_dict, theme, engine, seed, index):
        if index is None:
            raise BeatwalkError("choose a keyframe for another idea")
        return ideas(project_json, description_dict, theme, engine, seed, only=int(index))

    @user_errors
    def import_project(upload, song, model):
        if upload is None:
            return unchanged(page.project)
        path = Path(upload)
        if path.stat().st_size > MAX_PROJECT_BYTES:
            raise BeatwalkError(f"project file is too large (over {MAX_PROJECT_BYTES // 1000} kB)")
        # Its init images are files of the machine it was made on: not opened here.
        imported, dropped = without_init_images(Project.from_json(path.read_bytes()))
        imported = from_stranger(imported, song=song)
        # Settings this Space's controls cannot hold give way to its limits and to the model chosen here.
        new, fitted = fit_to_limits(imported, limits, model=model, offered=motion_tab.model_choices(model))
        if dropped:
            fitted = [
                *fitted,
                f"the init images of {dropped} keyframe{'s' * (dropped > 1)} left out (upload them again per keyframe)",
            ]
        if fitted:  # a toast: the status line below is rewritten when the song is analysed again
            gr.Warning(f"Imported project brought within this Space's settings: {', '.join(fitted)}.")
        note = f"Imported {len(new.keyframes)} keyframes." + (
            "" if song else " Upload its song, then Analyse."
        )
        return result(new, note) | {page.notice: note}  # shown again unless the song is analysed

    analyse, analyse_inputs, analyse_outputs = audio_tab.analysis_event(page, limits)

    @user_errors
    def reanalyse(song, *values):
        return analyse(song, *values) if song else unchanged(page.project)

    @user_errors
    def export(project_json, song, request: gr.Request):
        from space.session import session_dir

        exported = for_download(parse(project_json), song=song)
        return str(exported.save(session_dir(request) / "beatwalk-project.json"))

    analysis_inputs = [page.project, page.analysis]
    redraw(keys.propose.click(propose, [*analysis_inputs, keys.prompts, keys.negative, keys.seed, keys.every],
                              changed, **private()), page, limits)  # fmt: skip
    table_edit = keys.table.input(
        edit_table, [page.project, keys.table, page.analysis], changed | {keys.table},
        **private(trigger_mode="always_last"),
    )  # fmt: skip
    redraw(table_edit, page, limits, table=False)
    redraw(keys.add.click(add, [*analysis_inputs, keys.add_time, keys.add_snap, keys.add_prompt], changed, **private()),
           page, limits)  # fmt: skip
    redraw(keys.snap.click(snap, analysis_inputs, changed, **private()), page, limits)
    redraw(keys.remove.click(remove, [page.project, keys.chosen], changed, **private()), page, limits)
    keys.preview.click(
        preview, [page.project, keys.chosen], keys.preview_image,
        **private(concurrency_id="preview", concurrency_limit=limits.max_concurrent_renders),
    )  # fmt: skip
    idea_inputs = [page.project, page.description, keys.theme, keys.engine, keys.seed]
    redraw(keys.suggest.click(suggest, idea_inputs, changed, **private()), page, limits)
    redraw(keys.another.click(another, [*idea_inputs, keys.chosen], changed, **private()), page, limits)
    keys.chosen.change(
        show_init, [page.project, keys.chosen], [keys.init_image, keys.init_strength], **private()
    )
    keys.chosen.change(show_camera, [page.project, keys.chosen], keys.keyframe_camera, **private())
    redraw(keys.keyframe_camera.input(set_camera, [page.project, keys.chosen, keys.keyframe_camera], changed, **private()),
           page, limits)  # fmt: skip
    set_inputs = [page.project, keys.chosen, keys.init_image, keys.init_strength]
    redraw(keys.set_init.click(set_init, set_inputs, changed, **private()), page, limits)
    cleared = keys.clear_init.click(
        clear_init, [page.project, keys.chosen], changed | {keys.init_image, keys.init_strength}, **private()
    )
    redraw(cleared, page, limits)
    imported = keys.import_file.upload(
        import_project,
        [keys.import_file, audio.song, motion.controls["model"]],
        changed | {page.notice},
        **private(),
    )
    shown = imported.success(controls_of(page), page.project, _controls(page), **private())
    redraw(
        audio_tab.analysed(shown.success(reanalyse, analyse_inputs, analyse_outputs, **private()), page),
        page,
        limits,
    )
    keys.export.click(export, [page.project, audio.song], keys.export_file, **private())


def restore(page: Page, demo: gr.Blocks, limits: Limits) -> None:
    """A reloaded page gets back the project it had (kept in the browser), waiting for its song."""
    from pipelines.admission import fit_to_limits, without_init_images
    from space import motion_tab

    keys, motion = page.keys, page.motion

    def restored(saved, model):
        if not saved:
            return unchanged(page.project)
        try:  # the browser's copy is treated like any upload
            project, dropped = without_init_images(
                Project.from_json(saved)
            )  # its pictures stay on the server
            project = from_stranger(project, song=None)
            project, _ = fit_to_limits(project, limits, model=model, offered=motion_tab.model_choices(model))
        except BeatwalkError:
            return unchanged(page.project)
        note = f"Restored your project from this browser ({len(project.keyframes)} keyframes): upload its song, then Analyse."
        if dropped:
            note += " Its init images were not kept: set them again per keyframe."
        return {page.project: project.to_json(), keys.status: note}

    loaded = demo.load(
        restored, [page.saved, motion.controls["model"]], {page.project, keys.status}, **private()
    )
    redraw(loaded.success(controls_of(page), page.project, _controls(page), **private()), page, limits)


def controls_of(page: Page):
    """The handler that shows a project in the other tabs' controls (segment, tempo range, motion,
    render): an event of its own, so a refused import or restore marks nothing on those tabs."""
    from space import audio_tab, motion_tab

    audio = page.audio

    def show(project_json):
        if not project_json:
            return unchanged(audio.start)
        new = parse(project_json)
        slowest, fastest = audio_tab.tempo_range_values(new)
        segment = {
            audio.start: new.audio.start,
            audio.end: new.audio.end,
            audio.slowest: slowest,
            audio.fastest: fastest,
        }
        return segment | motion_tab.control_values(page.motion, new)

    return show


def _controls(page: Page) -> set:
    audio = page.audio
    return {audio.start, audio.end, audio.slowest, audio.fastest, *page.motion.inputs}
