"""Timing and identity helpers shared by both sides of the sdv comparison.

Imported by ``sdv_compare.py`` (Beatwalk's venv) and ``sdv_runner.py`` (the sdv
venv, with older diffusers and transformers), so it needs only the standard
library and torch. ``sdv_runner.py`` runs as a file in the sdv venv, with this folder on ``sys.path``.
"""

from __future__ import annotations

import hashlib
import resource
import time

import torch


def time_model_calls(pipe) -> dict:
    """Count the CPU seconds spent inside the model: text encoder, UNet and VAE decoder calls.

    The rest of a render (audio, planning, images, files, encoding) is what
    differs between the tools' designs.
    """
    spent = {"seconds": 0.0}
    for owner, name in ((pipe.text_encoder, "forward"), (pipe.unet, "forward"), (pipe.vae, "decode")):

        def timed(*args, _call=getattr(owner, name), **kwargs):
            start = time.process_time()
            try:
                return _call(*args, **kwargs)
            finally:
                spent["seconds"] += time.process_time() - start

        setattr(owner, name, timed)
    return spent


def cpu_seconds() -> float:
    """CPU time of this process and of its finished children (ffmpeg), seconds.

    Less disturbed than wall time by other work on a shared machine.
    """
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def weights_fingerprint(module: torch.nn.Module) -> str:
    """sha256 of a module's weights, independent of transformers' key prefix.

    transformers 5 drops the ``text_model.`` prefix of CLIPTextModel's
    state-dict keys; the tensors are the same.
    """
    digest = hashlib.sha256()
    state = {key.removeprefix("text_model."): value for key, value in module.state_dict().items()}
    for key in sorted(state):
        if key.endswith("position_ids"):
            continue
        digest.update(key.encode())
        digest.update(state[key].detach().to(torch.float32).contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]
