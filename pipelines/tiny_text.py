"""Tokenizers for the tiny random-weight text models (the ideas' language model, the tagger's
CLAP): a byte-level byte-pair vocabulary trained here in milliseconds, as transformers' own tests
build theirs, so the offline models are real models with real tokenizers."""

from __future__ import annotations


def byte_pair_tokenizer(corpus: list[str], *, vocab_size: int, **special: str):
    """A ``PreTrainedTokenizerFast`` trained on ``corpus``; ``special`` names its special tokens
    (``pad_token="<pad>"``, ...), which take the first ids in the order given."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    bpe = Tokenizer(models.BPE(unk_token=None))
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=list(special.values()),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )  # fmt: skip
    bpe.train_from_iterator(corpus * 4, trainer)
    return PreTrainedTokenizerFast(tokenizer_object=bpe, **special)
