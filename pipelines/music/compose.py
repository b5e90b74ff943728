"""Composing a song from words: MusicGen through transformers, any length, straight into a video.

A :class:`~pipelines.project.Composition` says what to make (model, prompt, length, seed, sampling);
:func:`compose_song` makes it and writes one audio file per variation, the composition written into
each file's tags, so that a project made from the file records how to make the song again
(:func:`read_composition`).

Longer than the model's window (30 s for MusicGen) by continuation, as AudioCraft and the AI beats
project do: the first window is generated from the prompt alone; each next one starts from the last
``context`` seconds of the song so far as its audio prompt (encoded by the model's own EnCodec) and
generates ``window - context`` seconds more. The model decodes its audio prompt again with the
continuation, so the two overlap by ``context`` seconds of the same music; they are joined inside
that overlap by a short equal-gain crossfade (:func:`join_continuation`), never at a hard edge.

Models: ``facebook/musicgen-small`` / ``-medium`` (text), ``facebook/musicgen-melody`` (text and a
tune to follow: its chroma, computed here as transformers' feature extractor does, which needs
torchaudio), and ``tiny`` / ``tiny-melody``: random-weight models of the same architecture built
from config, which run offline on a CPU in seconds. Their audio is quiet noise, but the sample
rate, frame rate, window, continuation, progress and files are the real thing. MusicGen's weights
are licensed CC BY-NC 4.0 (non-commercial); :data:`LICENCES` says so wherever a model is chosen.
"""

from __future__ import annotations

import functools
import json
import math
import os
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from pipelines.errors import BeatwalkError, first_error

MODELS = ("tiny", "facebook/musicgen-small", "facebook/musicgen-medium", "facebook/musicgen-melody")
"""What a person can choose; any other MusicGen hub id or local folder works too."""
MELODY_MODELS = ("tiny-melody", "facebook/musicgen-melody", "facebook/musicgen-melody-large")
LICENCES = {
    "tiny": "random weights built here (no licence to mind; the audio is noise)",
    "tiny-melody": "random weights built here (no licence to mind; the audio is noise)",
}
MUSICGEN_LICENCE = "CC BY-NC 4.0: non-commercial use only (Meta's MusicGen weights)"
CROSSFADE_SECONDS = 0.25
"""Length of the equal-gain crossfade that joins a continuation to the song so far."""
EDGE_SECONDS = 0.1
"""The crossfade ends this far before the end of the song so far: the codec's last samples are
made without the music that follows them."""
SEED_MAX = 2**32 - 1
FORMATS = {".wav": ("WAV", "PCM_16"), ".flac": ("FLAC", "PCM_16")}
TAG_KEY = "beatwalk-composition"


