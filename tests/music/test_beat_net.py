"""The beat network: its shipped weights, its outputs and the script that trains it."""

from __future__ import annotations

import json

import mir_eval
import numpy as np
import pytest
import soundfile
import torch

from pipelines.music import beat_net, beats
from scripts import train_beat_net
from synth.beat_set import Clip
from synth.drum_machine import synth_drum_clip
from synth.songs import drum_song

SR = 22050


def test_shipped_weights_load_and_say_how_they_were_trained():
    model, _ = beat_net._trained_model(beat_net.WEIGHTS)
    n_params = sum(p.numel() for p in model.parameters())
    record = json.loads(beat_net.WEIGHTS.with_suffix(".json").read_text())
    assert record["parameters"] == n_params
    assert record["train_clips"] >= 1000
    assert beat_net.WEIGHTS.stat().st_size < 1_000_000


def test_shipped_tempo_weights_have_a_tempo_head_and_say_how_they_were_trained():
    model, _ = beat_net._trained_model(beat_net.TEMPO_WEIGHTS)
    assert hasattr(model, "tempo")
    record = json.loads(beat_net.TEMPO_WEIGHTS.with_suffix(".json").read_text())
    assert record["parameters"] == sum(p.numel() for p in model.parameters())
    assert float(record["settings"]["tempo_weight"]) > 0
    # Fine-tuned (in one or more rounds) from the beat weights, which have no tempo head.
    chain = [record]
    while "init_record" in chain[-1]:
        chain.append(chain[-1]["init_record"])
    assert any(r["parameters"] < record["parameters"] for r in chain[1:])
    assert beat_net.TEMPO_WEIGHTS.stat().st_size < 1_000_000


@pytest.mark.parametrize("bpm", [90.0, 128.0, 170.0])
def test_the_tempo_head_hears_a_song_it_never_heard(bpm):
    samples, _, _ = drum_song(duration=12.0, bpm=bpm)
    probabilities = beat_net.tempo_probabilities(beats._features(samples)["log_mel"])
    assert probabilities.shape == beat_net.TEMPO_BPM.shape and probabilities.sum() == pytest.approx(1.0)
    assert beat_net.TEMPO_BPM[probabilities.argmax()] == pytest.approx(bpm, rel=0.04)


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
    out, target, tempo = train_beat_net.crop(item, rng, 600, stretch)
    assert out.shape == (600, beat_net.N_MELS) and target.shape == (600, 2)
    # Beats are now `stretch` times closer together, in frames.
    spacing = np.diff(np.flatnonzero(target[:, 0] == 1.0))
    assert np.median(spacing) == pytest.approx(60.0 / 100.0 * beats.FPS / stretch, abs=1.0)
    # The tempo head is taught the tempo the crop sounds at.
    assert tempo.sum() == pytest.approx(1.0)
    assert beat_net.TEMPO_BPM[tempo.argmax()] == pytest.approx(100.0 * stretch, rel=0.02)
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
    assert batch[2].shape == (2, len(beat_net.TEMPO_BPM))
    torch.manual_seed(0)
    model = beat_net.build_model(dropout=0.0, tempo=True)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    x, y, tempo = (torch.from_numpy(part) for part in batch)
    losses, tempo_losses = [], []
    for _ in range(20):
        loss = torch.nn.functional.binary_cross_entropy_with_logits(model(x), y)
        tempo_loss = train_beat_net.tempo_loss(model.tempo_logits(x), tempo)
        optimizer.zero_grad()
        (loss + tempo_loss).backward()
        optimizer.step()
        losses.append(loss.item())
        tempo_losses.append(tempo_loss.item())
    assert losses[-1] < 0.5 * losses[0]
    assert tempo_losses[-1] < 0.5 * tempo_losses[0]
    assert beat_net.TEMPO_BPM[int(model.tempo_logits(x)[0].argmax())] == pytest.approx(110.0, rel=0.25)


