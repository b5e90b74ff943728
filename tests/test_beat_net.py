"""The beat network: its shipped weights, its outputs and the script that trains it."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import mir_eval
import numpy as np
import pytest
import soundfile
import torch

from benchmarks.beat_eval_set import Clip
from benchmarks.synth_drums import synth_drum_clip
from pipelines import beat_net, beats
from tests.songs import drum_song

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
import train_beat_net

SR = 22050


def test_shipped_weights_load_and_say_how_they_were_trained():
    model, _ = beat_net._trained_model()
    n_params = sum(p.numel() for p in model.parameters())
    record = json.loads(beat_net.WEIGHTS.with_suffix(".json").read_text())
    assert record["parameters"] == n_params
    assert record["train_clips"] >= 1000
    assert beat_net.WEIGHTS.stat().st_size < 1_000_000


def test_weights_load_at_their_own_width(tmp_path):
    from safetensors.torch import save_file

    torch.manual_seed(0)
    narrow = beat_net.build_model(channels=8).eval()
    save_file({k: v.contiguous() for k, v in narrow.state_dict().items()}, str(tmp_path / "narrow.safetensors"))
    loaded = beat_net.load_model(tmp_path / "narrow.safetensors").eval()
    assert loaded.head.in_channels == 8
    mel = torch.randn(1, 200, beat_net.N_MELS)
    with torch.inference_mode():
        torch.testing.assert_close(loaded(mel), narrow(mel))


def test_activations_peak_on_the_beats_of_a_song_it_never_heard():
    samples, true_beats, true_downbeats = drum_song(duration=12.0, bpm=128.0)
    log_mel = beats._features(samples)["log_mel"]
    beat, down = beat_net.activations(log_mel)
    assert beat.shape == down.shape == (log_mel.shape[1],)
    assert 0.0 <= beat.min() and beat.max() <= 1.0
    peaks = np.flatnonzero((beat > 0.3) & (beat >= np.roll(beat, 1)) & (beat >= np.roll(beat, -1))) / beats.FPS
    assert mir_eval.beat.f_measure(true_beats, peaks) >= 0.9
    # Downbeats stand out of the beats.
    at = np.round(true_beats * beats.FPS).astype(int)
    is_down = np.isin(true_beats, true_downbeats)
    assert down[at][is_down].mean() > 2 * down[at][~is_down].mean()


def test_activations_are_deterministic():
    samples, _, _ = drum_song(duration=5.0, bpm=100.0)
    log_mel = beats._features(samples)["log_mel"]
    first, second = beat_net.activations(log_mel), beat_net.activations(log_mel)
    np.testing.assert_array_equal(first[0], second[0])


def test_training_features_mark_beats_and_their_neighbours(tmp_path):
    samples, true_beats, true_downbeats = drum_song(duration=6.0, bpm=120.0)
    path = tmp_path / "clip.flac"
    soundfile.write(path, samples, SR)
    clip = Clip(
        name="clip", category="test", meter="4/4", beats_per_bar=4, bpm=120.0, tempo="steady", drums=True,
        swing=0.5, intro=0.0, beats=list(true_beats), downbeats=list(true_downbeats),
    )
    mel, beat_frames, down_frames = train_beat_net.clip_features((clip, path))
    assert mel.dtype == np.float16 and mel.shape[1] == beat_net.N_MELS
    target = train_beat_net.targets(len(mel), beat_frames, down_frames)
    frames = np.round(true_beats * beats.FPS).astype(int)
    assert (target[frames, 0] == 1.0).all() and (target[frames + 1, 0] == 0.5).all()
    assert np.count_nonzero(target[:, 0] == 1.0) == len(true_beats)
    assert np.count_nonzero(target[:, 1] == 1.0) == len(true_downbeats)


@pytest.mark.parametrize("stretch", [0.85, 1.0, 1.18])
def test_stretched_crops_keep_beats_on_their_frames(stretch):
    rng = np.random.default_rng(0)
    samples, true_beats, true_downbeats = drum_song(duration=20.0, bpm=100.0)
    mel = train_beat_net.mel_of(samples)
    item = (mel, true_beats * beats.FPS, true_downbeats * beats.FPS)
    out, target = train_beat_net.crop(item, rng, 600, stretch)
    assert out.shape == (600, beat_net.N_MELS) and target.shape == (600, 2)
    # Beats are now `stretch` times closer together, in frames.
    spacing = np.diff(np.flatnonzero(target[:, 0] == 1.0))
    assert np.median(spacing) == pytest.approx(60.0 / 100.0 * beats.FPS / stretch, abs=1.0)
    # And the kick's onsets (the low bands jump) still land on them.
    low = out[:, :8].sum(axis=1)
    rise = np.flatnonzero(np.diff(low) > 0.5 * np.diff(low).max()) + 1
    assert np.min(np.abs(np.subtract.outer(rise, np.flatnonzero(target[:, 1] == 1.0))), axis=0).max() <= 2


def test_synthetic_drum_songs_train_with_their_beats_in_frames():
    mel, beat_frames, down_frames = train_beat_net.synthetic_features(5)
    _, true_beats, true_downbeats = synth_drum_clip(5)
    assert mel.dtype == np.float16 and mel.shape == (pytest.approx(30 * beats.FPS, abs=2), beat_net.N_MELS)
    np.testing.assert_allclose(beat_frames, true_beats * beats.FPS)
    np.testing.assert_allclose(down_frames, true_downbeats * beats.FPS)
    assert set(np.round(down_frames, 6)) <= set(np.round(beat_frames, 6))


@pytest.mark.parametrize("seed", range(4))
def test_negatives_have_sound_and_no_beats(seed):
    mel, beat_frames, down_frames = train_beat_net.negative_features(seed)
    assert len(beat_frames) == len(down_frames) == 0
    assert mel.shape[1] == beat_net.N_MELS and np.isfinite(mel.astype(np.float32)).all()
    assert mel.astype(np.float32).max() > 0


def test_training_steps_lower_the_loss_on_a_batch():
    rng = np.random.default_rng(0)
    samples, true_beats, true_downbeats = drum_song(duration=8.0, bpm=110.0)
    item = (train_beat_net.mel_of(samples), true_beats * beats.FPS, true_downbeats * beats.FPS)
    batch = next(train_beat_net.batches([item], rng, batch_size=2, frames=400))
    assert batch[0].shape == (2, 400, beat_net.N_MELS) and batch[1].shape == (2, 400, 2)
    torch.manual_seed(0)
    model = beat_net.build_model(dropout=0.0)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    x, y = torch.from_numpy(batch[0]), torch.from_numpy(batch[1])
    losses = []
    for _ in range(20):
        loss = torch.nn.functional.binary_cross_entropy_with_logits(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


@pytest.mark.parametrize("seed", [0, 1])
def test_augment_keeps_shape_and_stays_finite(seed):
    mel = np.random.default_rng(seed).random((50, beat_net.N_MELS)).astype(np.float16)
    out = train_beat_net.augment(mel, np.random.default_rng(seed))
    assert out.shape == mel.shape and np.isfinite(out).all() and (out >= 0).all()
