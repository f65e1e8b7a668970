"""An installed wheel carries its templates and prompts and works from any directory."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_wheel_works_outside_the_checkout(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(dist),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
    )
    [wheel] = dist.glob("screen-*.whl")
    site = tmp_path / "site"
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        archive.extractall(site)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {**os.environ, "PYTHONPATH": str(site)}
    env.pop("SCREEN_PROMPTS_DIR", None)

    check = subprocess.run(
        [sys.executable, "-m", "screen", "prompts", "check"],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    where = subprocess.run(
        [
            sys.executable,
            "-c",
            "import screen.platform.paths as p; print(p.TEMPLATES_DIR, p.PROMPTS_DIR)",
        ],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )

    assert "screen/_bundled/templates/candidate/attempt.html" in names
    assert "screen/_bundled/prompts/rag-support-assistant.md" in names
    assert "screen/static/attempt.js" in names
    assert any(n.startswith("screen/platform/migrations/versions/") for n in names)
    assert check.returncode == 0, check.stderr
    assert "ok  rag-support-assistant" in check.stdout
    assert str(site) in where.stdout
