"""Debian's Chromium driven through playwright-core and axe-core (tests/browser/drive.cjs), for
the tests that need more than `chromium --dump-dom`: an accessibility audit, a PDF, a full-page
screenshot. `make browser-tools` installs the npm packages into the cache."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "artifacts"
DRIVER = ROOT / "tests" / "browser" / "drive.cjs"


def tools_dir() -> Path:
    configured = os.environ.get("GAYARI_BROWSER_TOOLS_DIR")
    cache = Path(os.environ.get("GAYARI_CACHE_DIR") or ROOT / ".cache")
    return Path(configured) if configured else cache / "tools" / "browser"


def drive(job: dict[str, Any]) -> dict[str, Any]:
    """Runs one job of drive.cjs (see there) and returns its JSON result."""
    node = shutil.which("node")
    chromium = shutil.which("chromium")
    modules = tools_dir()
    if node is None or chromium is None:
        pytest.fail("node and chromium are needed: run `make test-tools`")
    if not (modules / "node_modules" / "axe-core").is_dir():
        pytest.fail(f"no axe-core/playwright-core in {modules}: run `make browser-tools`")
    done = subprocess.run(
        [node, str(DRIVER), json.dumps(job)],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
        env={**os.environ, "GAYARI_BROWSER_TOOLS_DIR": str(modules), "CHROMIUM": chromium},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result: dict[str, Any] = json.loads(done.stdout)
    return result
