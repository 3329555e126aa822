"""Dependencies point one way: the import-linter contracts in pyproject.toml hold for the code.

Runs the `lint-imports` console script of this environment, as an operator or CI would; imports
inside functions count (grimp's default), so a cycle cannot hide in a function body.
"""

from __future__ import annotations

import subprocess
import sysconfig
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_contracts_do_not_hide_edges():
    settings = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    contracts = {c["id"]: c for c in settings["contracts"]}
    assert set(contracts) >= {"layers", "receivers"}
    assert contracts["layers"]["exhaustive"], "every top-level module has its place"
    assert not settings.get("exclude_type_checking_imports", False)
    for contract in contracts.values():
        assert not contract.get("exclude_type_checking_imports", False)


def test_lint_imports_passes():
    script = Path(sysconfig.get_path("scripts")) / "lint-imports"  # this environment's
    done = subprocess.run([str(script), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_workflows_register_with_the_pipeline():
    """Loaded as `Runtime.open` loads them, the workflows give the pipeline a handler for every
    verdict, the citizen_form rule just before auto_reply, their commands and the parse reader."""
    from daemon import workflows
    from daemon.pipeline import commands, handlers, hooks, verdict
    from daemon.pipeline.rules import RULES

    workflows.load()
    workflows.load()  # a second load changes nothing
    kinds = {value for name, value in vars(verdict).items() if name.isupper() and isinstance(value, str)}
    assert kinds == set(handlers.HANDLERS) | set(hooks.HANDLERS)
    names = [rule.name for rule in RULES]
    assert names.count("citizen_form") == 1 and names.index("citizen_form") == names.index("auto_reply") - 1
    kinds_commanded = {kind for command in commands.table().values() for kind in command.kinds}
    assert {"incident", "citizen_form"} <= kinds_commanded
    assert set(hooks.REPLIES) == {"incident", "citizen_form", None}
    assert hooks.read_with() is not None and hooks.read_with().__module__ == "daemon.incident.fields"
