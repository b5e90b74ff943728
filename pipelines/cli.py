"""python -m pipelines: the command line over the same functions the Space uses.

Every command prints its result (JSON where it is data) on stdout. Bad input
gives one line ``error: ...`` on stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from pipelines.errors import BeatwalkError

EXIT_BAD_INPUT = 2


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    # transformers warns at import about image processors Beatwalk never uses (no torchvision here).
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    try:
        return args.command(args) or 0
    except BeatwalkError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except MemoryError:
        print("error: not enough memory for this song: pick a shorter segment (--start / --end)", file=sys.stderr)
        return EXIT_BAD_INPUT
    except BrokenPipeError:
        # The reader (e.g. `| head`) left early: not an error; keep Python's exit flush quiet.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m pipelines", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(title="commands", required=True, metavar="COMMAND")

    analyze = commands.add_parser("analyze", help="tempo, beats, downbeats, onsets, sections (JSON)")
    analyze.add_argument("song", type=Path)
    analyze.add_argument("--start", type=float, default=None, help="segment start, seconds")
    analyze.add_argument("--end", type=float, default=None, help="segment end, seconds")
    analyze.add_argument("--curves", type=float, default=None, metavar="FPS", help="add energy curves at FPS")
    analyze.add_argument("--plot", type=Path, default=None, metavar="PNG", help="also save a plot")
    _tempo_arguments(analyze)
    analyze.set_defaults(command=_analyze)

    ideas = commands.add_parser("ideas", help="the song described, and a prompt idea per section (JSON)")
    ideas.add_argument("song", type=Path)
    ideas.add_argument("--start", type=float, default=None, help="segment start, seconds")
    ideas.add_argument("--end", type=float, default=None, help="segment end, seconds")
    _idea_arguments(ideas)
    _tempo_arguments(ideas)
    ideas.set_defaults(command=_ideas)

    new = commands.add_parser("new", help="a first project: keyframes on the song's structure, cycling the prompts")
    new.add_argument("song", type=Path)
    new.add_argument("--prompt", action="append", default=None, help="a keyframe prompt; repeat for more")
    new.add_argument("--suggest", action="store_true", help="prompts suggested from the music (see ideas)")
    _idea_arguments(new, seed=False)
    new.add_argument("--negative-prompt", default="", help="negative prompt for every keyframe")
    new.add_argument("--start", type=float, default=None, help="segment start, seconds")
    new.add_argument("--end", type=float, default=None, help="segment end, seconds")
    new.add_argument("--seed", type=int, default=0, help="seed of the first keyframe (then +1, +2, ...)")
    new.add_argument("--every", type=int, default=None, metavar="BARS", help="a keyframe every BARS bars")
    _tempo_arguments(new)
    new.add_argument("--out", type=Path, default=None, metavar="PROJECT.json", help="write here (default: stdout)")
    new.set_defaults(command=_new)

    plan = commands.add_parser("plan", help="summary of a project's frame plan (JSON)")
    plan.add_argument("project", type=Path, help="project JSON file")
    plan.add_argument("--plot", type=Path, default=None, metavar="PNG", help="also save a plot")
    plan.set_defaults(command=_plan)

    score = commands.add_parser("score", help="how well the video's visual change lands on the beats (JSON)")
    score.add_argument("video", type=Path)
    score.add_argument("--song", type=Path, default=None, help="song to score against (default: the sidecar's)")
    score.add_argument("--plot", type=Path, default=None, metavar="PNG", help="also save a plot")
    score.set_defaults(command=_score)

    render = commands.add_parser("render", help="render a project to an mp4 with the song (resumable)")
    render.add_argument("project", type=Path, help="project JSON file")
    render.add_argument("--out", type=Path, required=True, metavar="VIDEO.mp4", help="video to write")
    render.add_argument("--model", default=None, help="hub id, local diffusers folder, or 'tiny'")
    render.add_argument("--size", default=None, metavar="WxH", help="frame size, pixels (multiples of 8)")
    render.add_argument("--fps", type=float, default=None, help="frames per second")
    render.add_argument("--steps", type=int, default=None, help="denoising steps")
    render.add_argument("--batch-size", default=None, metavar="N|auto",
                        help="frames denoised together; auto: chosen for the device and frame size")
    render.add_argument("--draft", action="store_true", help="quick look: half size (at most 256 px)")
    render.add_argument("--resume", action="store_true", help="continue an interrupted render")
    render.add_argument("--chunk-frames", type=int, default=None, metavar="N", help="frames per chunk")
    render.add_argument("--renderer", choices=("walk", "feedback"), default=None,
                        help="walk: each frame from noise; feedback: each from the one before (Deforum's way)")
    render.add_argument("--camera", default=None, metavar="PRESET",
                        help="camera moves: 'still', 'zoom pulse', 'drift', 'spin on downbeats', 'tunnel'")
    render.add_argument("--cadence", type=int, default=None, metavar="K", help="feedback: diffuse every K-th frame")
    render.add_argument("--color-coherence", choices=("lab", "rgb", "hsv", "none"), default=None,
                        help="feedback: match colours to the keyframes' stills against drift")
    render.add_argument("--processes", type=int, default=None, metavar="N",
                        help="on a CPU: render in N processes (default: one per core)")
    render.add_argument("--workers", type=int, default=None, metavar="N",
                        help="render on a local Ray farm of N workers (one per GPU, or CPU workers)")
    render.add_argument("--ray", default=None, metavar="ADDRESS",
                        help="render on the Ray cluster at HOST:PORT ('auto': the one this machine is in)")
    render.set_defaults(command=_render)

    compose = commands.add_parser("compose", help="compose a song from words (MusicGen), to make a video of")
    compose.add_argument("--prompt", default=None, help='what the music should be, e.g. "a slow lo-fi beat"')
    compose.add_argument("--seconds", type=float, default=None, help="length of the song (longer than 30 s by continuation)")
    compose.add_argument("--out", type=Path, required=True, metavar="SONG.wav", help="song to write (.wav or .flac)")
    compose.add_argument("--model", default=None,
                         help="tiny (default; offline, noise), facebook/musicgen-small, -medium, -melody, or a folder")
    compose.add_argument("--melody", type=Path, default=None, metavar="FILE", help="a tune to follow (melody models)")
    compose.add_argument("--seed", type=int, default=None, help="the same seed makes the same song (on CPU); default 0")
    compose.add_argument("--variations", type=int, default=1, metavar="K",
                         help="K songs with seeds S, S+1, ...: SONG-1.wav, SONG-2.wav, ...")
    compose.add_argument("--guidance", type=float, default=None, help="classifier-free guidance (default 3; 1: none)")
    compose.add_argument("--temperature", type=float, default=None, help="sampling temperature (default 1)")
    compose.add_argument("--top-k", type=int, default=None, help="sample among the K likeliest codes (default 250)")
    compose.add_argument("--again", type=Path, default=None, metavar="FILE",
                         help="make again the song a composed file or its project records (options given win)")
    compose.add_argument("--window", type=float, default=None, help=argparse.SUPPRESS)
    compose.add_argument("--context", type=float, default=None, help=argparse.SUPPRESS)
    compose.set_defaults(command=_compose)

    live = commands.add_parser("live", help="visuals made live from music playing, on a full-screen page (Ctrl-C ends)")
    live.add_argument("song", type=Path, nargs="?", default=None, help="a song to play live (else --device)")
    live.add_argument("--device", default=None, metavar="NAME|N",
                      help="listen to a sound card input instead ('default': the system's; needs sounddevice)")
    live.add_argument("--input", default=None, metavar="mic|FILE", help="'mic': the default sound card input; or a song")
    live.add_argument("--start", type=float, default=0.0, help="where in the song to begin, seconds")
    live.add_argument("--prompt", action="append", default=None, help="a prompt; repeat to queue more")
    live.add_argument("--model", default="tiny", help="hub id, local diffusers folder, or 'tiny' (default)")
    live.add_argument("--size", default=None, metavar="WxH", help="frame size (default: 64x64 tiny, 512x512 others)")
    live.add_argument("--fps", type=float, default=24.0, help="frames per second (24)")
    live.add_argument("--steps", type=int, default=None, help="denoising steps (the model's default)")
    live.add_argument("--batch-size", type=int, default=2, help="frames made together (2)")
    live.add_argument("--pulse", type=float, default=0.5, help="push on each beat, 0..1 (0.5)")
    live.add_argument("--motion", type=float, default=0.5, help="drift between prompt changes, 0..1 (0.5)")
    live.add_argument("--auto-bars", type=int, default=8, help="bars between automatic prompt changes; 0: never")
    live.add_argument("--seed", type=int, default=0, help="seed of the walk's noises")
    live.add_argument("--display-delay", type=float, default=0.1, metavar="S",
                      help="seconds the screen lags the frames (network, projector): frames go out this early")
    live.add_argument("--record", type=Path, default=None, metavar="VIDEO.mp4", help="also record the session")
    live.add_argument("--serve", default="127.0.0.1:8765", metavar="HOST:PORT",
                      help="serve the full-screen page here ('none': no page)")
    live.add_argument("--osc", type=int, default=None, metavar="PORT", help="take controls over OSC on this UDP port")
    live.add_argument("--seconds", type=float, default=None, help="stop after this long (default: the song's end)")
    live.set_defaults(command=_live)

    return parser


def _live(args: argparse.Namespace) -> int:
    from pipelines.live.run import run_cli

    return run_cli(args, size=_parse_size(args.size))


def _parse_size(text: str | None) -> tuple[int, int] | None:
    """``--size WxH`` as (width, height); None when not given."""
    if text is None:
        return None
    try:
        width, height = (int(side) for side in text.lower().split("x"))
    except ValueError:
        raise BeatwalkError(f"--size must look like 512x512, got {text!r}") from None
    return width, height


def _parse_batch(text: str | None) -> int | str | None:
    """``--batch-size N`` or ``auto``; None when not given (the project's own)."""
    if text is None or text == "auto":
        return text
    try:
        return int(text)
    except ValueError:
        raise BeatwalkError(f"--batch-size must be a number of frames or 'auto', got {text!r}") from None


def _compose(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from pipelines.limits import Limits
    from pipelines.music.compose import check_output, compose_song, composition, licence_of, recorded_composition

    names = ("model", "prompt", "seconds", "seed", "guidance", "temperature", "top_k", "window", "context")
    given = {name: getattr(args, name) for name in names if getattr(args, name) is not None}
    recorded = {}
    if args.again is not None:
        found = recorded_composition(args.again)
        if found.melody and args.melody is None:
            raise BeatwalkError(f"{args.again.name} followed the melody {found.melody}: give it again with --melody")
        recorded = found.model_dump(exclude={"melody"})
    elif args.prompt is None or args.seconds is None:
        raise BeatwalkError("give --prompt and --seconds (or --again FILE to make a recorded song again)")
    settings = composition(**(recorded | given))
    # The CLI applies the composing limits only when their variables are set.
    Limits.from_env(max_compose_seconds=None, max_variations=None).check_compose(
        seconds=settings.seconds, variations=args.variations
    )
    check_output(args.out)
    if args.melody is not None and not args.melody.is_file():
        raise BeatwalkError(f"melody not found: {args.melody}")
    print(f"note: {settings.model}: {licence_of(settings.model)}", file=sys.stderr)
    bar = None

    def show(progress) -> None:  # the bar starts once the model is loaded and the melody read
        nonlocal bar
        if bar is None:
            bar = tqdm(total=round(progress.seconds_total, 2), unit="s", file=sys.stderr,
                       bar_format="{l_bar}{bar}| {n:.1f}/{total:.1f} s of music [{elapsed}<{remaining}]")  # fmt: skip
        bar.update(round(progress.seconds_done, 2) - bar.n)

    try:
        last = compose_song(settings, args.out, variations=args.variations, melody=args.melody, on_progress=show)
    except KeyboardInterrupt:
        print("\ninterrupted: the song being made is dropped; finished variations are kept", file=sys.stderr)
        return 130
    finally:
        if bar is not None:
            bar.close()
    for path in last.paths:
        print(path)
    return 0


def _idea_arguments(command: argparse.ArgumentParser, *, seed: bool = True) -> None:
    command.add_argument("--theme", default=None, help='what the video is about, e.g. "a journey through space"')
    command.add_argument("--engine", choices=("composer", "model"), default="composer",
                         help="composer: curated words, no weights; model: a local language model")  # fmt: skip
    command.add_argument("--ideas-model", default=None, metavar="ID",
                         help="the model engine's language model (hub id, folder or 'tiny')")  # fmt: skip
    command.add_argument("--tagger", default="auto", metavar="ID",
                         help="CLAP model for genre/mood/instrument tags: auto (if cached), none, a hub id or 'tiny'")  # fmt: skip
    if seed:
        command.add_argument("--seed", type=int, default=0, help="the same seed gives the same ideas")


def _tempo_arguments(command: argparse.ArgumentParser) -> None:
    from pipelines.music.tempo_range import TEMPO_RANGE

    slowest, fastest = TEMPO_RANGE
    command.add_argument("--min-bpm", type=float, help=f"slowest tempo the beats may follow ({slowest:g})")
    command.add_argument("--max-bpm", type=float, help=f"fastest tempo the beats may follow ({fastest:g})")


def _read_song(args: argparse.Namespace):
    """The song named by ``analyze`` / ``new``'s arguments, decoded and analysed (``Song``)."""
    from pipelines.music.cache import read_song_kept
    from pipelines.music.tempo_range import with_defaults

    # --min-bpm / --max-bpm: the default fills in the one not given.
    tempo_range = with_defaults(args.min_bpm, args.max_bpm)
    return read_song_kept(
        args.song, start=args.start, end=args.end, tempo_range=tempo_range, max_seconds=_max_song_seconds()
    )


def _max_song_seconds() -> float | None:
    """The CLI's one limit: ``BEATWALK_MAX_SONG_SECONDS``, and only when it is set."""
    from pipelines.limits import Limits

    return Limits.from_env(max_song_seconds=None).max_song_seconds


def _analyze(args: argparse.Namespace) -> int:
    audio, analysis = _read_song(args)
    if args.plot is not None:
        from pipelines.plots import plot_analysis

        _save_plot(plot_analysis(analysis, audio), args.plot)
    _print_json(analysis.to_dict(curves_fps=args.curves))
    return 0


def _ideas(args: argparse.Namespace) -> int:
    from pipelines.ideas.suggest import suggest_prompts

    audio, analysis = _read_song(args)
    description = _described(audio, analysis, args.tagger)
    suggestions = suggest_prompts(
        description, theme=args.theme, engine=args.engine, seed=args.seed, model=args.ideas_model
    )
    for note in suggestions.notes:
        print(f"note: {note}", file=sys.stderr)
    _print_json({"description": description.to_dict(), "suggestions": suggestions.to_dict()})
    return 0


def _described(audio, analysis, tagger_name: str):
    """The song's description, with the tagger's tags where it can be had (a note where not)."""
    from pipelines.music.tagging import describe_with_tags

    description, note = describe_with_tags(audio, analysis, tagger_name)
    if note:
        print(f"note: {note}", file=sys.stderr)
    return description


def _new(args: argparse.Namespace) -> int:
    from pipelines.plan.keyframes import propose_project

    if not args.prompt and not args.suggest:
        raise BeatwalkError("give --prompt (one or more) or --suggest")
    audio, analysis = _read_song(args)
    song = args.song.resolve()
    if args.out is not None:
        # Relative to the project file, so the two can be moved together.
        song = Path(os.path.relpath(song, args.out.resolve().parent))
    from pipelines.music.compose import read_composition

    project = propose_project(
        song, analysis, args.prompt or ["(suggested)"], start=args.start, end=args.end, seed=args.seed,
        negative_prompt=args.negative_prompt, every=args.every, composition=read_composition(args.song),
    )  # fmt: skip
    if args.suggest:
        from pipelines.ideas.suggest import with_ideas

        project, suggestions = with_ideas(
            project, _described(audio, analysis, args.tagger), theme=args.theme, engine=args.engine, seed=args.seed,
            model=args.ideas_model,
        )  # fmt: skip
        for note in suggestions.notes:
            print(f"note: {note}", file=sys.stderr)
    if args.out is None:
        sys.stdout.write(project.to_json() + "\n")
        return 0
    try:
        project.save(args.out)
    except OSError as exc:
        raise BeatwalkError(f"cannot write the project {args.out}: {exc}") from None
    print(args.out)
    return 0


def _plan(args: argparse.Namespace) -> int:
    from pipelines.plan.camera import plan_camera
    from pipelines.plan.timeline import plan_frames
    from pipelines.project import Project

    project = Project.load(args.project)
    analysis = project.audio.analysis(max_seconds=_max_song_seconds())
    plan = plan_frames(project, analysis)
    camera = plan_camera(project, analysis)
    if args.plot is not None:
        from pipelines.plots import plot_frame_plan

        _save_plot(plot_frame_plan(plan, analysis, camera=camera), args.plot)
    _print_json(plan.summary() | {"camera": camera.summary(), "renderer": project.render.renderer})
    return 0


def _score(args: argparse.Namespace) -> int:
    from pipelines.score.sync import score_video

    result = score_video(args.video, song=args.song)
    if args.plot is not None:
        from pipelines.plots import plot_sync

        _save_plot(plot_sync(result), args.plot)
    _print_json(result.to_dict())
    return 0


def _render(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from pipelines.project import Project
    from pipelines.render.runner import (
        default_workdir,
        iter_render,
        sidecar_path,
        with_camera,
        with_render_settings,
    )

    loaded = Project.load(args.project)
    width, height = _parse_size(args.size) or (None, None)
    settings = {"model": args.model, "fps": args.fps, "steps": args.steps, "batch_size": _parse_batch(args.batch_size)}
    project = with_render_settings(loaded, width=width, height=height, renderer=args.renderer, **settings)
    project = with_camera(project, preset=args.camera, cadence=args.cadence, color_coherence=args.color_coherence)
    from pipelines.render.processes import render_processes

    render_processes(args.processes)  # a bad --processes (or BEATWALK_RENDER_PROCESSES) before any work
    if args.chunk_frames is not None and args.chunk_frames < 1:
        raise BeatwalkError(f"--chunk-frames must be at least 1, got {args.chunk_frames}")
    if sidecar_path(args.out).resolve() == args.project.resolve():
        # The sidecar holds the project as rendered (absolute song path, overridden settings).
        raise BeatwalkError(
            f"the sidecar would overwrite {args.project.name}, the project being rendered: "
            f"choose another --out (e.g. {args.project.stem}-video.mp4)"
        )

    options = {"resume": args.resume, "draft": args.draft, "chunk_frames": args.chunk_frames, "processes": args.processes}
    bar = None
    farm = None
    if args.workers is not None or args.ray is not None:
        from pipelines.render.farm import Farm

        farm = Farm(args.workers, address=args.ray)
    try:
        try:
            analysis = project.audio.analysis(max_seconds=_max_song_seconds())
            if farm is not None:
                farm.start()
                options["farm"] = farm
            for progress in iter_render(project, args.out, analysis=analysis, **options):
                if bar is None:
                    total, initial = progress.frames_total, progress.frames_done
                    if args.resume and not initial:
                        print(f"nothing finished to resume for {args.out.name}: rendering from the start", file=sys.stderr)
                    bar = tqdm(total=total, initial=initial, unit="frame", file=sys.stderr)
                bar.update(progress.frames_done - bar.n)
        finally:
            if bar is not None:
                bar.close()
            if farm is not None:
                farm.close()
    except KeyboardInterrupt:
        workdir = default_workdir(args.out, draft=args.draft)
        print(f"interrupted: finished chunks are in {workdir}; add --resume to continue", file=sys.stderr)
        return 130
    print(progress.video_path)
    return 0


def _save_plot(figure, path: Path) -> None:
    """Save a figure; a path matplotlib cannot write (folder, format) is bad input."""
    try:
        figure.savefig(path, dpi=110)
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "strerror", None) or exc
        raise BeatwalkError(f"cannot write the plot {path}: {reason}") from None


def _print_json(data: dict) -> None:
    json.dump(data, sys.stdout)
    sys.stdout.write("\n")