def test_the_tempo_head_starts_on_weights_without_one(tmp_path):
    """``--init`` beat weights and ``--tempo-weight``: the network is kept, a tempo head added."""
    from safetensors.torch import save_file

    torch.manual_seed(0)
    plain = beat_net.build_model(channels=8).eval()
    save_file({k: v.contiguous() for k, v in plain.state_dict().items()}, str(tmp_path / "plain.safetensors"))
    with_head = beat_net.build_model(channels=8, tempo=True).eval()
    missing, unexpected = with_head.load_state_dict(plain.state_dict(), strict=False)
    assert not unexpected and missing and all(key.startswith("tempo.") for key in missing)
    mel = torch.randn(1, 300, beat_net.N_MELS)
    with torch.inference_mode():
        torch.testing.assert_close(with_head(mel), plain(mel))
        assert with_head.tempo_logits(mel).shape == (1, len(beat_net.TEMPO_BPM))
    save_file({k: v.contiguous() for k, v in with_head.state_dict().items()}, str(tmp_path / "tempo.safetensors"))
    assert hasattr(beat_net.load_model(tmp_path / "tempo.safetensors"), "tempo")
    # What train_beat_net --init --tempo-weight does: the same network, plus a new head.
    assert not hasattr(beat_net.load_model(tmp_path / "plain.safetensors"), "tempo")
    added = beat_net.load_model(tmp_path / "plain.safetensors", add_tempo=True).eval()
    with torch.inference_mode():
        torch.testing.assert_close(added(mel), plain(mel))
        assert added.tempo_logits(mel).shape == (1, len(beat_net.TEMPO_BPM))


def test_no_tempo_target_under_four_beats():
    assert not train_beat_net.tempo_target(np.array([10.0, 50.0, 90.0]), 600).any()
    assert not train_beat_net.tempo_target(np.array([-80.0, -40.0, 700.0, 740.0]), 600).any()
    logits = torch.zeros(2, len(beat_net.TEMPO_BPM), requires_grad=True)
    assert train_beat_net.tempo_loss(logits, torch.zeros_like(logits)).item() == 0.0


@pytest.mark.parametrize("seed", [0, 1])
def test_augment_keeps_shape_and_stays_finite(seed):
    mel = np.random.default_rng(seed).random((50, beat_net.N_MELS)).astype(np.float16)
    out = train_beat_net.augment(mel, np.random.default_rng(seed))
    assert out.shape == mel.shape and np.isfinite(out).all() and (out >= 0).all()


def test_averaged_weights_are_the_mean_of_the_fine_tunes_and_keep_their_records(tmp_path):
    import torch
    from safetensors.torch import save_file

    paths = []
    for seed in (0, 1):
        torch.manual_seed(seed)
        state = beat_net.build_model(channels=8).state_dict()
        paths.append(tmp_path / f"tune{seed}.safetensors")
        save_file({k: v.contiguous() for k, v in state.items()}, str(paths[-1]))
        paths[-1].with_suffix(".json").write_text(json.dumps({"train_clips": 10 + seed, "seed": seed}))
    out = tmp_path / "soup.safetensors"
    train_beat_net.main(["--average", *map(str, paths), "--out", str(out)])
    soup = beat_net.load_model(out).state_dict()
    first, second = (beat_net.load_model(p).state_dict() for p in paths)
    for key in soup:
        torch.testing.assert_close(soup[key], (first[key] + second[key]) / 2)
    record = json.loads(out.with_suffix(".json").read_text())
    assert [m["seed"] for m in record["members"]] == [0, 1] and record["train_clips"] == 11
    assert record["parameters"] == sum(p.numel() for p in beat_net.load_model(out).parameters())


def test_weights_of_two_networks_are_not_averaged(tmp_path):
    from safetensors.torch import save_file

    paths = []
    for channels, tempo in ((8, False), (8, True)):
        paths.append(tmp_path / f"net{int(tempo)}.safetensors")
        state = beat_net.build_model(channels=channels, tempo=tempo).state_dict()
        save_file({k: v.contiguous() for k, v in state.items()}, str(paths[-1]))
    with pytest.raises(SystemExit, match="one network"):
        train_beat_net.main(["--average", *map(str, paths), "--out", str(tmp_path / "x.safetensors")])