class Composition(BaseModel):
    """How a song was composed from words (``pipelines.music.compose``), so that it can be made again:
    the same settings give the same song on CPU. A project keeps it in ``audio.composition``."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)

    model: str = Field("tiny", min_length=1, description="MusicGen hub id, local folder, or 'tiny'.")
    prompt: str = Field(max_length=1000, description="What the music should be.")
    seconds: float = Field(ge=1, le=3600, description="Length of the song, seconds.")
    seed: int = Field(0, ge=0, le=SEED_MAX)
    guidance: float = Field(3.0, ge=1, le=20, description="Classifier-free guidance scale; 1: none.")
    temperature: float = Field(1.0, gt=0, le=5)
    top_k: int = Field(250, ge=1, le=2048, description="Sample among this many likeliest codes.")
    melody: str | None = Field(None, description="Name of the melody file followed (melody models), if any.")
    window: float = Field(
        30.0, ge=2, le=30, description="Seconds one generation covers (MusicGen was trained on 30 s windows)."
    )
    context: float = Field(
        12.0, ge=0.5, le=50, description="Seconds of the song so far that each continuation starts from."
    )

    @field_validator("prompt")
    @classmethod
    def _prompt_not_blank(cls, prompt: str) -> str:
        if not prompt.strip():
            raise ValueError("say what the music should be (it is empty)")
        return prompt.strip()

    @model_validator(mode="after")
    def _context_inside_window(self) -> Composition:
        if self.context > self.window - 0.5:
            raise ValueError(
                f"context ({self.context:g} s) must be at least 0.5 s shorter than the window ({self.window:g} s)"
            )
        return self


def licence_of(model: str) -> str:
    """The licence line shown where ``model`` is chosen."""
    return LICENCES.get(model, MUSICGEN_LICENCE)


def is_melody_model(model: str) -> bool:
    """Whether ``model`` follows a melody: by name for hub ids, by its config for a local folder."""
    config = Path(model) / "config.json"
    if config.is_file():
        try:
            return json.loads(config.read_text(encoding="utf-8")).get("model_type") == "musicgen_melody"
        except (OSError, ValueError):
            return False
    return model in MELODY_MODELS or "melody" in model.lower()


SECONDS_PER_SECOND = {"tiny": 0.5, "tiny-melody": 0.5, "facebook/musicgen-small": 1.0, "facebook/musicgen-medium": 2.5}
"""Compute seconds per second of music on a Space GPU, by model, for the GPU grant a composition
asks for (a guess until measured: benchmarks/compose.py); others count as medium."""


def estimate_seconds(settings: Composition, *, variations: int = 1) -> float:
    """Seconds a composition should take on the Space's GPU (its grant's size)."""
    rate = SECONDS_PER_SECOND.get(settings.model, SECONDS_PER_SECOND["facebook/musicgen-medium"])
    # A continuation makes window - context new seconds, but runs over the whole window.
    overhead = settings.window / (settings.window - settings.context) if settings.seconds > settings.window else 1.0
    return 10.0 + rate * settings.seconds * variations * overhead


def check_variations(settings: Composition, variations: int) -> None:
    """Refuse a count of variations that cannot be made (their seeds are ``seed``, ``seed + 1``, …)."""
    if not 1 <= variations <= 16:
        raise BeatwalkError(f"variations must be 1 to 16, got {variations}")
    if settings.seed + variations - 1 > SEED_MAX:
        raise BeatwalkError(f"seed {settings.seed} leaves no room for {variations} variations (seeds go up to {SEED_MAX})")


def model_for(model: str, *, melody: bool) -> str:
    """The model that makes a composition: ``tiny`` follows a melody as ``tiny-melody``; a text-only
    model cannot follow one (refused in one line)."""
    if not melody:
        return model
    if model == "tiny":
        return "tiny-melody"
    if not is_melody_model(model):
        raise BeatwalkError(f"{model} cannot follow a melody: choose facebook/musicgen-melody (or tiny)")
    return model


def composition(**settings) -> Composition:
    """A :class:`Composition` from keyword settings, bad values refused in one line."""
    from pydantic import ValidationError

    try:
        return Composition(**settings)
    except ValidationError as exc:
        raise BeatwalkError(first_error(exc)) from None


# -- Progress -------------------------------------------------------------------------------------


@dataclass
class ComposeProgress:
    """Where a composition stands.

    Attributes
    ----------
    seconds_done, seconds_total : float
        Seconds of music made so far, over all variations, and to make in all.
    variation, variations : int
        The variation being made (0-based) and how many were asked for.
    elapsed : float
        Seconds since the composition started (the model's loading included).
    eta : float or None
        Seconds left, from this run's speed; None before the first steps.
    paths : list of str
        The variations' files finished so far (complete, never half-written).
    finished, stopped : bool
        Set on the last progress: all variations written / stopped early (the finished ones kept).
    note : str or None
        Why it stopped, when it was not asked to (a GPU window spent).
    """

    seconds_done: float
    seconds_total: float
    variation: int
    variations: int
    elapsed: float
    eta: float | None = None
    paths: list[str] = field(default_factory=list)
    finished: bool = False
    stopped: bool = False
    note: str | None = None

    @property
    def fraction(self) -> float:
        return min(1.0, self.seconds_done / self.seconds_total) if self.seconds_total else 1.0


class _Stopped(Exception):
    """Raised inside a composition when ``should_stop`` says so."""


# -- The model ------------------------------------------------------------------------------------


class Composer:
    """A loaded MusicGen (text or melody) and its tokenizer, on the best device here.

    Parameters
    ----------
    model : str
        ``tiny``, ``tiny-melody``, a MusicGen hub id or a local folder.
    """

    def __init__(self, model: str, *, loaded: tuple | None = None):
        self.name = model
        self.model, self.tokenizer = _load(model) if loaded is None else loaded
        self.melody = hasattr(self.model.config, "num_chroma")
        audio = self.model.config.audio_encoder
        self.sample_rate = int(audio.sampling_rate)
        self.frame_rate = float(audio.frame_rate)
        self.hop = int(round(self.sample_rate / self.frame_rate))
        self.codebooks = int(self.model.decoder.config.num_codebooks)
        if int(self.model.decoder.config.audio_channels) != 1:
            raise BeatwalkError(f"{model} makes stereo: Beatwalk composes with mono MusicGen models")

    @property
    def device(self):
        return self.model.device

    def generate(
        self, settings: Composition, *, seed: int, seconds: float, melody: np.ndarray | None = None,
        on_seconds: Callable[[float], None] | None = None, should_stop: Callable[[], bool] | None = None,
    ) -> np.ndarray:  # fmt: skip
        """One song of exactly ``round(seconds * sample_rate)`` samples (mono float32).

        ``melody``: the tune to follow (mono, at ``sample_rate``), looped under the whole song;
        ``on_seconds(s)``: told the seconds made so far, every few steps; ``should_stop()``: asked
        every step, True ends the generation (raises ``_Stopped``).
        """
        import torch

        n_samples = int(round(seconds * self.sample_rate))
        n_frames = math.ceil(n_samples / self.hop)
        window = int(round(settings.window * self.frame_rate))
        context = int(round(settings.context * self.frame_rate))
        text = self.tokenizer([settings.prompt], return_tensors="pt", padding=True, truncation=True, max_length=256)
        text = {key: value.to(self.device) for key, value in text.items()}
        song = np.zeros(0, dtype=np.float32)
        made = 0  # frames of the song so far
        # Sampling draws from torch's global generator: one composition at a time in a process, in
        # a forked RNG, so a seed makes the same song whatever else runs.
        with _GENERATING, torch.random.fork_rng(devices=_cuda_devices(self.device)), torch.inference_mode():
            torch.manual_seed(seed)
            while made < n_frames:
                prompt = min(context, made)
                new = min(n_frames - made, window - prompt)
                kwargs = dict(text)
                if prompt:
                    kwargs["decoder_input_ids"] = self._codes(song[-prompt * self.hop :])
                if melody is not None:
                    kwargs["input_features"] = self._chroma(melody, start=(made - prompt) * self.hop, frames=window)

                def steps_done(step, made=made):
                    if on_seconds is not None:
                        frames = min(made + max(0, step - self.codebooks + 1), n_frames)
                        on_seconds(min(frames / self.frame_rate, seconds))

                watch = _StepWatch(steps_done, should_stop)
                try:
                    audio = self.model.generate(
                        **kwargs, do_sample=True, guidance_scale=settings.guidance if settings.guidance > 1 else None,
                        temperature=settings.temperature, top_k=settings.top_k,
                        # The codebooks are predicted one step apart: the last frame needs K - 1 steps more.
                        max_new_tokens=new + self.codebooks - 1, stopping_criteria=[watch],
                    )  # fmt: skip
                except RuntimeError:
                    if watch.stopped:  # cut off inside the delay pattern, the codes do not reshape
                        raise _Stopped from None
                    raise
                if watch.stopped:
                    raise _Stopped
                audio = audio[0, 0].float().cpu().numpy()
                audio = audio[: (prompt + new) * self.hop]
                song = audio if not prompt else join_continuation(song, audio, overlap=prompt * self.hop, sample_rate=self.sample_rate)
                made += new
        return np.clip(song[:n_samples], -1.0, 1.0).astype(np.float32)

    def _codes(self, audio: np.ndarray):
        """The audio prompt as the decoder's input ids ``(codebooks, frames)``, encoded by the model's EnCodec."""
        import torch

        values = torch.from_numpy(np.ascontiguousarray(audio, dtype=np.float32))[None, None].to(self.device)
        values = values.to(self.model.audio_encoder.dtype)
        encoded = self.model.audio_encoder.encode(values, bandwidth=None)
        codes = encoded.audio_codes  # (1, batch, codebooks, frames)
        return codes[0].reshape(-1, codes.shape[-1])

    def _chroma(self, melody: np.ndarray, *, start: int, frames: int):
        """The melody's one-hot chroma for the window starting at sample ``start`` of the song (the
        melody looped), as MusicGen melody's feature extractor makes it."""

        length = frames * self.hop
        index = (start + np.arange(length)) % len(melody)
        chroma = melody_chroma(melody[index], sample_rate=self.sample_rate, num_chroma=self.model.config.num_chroma)
        return chroma.to(self.device, self.model.dtype)


