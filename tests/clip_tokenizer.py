"""The real CLIP tokenizer (openai/clip-vit-large-patch14's, 49 408 tokens), built offline from the
byte-pair merges that open_clip ships (fetched by ``scripts/setup.sh --dev`` into ``.cache/clip``),
the way open_clip's ``SimpleTokenizer`` builds its vocabulary."""

from __future__ import annotations

import functools
import gzip
import json
import tempfile
from pathlib import Path

MERGES = Path(__file__).resolve().parents[1] / ".cache" / "clip" / "bpe_simple_vocab_16e6.txt.gz"


@functools.lru_cache(maxsize=1)
def clip_tokenizer():
    from transformers import CLIPTokenizer
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    if not MERGES.is_file():
        raise FileNotFoundError(f"{MERGES} is missing: run bash scripts/setup.sh --dev")
    with gzip.open(MERGES) as file:
        lines = file.read().decode("utf-8").split("\n")[1 : 49152 - 256 - 2 + 1]
    merges = [tuple(line.split()) for line in lines]
    vocab = list(bytes_to_unicode().values())
    vocab += [v + "</w>" for v in vocab] + ["".join(m) for m in merges] + ["<|startoftext|>", "<|endoftext|>"]
    folder = Path(tempfile.mkdtemp(prefix="clip-tokenizer-"))
    (folder / "vocab.json").write_text(json.dumps({t: i for i, t in enumerate(vocab)}), encoding="utf-8")
    (folder / "merges.txt").write_text(
        "#version: 0.2\n" + "\n".join(" ".join(m) for m in merges), encoding="utf-8"
    )
    return CLIPTokenizer.from_pretrained(folder, model_max_length=77)
