"""Beatwalk on Hugging Face Spaces: build the app and launch it (Spaces import ``demo``)."""

import spaces  # noqa: F401  (first: on ZeroGPU it must patch CUDA before torch loads)

from space.blocks import build_demo, launch_options

demo = build_demo()

if __name__ == "__main__":
    demo.launch(**launch_options())
