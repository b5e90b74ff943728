"""Tags from an audio-text model: CLAP, zero-shot over a genre, mood and instrument vocabulary.

Each passage's audio (its middle ten seconds, at CLAP's 48 kHz) and every word of the vocabulary
(in a sentence, "this is a sound of ...") are embedded; a passage gets the best word of each
group whose probability over the group stands out from the rest. The default model is LAION's
``laion/clap-htsat-unfused`` (transformers' ``ClapModel``); ``"tiny"`` is a random-weight CLAP
built from a small config with a byte-pair tokenizer trained here, for offline tests (its tags are
arbitrary, its plumbing real).
"""

from __future__ import annotations

import functools

import numpy as np

from pipelines.errors import BeatwalkError

DEFAULT_TAGGER = "laion/clap-htsat-unfused"
CLAP_RATE = 48_000
CLIP_SECONDS = 10.0
VOCABULARY = {
    "genre": ("rock", "pop", "electronic", "techno", "house", "hip hop", "jazz", "classical", "ambient",
              "metal", "folk", "reggae", "funk", "orchestral", "lo-fi", "drum and bass"),
    "mood": ("happy", "sad", "calm", "energetic", "dark", "dreamy", "aggressive", "romantic", "epic",
             "mysterious", "playful", "melancholic"),
    "instrument": ("guitar", "piano", "synthesizer", "drums", "bass", "strings", "vocals", "brass",
                   "flute", "organ", "choir", "electric guitar"),
}  # fmt: skip
TEMPLATE = "this is a sound of {} music"
BATCH = 16
"""Clips embedded at a time."""
STANDS_OUT = 1.5
"""A word is a tag when its probability is this many times the group's average."""


class ClapTagger:
    """Zero-shot tags with a CLAP model (a hub id, a local folder, or ``"tiny"``).

    Loading raises a one-line ``BeatwalkError`` when the weights cannot be had.
    """

    def __init__(self, model: str = DEFAULT_TAGGER):
        self.model_id = model
        self.model, self.tokenizer, self.features = _load(model)
        self._embedded = None

    def tag(
        self, samples: np.ndarray, sample_rate: int, passages, *, stands_out: float = STANDS_OUT
    ) -> list[list[str]]:
        """The tags of each passage (``start``/``end`` in seconds) of ``samples``: at most one word
        of each group, the best, where its probability is ``stands_out`` times the group's mean."""
        import librosa
        import torch

        clips = []
        for passage in passages:  # each clip resampled on its own: memory stays that of a clip
            middle = (passage.start + passage.end) / 2
            first = max(passage.start, middle - CLIP_SECONDS / 2)
            last = min(passage.end, first + CLIP_SECONDS)
            clip = samples[int(first * sample_rate) : int(last * sample_rate)].astype(np.float32)
            clip = librosa.resample(clip, orig_sr=sample_rate, target_sr=CLAP_RATE) if len(clip) > 1 else clip
            clips.append(clip if len(clip) else np.zeros(CLAP_RATE, np.float32))
        embedded = []
        for first in range(0, len(clips), BATCH):
            inputs = self.features(clips[first : first + BATCH], sampling_rate=CLAP_RATE, return_tensors="pt")
            with torch.inference_mode():
                embedded.append(_embedding(self.model.get_audio_features(**inputs)))
        if not embedded:
            return []
        sounds = torch.cat(embedded)
        words = self._words()
        scale = (
            float(self.model.logit_scale_a.detach().exp()) if hasattr(self.model, "logit_scale_a") else 1.0
        )
        tags = []
        for sound in torch.nn.functional.normalize(sounds, dim=-1):
            chosen = []
            for names, texts in words.values():
                probability = torch.softmax(scale * texts @ sound, dim=0)
                best = int(probability.argmax())
                if float(probability[best]) >= stands_out / len(names):
                    chosen.append(names[best])
            tags.append(chosen)
        return tags

    def _words(self):
        """The vocabulary's text embeddings, by group (made once)."""
        import torch

        if self._embedded is not None:
            return self._embedded
        embedded = {}
        for group, names in VOCABULARY.items():
            tokens = self.tokenizer([TEMPLATE.format(n) for n in names], padding=True, return_tensors="pt")
            with torch.inference_mode():
                texts = _embedding(
                    self.model.get_text_features(
                        input_ids=tokens["input_ids"], attention_mask=tokens["attention_mask"]
                    )
                )
            embedded[group] = (names, torch.nn.functional.normalize(texts, dim=-1))
        self._embedded = embedded
        return embedded


