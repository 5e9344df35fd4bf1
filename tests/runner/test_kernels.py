"""Tests of distill_lib.runner.kernels: a forked kernel is a working IPython kernel with its own event loop."""

from __future__ import annotations

import os

import pytest

from distill_lib.runner.notebook import shutdown_kernel, start_kernel


@pytest.mark.skipif(not hasattr(os, "fork"), reason="forked kernels need os.fork")
def test_a_forked_kernel_runs_code_and_shuts_down(tmp_path):
    km = start_kernel(tmp_path, forked=True)
    try:
        process = km.provisioner.process
        assert process.poll() is None
        client = km.blocking_client()
        client.start_channels()
        client.wait_for_ready(timeout=60)
        outputs = []
        client.execute_interactive(
            "import asyncio, os, sys; print(os.getcwd(), 'torch' in sys.modules)",
            output_hook=lambda msg: outputs.append(msg["content"].get("text", "")),
            timeout=60,
        )
        client.stop_channels()
        assert f"{tmp_path} True" in "".join(outputs)  # its folder, and the parent's imports
    finally:
        shutdown_kernel(km)
    assert process.poll() is not None
