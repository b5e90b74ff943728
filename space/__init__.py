"""Beatwalk Space: the Gradio shell over ``pipelines``."""
