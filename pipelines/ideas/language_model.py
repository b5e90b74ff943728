"""The model engine: a small local instruct language model writes the prompts (no API key).

It is asked for one numbered line per passage, given the theme and each passage's words; its
answer is parsed and every line checked (present, plain text, a few words at least, inside the
text encoder's limit). What cannot be used is left to the composer by the caller, with the reason.

``"tiny"`` is a random-weight Llama built from a small config with a byte-pair tokenizer trained
here on the composer's vocabulary, as transformers' own tests build theirs: it writes gibberish,
which is the point: the parsing and the fallback are tested offline for real.
"""

from __future__ import annotations

import functools
import re

from pipelines.errors import BeatwalkError
from pipelines.ideas.prompts import TOKEN_LIMIT, fit_tokens, token_count

DEFAULT_MODEL = "Qwen/Qwen2.5-0.5B-Instruct"
"""Half a billion parameters (about 1 GB in float16): fits beside a diffusion model on a Space GPU."""
MAX_NEW_TOKENS_PER_LINE = 48
MAX_PASSAGES = 24
"""The most passages one answer is asked for (the composer writes the rest): a bound on the work."""
_LINE = re.compile(r"^\s*(\d+)\s*[.):\-]\s*(.+?)\s*$")
_MIN_WORDS = 3


class LanguageModelWriter:
    """Writes prompts with ``model`` (a hub id, a local folder, or ``"tiny"``).

    Loading raises a one-line ``BeatwalkError`` when the weights cannot be had (offline, not
    cached); :func:`pipelines.ideas.suggest.suggest_prompts` falls back to the composer then.
    """

    def __init__(self, model: str = DEFAULT_MODEL, *, device: str | None = None, local_only: bool = False):
        self.model_id = model
        self.tokenizer, self.model = _load(model, local_only)
        self.device = device or _device()
        self.model.to(self.device)

    @property
    def engine(self) -> str:
        return f"model:{self.model_id}"

    def write(self, theme: str, passages, *, seed: int, tokenizer=None) -> list[str | None]:
        """One prompt per passage (``None`` where the answer had no usable line for it, and past
        :data:`MAX_PASSAGES`); ``tokenizer``: the text encoder's, to count its limit exactly."""
        import torch

        asked = list(passages)[:MAX_PASSAGES]
        messages = [
            {"role": "system", "content": (
                "You write prompts for Stable Diffusion music videos. Answer with one numbered line per "
                "passage and nothing else: '1. <prompt>'. Each prompt is one comma-separated line of at most "
                "40 words: a subject and scene for the theme, light, colour palette, camera and one art style, "
                "the same style for every line, changing with the music's mood."
            )},
            {"role": "user", "content": _request(theme, asked)},
        ]  # fmt: skip
        text = self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        inputs = self.tokenizer(text, return_tensors="pt").to(self.device)
        devices = [torch.device(self.device).index or 0] if self.device.startswith("cuda") else []
        with torch.random.fork_rng(devices=devices), torch.inference_mode():  # the caller's RNG untouched
            torch.manual_seed(seed)
            output = self.model.generate(
                **inputs, max_new_tokens=MAX_NEW_TOKENS_PER_LINE * len(asked), do_sample=True,
                temperature=0.8, top_p=0.95, pad_token_id=self.tokenizer.pad_token_id or self.tokenizer.eos_token_id,
            )  # fmt: skip
        answer = self.tokenizer.decode(output[0, inputs["input_ids"].shape[1] :], skip_special_tokens=True)
        written = parse_answer(answer, len(asked), tokenizer=tokenizer)
        return written + [None] * (len(list(passages)) - len(asked))


def parse_answer(answer: str, count: int, *, tokenizer=None) -> list[str | None]:
    """The numbered lines ``1.`` … ``count.`` of a model's answer, each checked: plain printable
    text of at least three words, cut to the text encoder's limit; ``None`` where there is none."""
    found: dict[int, str] = {}
    for line in answer.splitlines():
        match = _LINE.match(line)
        if not match:
            continue
        number, prompt = int(match.group(1)), match.group(2).strip().strip("\"'").strip()
        if not 1 <= number <= count or number in found:
            continue
        if not prompt.isprintable() or len(re.findall(r"[^\W\d_]{2,}", prompt)) < _MIN_WORDS:
            continue
        if token_count(prompt, tokenizer) > TOKEN_LIMIT:
            prompt = fit_tokens([p.strip() for p in prompt.split(",")], keep=1, tokenizer=tokenizer)
        found[number] = prompt
    return [found.get(i) for i in range(1, count + 1)]


def _request(theme: str, passages) -> str:
    lines = [f"Theme: {theme or 'your choice, fitting the music'}", "Passages:"]
    for i, passage in enumerate(passages, start=1):
        lines.append(f"{i}. {passage.start:.0f}-{passage.end:.0f} s: {', '.join(passage.words())}")
    lines.append(f"Write {len(passages)} numbered prompts.")
    return "\n".join(lines)


def _device() -> str:
    """CUDA when there is a GPU to use here; on ZeroGPU the CPU (its GPU is lent to the functions
    it decorates only, and the ideas are not worth a visitor's GPU quota)."""
    import os

    import torch

    if os.environ.get("SPACES_ZERO_GPU"):
        return "cpu"
    return "cuda" if torch.cuda.is_available() else "cpu"


@functools.lru_cache(maxsize=2)
def _load(model: str, local_only: bool = False):
    if model == "tiny":
        return _tiny()
    try:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(model, local_files_only=local_only)
        if not tokenizer.chat_template:
            raise BeatwalkError(
                f"the language model {model} has no chat template (an instruct model is needed)"
            )
        weights = AutoModelForCausalLM.from_pretrained(model, torch_dtype="auto", local_files_only=local_only)
    except BeatwalkError:
        raise
    except (OSError, ValueError, ImportError) as exc:
        raise BeatwalkError(
            f"the language model {model} cannot be loaded here ({type(exc).__name__})"
        ) from None
    return tokenizer, weights.eval()


_CHAT_TEMPLATE = (
    "{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)


def _tiny():
    """A random-weight Llama (two layers, 32 wide) and a byte-level BPE tokenizer trained on the
    composer's words: built in a second, offline."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from pipelines.ideas import vocabulary
    from pipelines.tiny_text import byte_pair_tokenizer

    corpus = [" ".join(v) if isinstance(v, tuple) else str(v) for group in (
        vocabulary.SCENES, vocabulary.LIGHT, vocabulary.PALETTES, vocabulary.CAMERA, vocabulary.THEMES
    ) for v in group.values()] + list(vocabulary.STYLES) + ["1. 2. 3. 4. 5. 6. 7. 8. 9. 10."]  # fmt: skip
    tokenizer = byte_pair_tokenizer(corpus, vocab_size=600, pad_token="<|pad|>", eos_token="<|endoftext|>")
    tokenizer.chat_template = _CHAT_TEMPLATE
    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=4096,
        pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id, bos_token_id=tokenizer.eos_token_id,
    )  # fmt: skip
    torch.manual_seed(0)
    return tokenizer, LlamaForCausalLM(config).eval()