def _embedding(output):
    """The projected embedding (transformers 5 returns an output object, 4 a tensor)."""
    return output if hasattr(output, "shape") else output.pooler_output


@functools.lru_cache(maxsize=1)
def _load(model: str):
    if model == "tiny":
        return _tiny()
    try:
        from transformers import ClapModel, ClapProcessor

        processor = ClapProcessor.from_pretrained(model)
        weights = ClapModel.from_pretrained(model).eval()
    except (OSError, ValueError, ImportError) as exc:
        raise BeatwalkError(
            f"the tagging model {model} cannot be loaded here ({type(exc).__name__})"
        ) from None
    # The middle ten seconds are cut here, and one view of them is embedded (not the fused crops).
    features = processor.feature_extractor
    features.truncation = "rand_trunc"
    return weights, processor.tokenizer, features


def _tiny():
    """A random-weight CLAP (HTSAT and RoBERTa, two layers each, 32 wide) and a byte-level BPE
    tokenizer trained on the vocabulary."""
    import torch
    from transformers import ClapAudioConfig, ClapConfig, ClapFeatureExtractor, ClapModel, ClapTextConfig

    from pipelines.tiny_text import byte_pair_tokenizer

    corpus = [TEMPLATE.format(word) for words in VOCABULARY.values() for word in words]
    tokenizer = byte_pair_tokenizer(corpus, vocab_size=400, bos_token="<s>", pad_token="<pad>", eos_token="</s>")
    text = ClapTextConfig(
        vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=37,
        projection_dim=16, max_position_embeddings=80, pad_token_id=tokenizer.pad_token_id,
    )  # fmt: skip
    audio = ClapAudioConfig(
        window_size=4, num_mel_bins=64, spec_size=256, patch_size=16, patch_stride=(16, 16), depths=[1, 1],
        num_attention_heads=[1, 1], hidden_size=32, patch_embeds_hidden_size=16, projection_dim=16,
        enable_fusion=False,
    )  # fmt: skip
    torch.manual_seed(0)
    config = ClapConfig(text_config=text.to_dict(), audio_config=audio.to_dict(), projection_dim=16)
    return ClapModel(config).eval(), tokenizer, ClapFeatureExtractor(truncation="rand_trunc")


def tagger_for(name: str | None) -> tuple[ClapTagger | None, str | None]:
    """The tagger a caller asked for, and a note when it cannot be had (the description is made
    without tags then).

    ``None`` or ``"auto"``: :data:`DEFAULT_TAGGER` when its weights are already in the local cache
    (no download is started for it), else none; ``"none"``: none; anything else: that model.
    """
    name = (name or "auto").strip()
    if name == "none":
        return None, None
    if name == "auto":
        from huggingface_hub import try_to_load_from_cache

        if not isinstance(try_to_load_from_cache(DEFAULT_TAGGER, "config.json"), str):
            return None, None
        name = DEFAULT_TAGGER
    try:
        return ClapTagger(name), None
    except BeatwalkError as exc:
        return None, f"{exc}: the song is described without tags"


def describe_with_tags(audio, analysis, tagger_name: str | None):
    """The song's description with the tags of the tagger asked for (:func:`tagger_for`), and a
    note when there are none to be had; a tagger that fails on this song leaves the words alone."""
    from pipelines.music.describe import describe_song

    tagger, note = tagger_for(tagger_name)
    if tagger is not None:
        try:
            return describe_song(audio, analysis, tagger=tagger), None
        except Exception as exc:  # noqa: BLE001  (tags are extra: the description stands without them)
            note = f"the tagging model failed on this song ({type(exc).__name__}): the song is described without tags"
    return describe_song(audio, analysis), note
