"""Stopping a server a test started in its own process group (start_new_session=True)."""

from __future__ import annotations

import os
import signal
import subprocess


def stop_group(proc: subprocess.Popen, wait: float = 15) -> None:
    """SIGTERM to the process and its whole group (its children too), SIGKILL after `wait` s."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(wait)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(wait)