class _StepWatch:
    """A stopping criterion that reports each generation step and ends the generation on Stop."""

    def __init__(self, on_step: Callable[[int], None], should_stop: Callable[[], bool] | None):
        self.on_step, self.should_stop, self.step, self.last_report = on_step, should_stop, 0, 0.0
        self.stopped = False

    def __call__(self, input_ids, scores, **kwargs):
        import torch

        self.step += 1
        now = time.monotonic()
        if now - self.last_report > 0.2:
            self.last_report = now
            self.on_step(self.step)
        stop = self.should_stop is not None and self.should_stop()
        self.stopped = self.stopped or stop
        return torch.full((input_ids.shape[0],), stop, dtype=torch.bool, device=input_ids.device)


def melody_chroma(samples: np.ndarray, *, sample_rate: int, num_chroma: int = 12, n_fft: int = 16384, hop: int = 4096):
    """One-hot chroma ``(1, frames, num_chroma)`` of a tune, as ``MusicgenMelodyFeatureExtractor``
    computes it (a power spectrogram through librosa's chroma filters, the strongest pitch class
    per frame), with ``torch.stft`` in place of torchaudio's spectrogram: its normalisation scales
    every frame by one constant, which the per-frame argmax does not see."""
    import torch
    from transformers.audio_utils import chroma_filter_bank

    wave = torch.from_numpy(np.ascontiguousarray(samples, dtype=np.float32))
    if len(wave) < n_fft:
        wave = torch.nn.functional.pad(wave, ((n_fft - len(wave)) // 2, (n_fft - len(wave) + 1) // 2))
    spectrum = torch.stft(
        wave, n_fft, hop_length=hop, win_length=n_fft, window=torch.hann_window(n_fft), center=True,
        pad_mode="reflect", return_complex=True,
    ).abs().pow(2)  # fmt: skip
    filters = torch.from_numpy(
        chroma_filter_bank(sampling_rate=sample_rate, num_frequency_bins=n_fft, tuning=0, num_chroma=num_chroma)
    ).float()
    chroma = filters @ spectrum  # (num_chroma, frames)
    one_hot = torch.zeros(chroma.shape[1], num_chroma)
    one_hot[torch.arange(chroma.shape[1]), chroma.argmax(0)] = 1
    return one_hot[None]


def join_continuation(song: np.ndarray, continuation: np.ndarray, *, overlap: int, sample_rate: int) -> np.ndarray:
    """The song so far followed by a continuation that starts with its own rendering of the song's
    last ``overlap`` samples, joined by an equal-gain raised-cosine crossfade inside the overlap.

    The crossfade (:data:`CROSSFADE_SECONDS`, at most half the overlap) ends
    :data:`EDGE_SECONDS` before the song's end; from there on the continuation plays alone.
    """
    if overlap > len(song) or overlap > len(continuation):
        raise ValueError("the overlap is longer than the audio it joins")
    edge = min(int(EDGE_SECONDS * sample_rate), overlap // 4)
    fade = max(1, min(int(CROSSFADE_SECONDS * sample_rate), overlap // 2))
    end = len(song) - edge  # the crossfade ends here, in song samples
    begin = end - fade
    offset = len(song) - overlap  # song sample of the continuation's first sample
    ramp = 0.5 - 0.5 * np.cos(np.pi * (np.arange(fade) + 0.5) / fade)
    mixed = song[begin:end] * (1.0 - ramp) + continuation[begin - offset : end - offset] * ramp
    return np.concatenate([song[:begin], mixed.astype(np.float32), continuation[end - offset :]])


def _cuda_devices(device) -> list:
    return [device] if device.type == "cuda" else []


_GENERATING = threading.Lock()
_LOADING = threading.Lock()


def _load(model: str):
    """The model (eval, on CUDA in half precision when there is a GPU) and its tokenizer, loaded
    once and kept (the last one asked for; two first calls at once load it once)."""
    with _LOADING:
        return _load_kept(model)


@functools.lru_cache(maxsize=1)
def _load_kept(model: str):
    import torch

    if model in ("tiny", "tiny-melody"):
        return _tiny(melody=model == "tiny-melody")
    try:
        from transformers import AutoTokenizer, MusicgenForConditionalGeneration, MusicgenMelodyForConditionalGeneration

        cls = MusicgenMelodyForConditionalGeneration if is_melody_model(model) else MusicgenForConditionalGeneration
        cuda = torch.cuda.is_available()
        weights = cls.from_pretrained(model, dtype=torch.float16 if cuda else torch.float32)
        tokenizer = AutoTokenizer.from_pretrained(model)
    except (OSError, ValueError, ImportError) as exc:
        raise BeatwalkError(f"the music model {model} cannot be loaded here ({type(exc).__name__})") from None
    return weights.to("cuda" if cuda else "cpu").eval(), tokenizer


TINY_WORDS = (
    "a slow lo-fi hip hop beat with warm piano and vinyl crackle; an energetic drum and bass track with a "
    "deep sub bass; an ambient pad with soft bells; a funky disco groove with slap bass and strings; "
    "a heavy metal riff with distorted guitars and double kick drums; a reggae one drop with organ skank"
)


ARCHITECTURES = {
    # facebook/musicgen-small and -medium: their decoders, T5-base, and the 32 kHz EnCodec, from their configs.
    "musicgen-small": {"hidden_size": 1024, "num_hidden_layers": 24, "num_attention_heads": 16, "ffn_dim": 4096},
    "musicgen-medium": {"hidden_size": 1536, "num_hidden_layers": 48, "num_attention_heads": 24, "ffn_dim": 6144},
}


def real_size_composer(architecture: str = "musicgen-small", *, device: str = "cpu", dtype: str = "float32") -> Composer:
    """A :class:`Composer` of a real MusicGen's architecture with random weights (for speed, where
    the weights cannot be had), the tiny tokenizer standing in for T5's."""
    import torch
    from transformers import MusicgenConfig, MusicgenDecoderConfig, MusicgenForConditionalGeneration, T5Config

    if architecture not in ARCHITECTURES:
        raise BeatwalkError(f"architecture must be one of {', '.join(ARCHITECTURES)}, got {architecture!r}")
    _, tokenizer = _tiny(melody=False)
    text = T5Config(vocab_size=32128, d_model=768, d_kv=64, d_ff=3072, num_layers=12, num_heads=12)
    audio = _encodec_32khz(num_filters=64, hidden_size=128, codebook_dim=128, num_lstm_layers=2)
    decoder = MusicgenDecoderConfig(
        vocab_size=2048, num_codebooks=4, max_position_embeddings=2048, pad_token_id=2048, bos_token_id=2048,
        **ARCHITECTURES[architecture],
    )  # fmt: skip
    config = MusicgenConfig(text_encoder=text.to_dict(), audio_encoder=audio.to_dict(), decoder=decoder.to_dict())
    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = _ready(MusicgenForConditionalGeneration(config))
    model = model.to(device=device, dtype=getattr(torch, dtype)).eval()
    return Composer(f"{architecture} (random weights)", loaded=(model, tokenizer))


def _encodec_32khz(**widths):
    """MusicGen's 32 kHz EnCodec (4 codebooks of 2048 codes at 50 Hz) at the given widths."""
    from transformers import EncodecConfig

    return EncodecConfig(
        sampling_rate=32000, audio_channels=1, codebook_size=2048, upsampling_ratios=[8, 5, 4, 4],
        target_bandwidths=[2.2], num_residual_layers=1, norm_type="weight_norm", use_causal_conv=False, compress=2,
        chunk_length_s=None, overlap=None, **widths,
    )  # fmt: skip


def _tiny(*, melody: bool):
    """A random-weight MusicGen of the real one's shape at toy width (two decoder layers 32 wide, four
    codebooks of 2048 codes at 50 Hz, a 32 kHz EnCodec four filters wide) and a byte-level BPE
    tokenizer trained on a few prompts; built in about a second, the same every time."""
    import torch
    from transformers import MusicgenDecoderConfig, T5Config

    from pipelines.tiny_text import byte_pair_tokenizer

    tokenizer = byte_pair_tokenizer(
        TINY_WORDS.split("; "), vocab_size=300, pad_token="<pad>", eos_token="</s>", unk_token="<unk>"
    )
    text = T5Config(
        vocab_size=len(tokenizer), d_model=32, d_kv=8, d_ff=37, num_layers=2, num_heads=4,
        pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id, decoder_start_token_id=0,
    )  # fmt: skip
    audio = _encodec_32khz(num_filters=4, hidden_size=16, codebook_dim=16, num_lstm_layers=1)
    decoder = MusicgenDecoderConfig(
        vocab_size=2048, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, ffn_dim=37, num_codebooks=4,
        max_position_embeddings=4096, pad_token_id=2048, bos_token_id=2048,
    )  # fmt: skip
    with torch.random.fork_rng():  # the same weights every time, the process's RNG untouched
        torch.manual_seed(0)
        model = _tiny_model(text, audio, decoder, melody=melody)
    return _ready(model).eval(), tokenizer


def _tiny_model(text, audio, decoder, *, melody: bool):
    if melody:
        from transformers import MusicgenMelodyConfig, MusicgenMelodyForConditionalGeneration

        config = MusicgenMelodyConfig(
            text_encoder=text.to_dict(), audio_encoder=audio.to_dict(), decoder=decoder.to_dict(), num_chroma=12,
            chroma_length=235,
        )  # fmt: skip
        return MusicgenMelodyForConditionalGeneration(config)
    else:
        from transformers import MusicgenConfig, MusicgenForConditionalGeneration

        config = MusicgenConfig(text_encoder=text.to_dict(), audio_encoder=audio.to_dict(), decoder=decoder.to_dict())
        return MusicgenForConditionalGeneration(config)


def _ready(model):
    """A MusicGen built from config, ready to generate: EnCodec's codebooks are buffers that a
    checkpoint fills (zeros until then, which would decode every code to the same sound), so they
    get random vectors, as a trained codebook is a spread of them; the decoder starts from code 2048."""
    for layer in model.audio_encoder.quantizer.layers:
        layer.codebook.embed.normal_()
        layer.codebook.embed_avg.copy_(layer.codebook.embed)
    model.generation_config.decoder_start_token_id = 2048
    model.generation_config.pad_token_id = 2048
    return model


# -- Songs on disk --------------------------------------------------------------------------------


def output_paths(out_path: str | Path, variations: int) -> list[Path]:
    """Where the variations go: ``out_path`` for one; ``song-1.wav``, ``song-2.wav``, … for several."""
    out_path = Path(out_path)
    if variations == 1:
        return [out_path]
    return [out_path.with_name(f"{out_path.stem}-{i + 1}{out_path.suffix}") for i in range(variations)]


def check_output(out_path: str | Path) -> None:
    """Refuse an output the song cannot be written to, before any work is done."""
    out_path = Path(out_path)
    if out_path.suffix.lower() not in FORMATS:
        raise BeatwalkError(f"the song is written as .wav or .flac, not {out_path.name!r}")
    if not out_path.parent.is_dir():
        raise BeatwalkError(f"no folder {out_path.parent} to write the song in")
    if out_path.is_dir():
        raise BeatwalkError(f"{out_path} is a folder: name the song's file")


def write_song(path: str | Path, samples: np.ndarray, sample_rate: int, settings: Composition) -> Path:
    """Write the song with its composition in the file's comment tag, atomically: the file appears
    complete or not at all."""
    import soundfile

    path = Path(path)
    kind, subtype = FORMATS[path.suffix.lower()]
    partial = path.with_name(f".{path.name}.partial")
    try:
        with soundfile.SoundFile(partial, "w", sample_rate, 1, subtype=subtype, format=kind) as out:
            out.comment = json.dumps({TAG_KEY: settings.model_dump(mode="json")}, sort_keys=True)
            out.software = "Beatwalk"
            out.title = settings.prompt[:200]
            out.write(samples)
        os.replace(partial, path)
    except (OSError, RuntimeError) as exc:  # soundfile reports write failures as RuntimeError
        partial.unlink(missing_ok=True)
        raise BeatwalkError(f"cannot write the song {path.name}: {exc}") from None
    except BaseException:  # Ctrl-C while writing: no partial file stays behind
        partial.unlink(missing_ok=True)
        raise
    return path


def read_composition(path: str | Path) -> Composition | None:
    """The composition written into a song's tags by :func:`write_song`; None for any other file
    (another song, a tag that is not Beatwalk's or is damaged, a file soundfile cannot open)."""
    try:
        import soundfile

        with soundfile.SoundFile(str(path)) as song:
            tag = song.comment
        return Composition(**json.loads(tag)[TAG_KEY])
    except Exception:  # noqa: BLE001  (any file: only Beatwalk's own tag is read, and it is optional)
        return None


def recorded_composition(path: str | Path) -> Composition:
    """The composition a composed song's tags, or a project's ``audio.composition``, records."""
    path = Path(path)
    if not path.is_file():
        raise BeatwalkError(f"file not found: {path}")
    found = read_composition(path)
    if found is None and path.suffix.lower() == ".json":
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            found = composition(**data["audio"]["composition"])
        except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError):
            found = None
    if found is None:
        raise BeatwalkError(f"{path.name} records no composition (it is not a song Beatwalk composed, nor its project)")
    return found


def read_melody(path: str | Path, sample_rate: int, *, max_seconds: float | None = 600.0) -> np.ndarray:
    """The melody file decoded by content to mono at ``sample_rate``; anything else refused in one line."""
    from pipelines.music.decode import load_audio

    audio = load_audio(path, sr=sample_rate, max_duration=max_seconds)
    return audio.samples


# -- Composing ------------------------------------------------------------------------------------


def compose_song(
    settings: Composition,
    out_path: str | Path,
    *,
    variations: int = 1,
    melody: str | Path | None = None,
    on_progress: Callable[[ComposeProgress], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> ComposeProgress:
    """Compose ``variations`` songs of ``settings`` (variation ``i`` with seed ``settings.seed + i``,
    each reproducible alone) and write them to :func:`output_paths` of ``out_path``.

    ``melody``: a tune to follow (a melody model; ``tiny`` becomes ``tiny-melody``); its file's name is
    recorded. ``on_progress`` is told where it stands every few steps; ``should_stop()`` is asked
    every step: True ends the composition, the finished variations kept and the one being made
    dropped (no half-written file is left). Returns the last progress (``finished`` or ``stopped``).
    """
    started = time.monotonic()
    check_variations(settings, variations)
    check_output(out_path)
    model = model_for(settings.model, melody=melody is not None)
    if melody is not None:
        settings = settings.model_copy(update={"model": model, "melody": Path(melody).name})
    composer = Composer(model)
    tune = None if melody is None else read_melody(melody, composer.sample_rate)
    total = settings.seconds * variations
    paths: list[str] = []
    state = ComposeProgress(0.0, total, 0, variations, time.monotonic() - started, paths=paths)
    generating = time.monotonic()

    def report(seconds_done: float) -> None:
        state.seconds_done = seconds_done
        state.elapsed = time.monotonic() - started
        spent = time.monotonic() - generating
        state.eta = (total - seconds_done) * spent / seconds_done if seconds_done > 0 else None
        if on_progress is not None:
            on_progress(state)

    report(0.0)
    for index, path in enumerate(output_paths(out_path, variations)):
        state.variation = index
        made = settings.seconds * index
        take = settings.model_copy(update={"seed": settings.seed + index})
        try:
            samples = composer.generate(
                take, seed=take.seed, seconds=settings.seconds, melody=tune,
                on_seconds=lambda seconds: report(made + seconds), should_stop=should_stop,
            )  # fmt: skip
        except _Stopped:
            state.stopped = True
            report(made)
            return state
        write_song(path, samples, composer.sample_rate, take)
        paths.append(str(path))
        report(made + settings.seconds)
    state.finished = True
    report(total)
    return state


def iter_compose(settings: Composition, out_path: str | Path, **kwargs) -> Iterator[ComposeProgress]:
    """:func:`compose_song` as a generator of its progress (for the Space's streaming events): the
    composition runs in a thread, and closing the generator stops it."""
    reports: queue.Queue = queue.Queue()
    closed = threading.Event()
    asked = kwargs.pop("should_stop", None)

    def should_stop() -> bool:
        return closed.is_set() or (asked is not None and asked())

    def work() -> None:
        try:
            last = compose_song(
                settings, out_path, on_progress=lambda p: reports.put(("progress", _copy(p))), should_stop=should_stop,
                **kwargs,
            )  # fmt: skip
            reports.put(("done", last))
        except BaseException as exc:  # noqa: BLE001  (handed to the consumer, raised there)
            reports.put(("error", exc))

    thread = threading.Thread(target=work, name="beatwalk-compose", daemon=True)
    thread.start()
    try:
        while True:
            kind, value = reports.get()
            if kind == "error":
                raise value
            yield value
            if kind == "done":
                return
    finally:
        closed.set()
        thread.join()


def _copy(progress: ComposeProgress) -> ComposeProgress:
    return ComposeProgress(**{**progress.__dict__, "paths": list(progress.paths)})
