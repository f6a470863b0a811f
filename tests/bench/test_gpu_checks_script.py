"""bench/gpu_checks.sh names a background job that failed (it waited on all of them and said nothing: the
factorial's refused compare processes left an empty runs/regularization_factorial and no word why)."""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "bench" / "gpu_checks.sh"

# python3 as the script calls it: the factorial fails as bench/regularization.py does when its compare processes are
# refused (SystemExit with a message: exit 1), memory3d outlives the limit
STUB = """#!/bin/sh
case "$*" in
  *regularization.py*) echo "12 of 12 compare processes failed" >&2; exit 1;;
  *memory3d.py*) sleep 30;;
esac
echo '{}'
"""


@pytest.mark.skipif(not shutil.which("bash") or not shutil.which("timeout"), reason="needs bash and coreutils")
def test_failed_background_job_is_named(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "python3").write_text(STUB)
    (bin_dir / "python3").chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "GPU_CHECKS_LIMIT": "3"}
    res = subprocess.run(["bash", str(SCRIPT), str(tmp_path / "out")], cwd=tmp_path, env=env, text=True,
                         capture_output=True, timeout=60)
    lines = [ln for ln in res.stdout.splitlines() if ln.startswith("gpu_checks:")]
    assert lines == ["gpu_checks: factorial failed (exit 1); see runs/logs/factorial.log",
                     "gpu_checks: memory3d stopped at the 3s limit; what finished is packed"], res.stdout
    assert (tmp_path / "out" / "logs.tar.gz").is_file()  # the packing still ran after the failures
