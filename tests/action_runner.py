"""A small simulation of a GitHub runner executing the composite action in action.yml.

Each step's `env:` is evaluated (inputs, github, runner and steps contexts), its `run:` script is
executed by bash as the runner would, with its own GITHUB_OUTPUT file, and the action's outputs are
computed from the steps' outputs. `gh` is a fake on PATH that records its calls.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from ruamel.yaml import YAML

ROOT = Path(__file__).resolve().parent.parent
EXPRESSION = re.compile(r"\$\{\{\s*([A-Za-z0-9_.\-]+)\s*\}\}")


def load_action() -> dict:
    return YAML(typ="safe").load((ROOT / "action.yml").read_text())


def parse_output_file(path: Path) -> dict[str, str]:
    outputs: dict[str, str] = {}
    if not path.exists():
        return outputs
    lines = path.read_text().splitlines()
    index = 0
    while index < len(lines):
        line = lines[index]
        if "<<" in line and "=" not in line.split("<<", 1)[0]:
            name, delimiter = line.split("<<", 1)
            value_lines = []
            index += 1
            while lines[index] != delimiter:
                value_lines.append(lines[index])
                index += 1
            outputs[name] = "\n".join(value_lines)
        elif "=" in line:
            name, value = line.split("=", 1)
            outputs[name] = value
        index += 1
    return outputs


@dataclass
class StepRun:
    name: str
    returncode: int
    stdout: str
    stderr: str
    outputs: dict[str, str]


@dataclass
class ActionRun:
    steps: list[StepRun] = field(default_factory=list)
    outputs: dict[str, str] = field(default_factory=dict)

    @property
    def succeeded(self) -> bool:
        return all(step.returncode == 0 for step in self.steps)


class Runner:
    def __init__(
        self, workdir: Path, runner_temp: Path, gh_dir: Path, repository: str = "acme/org-config"
    ):
        self.workdir = workdir
        self.runner_temp = runner_temp
        self.gh_dir = gh_dir
        self.repository = repository
        self.summary = runner_temp / "step-summary.md"
        self.gh_log = gh_dir / "calls.jsonl"
        self.gh_state = gh_dir / "state.json"
        bin_dir = gh_dir / "bin"
        bin_dir.mkdir(parents=True, exist_ok=True)
        fake = bin_dir / "gh"
        fake.write_text(f'#!/bin/sh\nexec {sys.executable} {ROOT / "tests" / "fake_gh.py"} "$@"\n')
        fake.chmod(0o755)
        self.bin_dir = bin_dir
        self.run_number = 0
        self.api_url = "https://api.github.com"  # GITHUB_API_URL, which every runner sets

    def gh_calls(self) -> list[dict]:
        if not self.gh_log.exists():
            return []
        return [json.loads(line) for line in self.gh_log.read_text().splitlines()]

    def gh_world(self) -> dict:
        return json.loads(self.gh_state.read_text()) if self.gh_state.exists() else {}

    def set_gh_world(self, world: dict) -> None:
        self.gh_state.write_text(json.dumps(world))

    def run(
        self,
        inputs: dict[str, str],
        event: dict,
        sha: str = "0" * 40,
        job_env: dict[str, str] | None = None,
    ) -> ActionRun:
        """One run of the action; `job_env` is the workflow's `env:` (every step sees it)."""
        self.run_number += 1
        action = load_action()
        event_path = self.runner_temp / f"event-{self.run_number}.json"
        event_path.write_text(json.dumps(event))
        contexts: dict[str, object] = {
            "github.action_path": str(ROOT),
            "github.token": "ghs_workflow_token_fake",
            "runner.temp": str(self.runner_temp),
        }
        for name, spec in action["inputs"].items():
            value = inputs.get(name, spec.get("default", ""))
            contexts[f"inputs.{name}"] = self._evaluate(str(value), contexts)
        result = ActionRun()
        for index, step in enumerate(action["runs"]["steps"]):
            output_file = self.runner_temp / f"output-{self.run_number}-{index}"
            output_file.unlink(missing_ok=True)  # a fresh file per step, as on a real runner
            env = {
                "PATH": os.pathsep.join(
                    [str(self.bin_dir), str(Path(sys.executable).parent), os.environ["PATH"]]
                ),
                "HOME": os.environ.get("HOME", str(self.runner_temp)),
                "GITHUB_OUTPUT": str(output_file),
                "GITHUB_STEP_SUMMARY": str(self.summary),
                "GITHUB_EVENT_PATH": str(event_path),
                "GITHUB_REPOSITORY": self.repository,
                "GITHUB_API_URL": self.api_url,
                "GITHUB_SHA": sha,
                "RUNNER_TEMP": str(self.runner_temp),
                "FAKE_GH_STATE": str(self.gh_state),
                "FAKE_GH_LOG": str(self.gh_log),
                "PIP_DISABLE_PIP_VERSION_CHECK": "1",
            }
            for variable in (
                "PIP_FIND_LINKS",
                "PIP_CERT",
                "PIP_INDEX_URL",
                "PIP_EXTRA_INDEX_URL",
                "PIP_CONFIG_FILE",
                "XDG_CACHE_HOME",
                "GIT_CONFIG_NOSYSTEM",
            ):
                if variable in os.environ:
                    env[variable] = os.environ[variable]
            env.update(job_env or {})
            env.update(
                {
                    key: self._evaluate(str(value), contexts)
                    for key, value in (step.get("env") or {}).items()
                }
            )
            script = self.runner_temp / f"step-{self.run_number}-{index}.sh"
            script.write_text(step["run"])
            process = subprocess.run(
                ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)],
                cwd=self.workdir,
                env=env,
                capture_output=True,
                text=True,
                timeout=600,
            )
            outputs = parse_output_file(output_file)
            if step.get("id"):
                for name, value in outputs.items():
                    contexts[f"steps.{step['id']}.outputs.{name}"] = value
            result.steps.append(
                StepRun(
                    step.get("name", ""),
                    process.returncode,
                    process.stdout,
                    process.stderr,
                    outputs,
                )
            )
            if process.returncode != 0:
                break
        result.outputs = {
            name: self._evaluate(spec["value"], contexts)
            for name, spec in action["outputs"].items()
        }
        return result

    @staticmethod
    def _evaluate(text: str, contexts: dict[str, object]) -> str:
        return EXPRESSION.sub(lambda m: str(contexts.get(m.group(1), "")), text)
