"""The prepared GPU run (benchmarks/gpu_suite.py) runs through on the CPU with the tiny model, and
its FLOP count of a real-size architecture is the architecture's."""

from __future__ import annotations

import re

import pytest
import torch

from benchmarks import gpu_suite
from pipelines.diffusion.tiny import real_size_pipeline

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_the_suite_runs_every_setting_on_the_tiny_model(capsys):
    assert gpu_suite.main(["--tiny", "--frames", "8", "--no-record"]) == 0
    printed = capsys.readouterr().out
    rows = [line for line in printed.splitlines() if line.startswith("| tiny")]
    assert len(rows) == 3 and not any("failed" in row for row in rows)
    assert "| auto → 32 |" in rows[0] + rows[1]  # the auto batch is reported as what it chose (64² on a CPU)
    assert all("| libx264 |" in row for row in rows)  # no NVENC on a CPU: the encoder is reported
    fps = [float(row.split("|")[5]) for row in rows]
    assert all(value > 0 for value in fps)


def test_without_a_gpu_the_suite_says_so_in_one_line(capsys):
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    assert gpu_suite.main(["--no-record"]) == 2
    assert re.fullmatch(r"error: no CUDA GPU here \(.*\)\n", capsys.readouterr().err)


def test_flops_are_counted_on_the_real_architecture():
    """SD 2.1's UNet at 512² is about 0.8 TFLOP a step, its VAE decoder about 2.5 (shapes only, on meta)."""
    pipe = real_size_pipeline("sd-turbo", device="meta")
    flops = gpu_suite._flops_per_frame(pipe, 512, 1)
    assert 3.2e12 < flops < 3.4e12
    assert 0.7e12 < gpu_suite._flops_per_frame(pipe, 512, 2) - flops < 0.9e12
