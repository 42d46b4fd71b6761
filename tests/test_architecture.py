"""The shape of the house, checked: imports point down (the contracts in pyproject.toml's
[tool.importlinter]: the launcher and benchmarks on top, then the console, the services and the
workflows, the shared suite, the rules and contracts at the bottom; the console never imports a
service or a workflow; no service imports another), and no workflow module grows past what a
reader takes in at once."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from suite import config

LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")
LONGEST_WORKFLOW_MODULE = 350


def test_imports_point_down():
    done = subprocess.run([str(LINT_IMPORTS), "--no-logo", "--no-cache"], cwd=config.REPO_ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


def test_no_workflow_module_is_longer_than_a_reader_takes_in():
    long = {str(path.relative_to(config.REPO_ROOT)): lines for path in (config.REPO_ROOT / "workflows").rglob("*.py")
            if (lines := len(path.read_text(encoding="utf-8").splitlines())) > LONGEST_WORKFLOW_MODULE}
    assert long == {}
