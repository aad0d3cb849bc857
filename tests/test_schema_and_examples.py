"""The committed JSON Schema stays in sync with the models, and every example obeys it and loads."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from click.testing import CliRunner
from ruamel.yaml import YAML

from reconciler.cli import main
from reconciler.config.loader import load_config
from reconciler.config.models import desired_state_json_schema

ROOT = Path(__file__).resolve().parent.parent
SCHEMA_PATH = ROOT / "schemas" / "ideogram-org.schema.json"
EXAMPLES = sorted((ROOT / "examples").glob("*/ideogram-org.yaml"))


def test_committed_schema_is_up_to_date() -> None:
    committed = json.loads(SCHEMA_PATH.read_text())
    assert committed == desired_state_json_schema(), (
        "schemas/ideogram-org.schema.json is out of date: run "
        "`ideogram-org schema > schemas/ideogram-org.schema.json`"
    )


def test_schema_command_prints_the_committed_schema() -> None:
    result = CliRunner().invoke(main, ["schema"])
    assert result.exit_code == 0
    schema = json.loads(result.output)
    assert schema["$schema"].startswith("https://json-schema.org/")
    assert schema["$id"].endswith("schemas/ideogram-org.schema.json")
    assert schema == json.loads(SCHEMA_PATH.read_text())


def test_there_are_examples() -> None:
    assert {p.parent.name for p in EXAMPLES} >= {"acme", "minimal"}


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.parent.name)
def test_example_obeys_schema_and_loads(example: Path) -> None:
    first_line = example.read_text().splitlines()[0]
    assert first_line.startswith("# yaml-language-server: $schema=")
    modeline_target = (example.parent / first_line.split("$schema=", 1)[1]).resolve()
    assert modeline_target == SCHEMA_PATH.resolve(), (
        "the modeline must point at the committed schema"
    )
    data = YAML(typ="safe").load(example.read_text())
    jsonschema.validate(data, json.loads(SCHEMA_PATH.read_text()))
    load_config(example)


def test_schema_rejects_what_the_loader_rejects() -> None:
    schema = json.loads(SCHEMA_PATH.read_text())
    bad = {
        "version": 1,
        "organizations": {"acme": {"members": [{"email": "a@b.example", "rol": "OWNER"}]}},
    }
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, schema)
    two_ids = {
        "version": 1,
        "organizations": {"acme": {"members": [{"email": "a@b.example", "handle": "a"}]}},
    }
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(two_ids, schema)


def test_the_shipped_workflows_and_action_pass_zizmor() -> None:
    """Pinned actions, no credentials left in checkouts, no template injection (zizmor's default
    policy, offline)."""
    import shutil
    import subprocess
    import sys

    zizmor = shutil.which("zizmor") or str(Path(sys.executable).parent / "zizmor")
    workflows = sorted(str(p) for p in (ROOT / "examples" / "github").glob("*.yml"))
    done = subprocess.run(
        [zizmor, "--offline", str(ROOT / "action.yml"), *workflows],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
