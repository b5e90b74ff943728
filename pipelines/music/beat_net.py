"""Beatwalk's beat and downbeat network: a small temporal convolutional network (TCN).

The architecture follows Böck & Davies, "Deconstruct, analyse, reconstruct: how to improve tempo,
beat, and downbeat estimation" (ISMIR 2020), scaled down for a 2-core CPU: two convolutions over
a log mel spectrogram (its bands as channels), then ten residual blocks of dilated 1-D
convolutions over time that together see about 24 s of music on either side, and two outputs
per frame: the probability of a beat and of a downbeat. The Viterbi
decoders in :mod:`pipelines.music.beat_dbn` turn them into beats and bars.

The weights (``pipelines/music/weights/beat_tcn.safetensors``, about 150 k parameters) are Beatwalk's
own: trained by ``scripts/train_beat_net.py`` on music that ``synth/beat_set.py``
composes and renders (its ``train`` and ``train-varied`` splits), on MMA's auto-accompaniment
styles (``synth/mma_set.py``'s ``mma-train``), on drum-machine songs from
``synth/drum_machine.py`` and on four real rock recordings (Debian's
``fretsonfire-songs-sectoid``), so they ship with the code under its licence and nothing is
downloaded.

A second set of weights (``pipelines/music/weights/beat_tempo.safetensors``) is the same network
fine-tuned with a third output, a tempo head (Böck, Davies & Knees, "Multi-task learning of tempo
and beat", ISMIR 2019): a distribution over ``TEMPO_BPM`` for the whole song, read from the
network's features averaged over time. The beat tracker uses it as its tempo prior, which settles
the metrical level where the beat probabilities read both ways.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np

WEIGHTS = Path(__file__).parent / "weights" / "beat_tcn.safetensors"
TEMPO_WEIGHTS = Path(__file__).parent / "weights" / "beat_tempo.safetensors"
N_MELS = 96
TEMPO_BPM = np.geomspace(30.0, 300.0, 121)
"""The tempo head's classes, BPM (about 2 % apart)."""
TEMPO_HIDDEN = 64


def build_model(
    *, channels: int = 48, dilations: tuple[int, ...] = tuple(2**k for k in range(10)), dropout: float = 0.1,
    tempo: bool = False,
):  # fmt: skip
    """The network, untrained.

    Parameters
    ----------
    channels : int
        Width of the temporal layers.
    dilations : tuple of int
        One residual block per dilation (in frames).
    dropout : float
        Dropout rate in training.
    tempo : bool
        Add the tempo head (``model.tempo_logits``).

    Returns
    -------
    torch.nn.Module
        Maps a batch of log mel spectrograms ``[shape=(b, t, 96)]`` to logits ``[shape=(b, t, 2)]``
        (beat, downbeat); with ``tempo``, ``model.tempo_logits(log_mel)`` gives ``[shape=(b, 121)]``
        over ``TEMPO_BPM``.
    """
    import torch
    from torch import nn

    class Block(nn.Module):
        def __init__(self, dilation: int):
            super().__init__()
            self.conv = nn.Conv1d(channels, channels, 5, dilation=dilation, padding=2 * dilation)
            self.mix = nn.Conv1d(channels, channels, 1)
            self.drop = nn.Dropout(dropout)

        def forward(self, x):
            return x + self.mix(self.drop(nn.functional.elu(self.conv(x))))

    class BeatTCN(nn.Module):
        def __init__(self):
            super().__init__()
            # The mel bands are the input channels: two small convolutions over time.
            self.frontend = nn.Sequential(
                nn.Conv1d(N_MELS, 32, 3, padding=1), nn.ELU(), nn.Dropout(dropout),
                nn.Conv1d(32, channels, 3, padding=1), nn.ELU(), nn.Dropout(dropout),
            )
            self.blocks = nn.Sequential(*[Block(d) for d in dilations])
            self.head = nn.Conv1d(channels, 2, 1)
            if tempo:
                self.tempo = nn.Sequential(
                    nn.Linear(channels, TEMPO_HIDDEN), nn.ELU(), nn.Linear(TEMPO_HIDDEN, len(TEMPO_BPM))
                )

        def features(self, log_mel: torch.Tensor) -> torch.Tensor:
            return nn.functional.elu(self.blocks(self.frontend(log_mel.transpose(1, 2))))

        def forward(self, log_mel: torch.Tensor) -> torch.Tensor:
            return self.head(self.features(log_mel)).transpose(1, 2)

        def tempo_logits(self, log_mel: torch.Tensor, features: torch.Tensor | None = None) -> torch.Tensor:
            """Tempo class logits of each song in the batch (``features``: already computed)."""
            features = self.features(log_mel) if features is None else features
            return self.tempo(features.mean(dim=2))

    return BeatTCN()


def load_model(path: str | Path, *, add_tempo: bool = False):
    """The network built at the width of the weights in ``path`` (safetensors), with them loaded;
    with their tempo head if they have one, else with a new, untrained one if ``add_tempo``."""
    from safetensors.torch import load_file

    state = load_file(str(path))
    has_tempo = "tempo.0.weight" in state
    # The width is the weights' own (the head maps ``channels`` to 2 outputs).
    model = build_model(channels=int(state["head.weight"].shape[1]), tempo=has_tempo or add_tempo)
    # Only a new tempo head's parameters may be missing from the weights.
    model.load_state_dict(state, strict=has_tempo or not add_tempo)
    return model


@functools.lru_cache(maxsize=2)
def _trained_model(path: Path):
    import torch

    model = load_model(path)
    model.eval()
    return model, torch


def activations(log_mel: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Beat and downbeat probabilities of every frame.

    Parameters
    ----------
    log_mel : np.ndarray [shape=(96, t)]
        Log mel spectrogram, ``log1p(beats.LOG_MEL_SCALE * beats.normalised_mel(stft_magnitude))``.

    Returns
    -------
    beat, downbeat : np.ndarray [shape=(t,)]
        Probabilities in 0..1.
    """
    model, torch = _trained_model(WEIGHTS)
    with torch.inference_mode():
        logits = model(torch.from_numpy(np.ascontiguousarray(log_mel.T, dtype=np.float32))[None])[0]
    probs = torch.sigmoid(logits).numpy().astype(np.float64)
    return probs[:, 0], probs[:, 1]


def tempo_probabilities(log_mel: np.ndarray) -> np.ndarray:
    """The tempo head's distribution over ``TEMPO_BPM`` for the whole of ``log_mel``.

    Parameters
    ----------
    log_mel : np.ndarray [shape=(96, t)]
        As for :func:`activations`.

    Returns
    -------
    np.ndarray [shape=(121,)]
        Probabilities summing to 1.
    """
    model, torch = _trained_model(TEMPO_WEIGHTS)
    with torch.inference_mode():
        logits = model.tempo_logits(torch.from_numpy(np.ascontiguousarray(log_mel.T, dtype=np.float32))[None])[0]
    return torch.softmax(logits.double(), dim=0).numpy()
