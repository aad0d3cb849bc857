"""What `action.yml` runs: plan on a pull request, apply on merge, drift on a schedule.

Inputs arrive as environment variables (never spliced into a script), outputs go to
$GITHUB_OUTPUT with a random heredoc delimiter, the markdown goes to $GITHUB_STEP_SUMMARY, and
pull request comments and drift issues go through the `gh` CLI with the workflow token.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from . import defaults, service
from .api.client import ApiReader
from .config.loader import LoadedConfig, load_config
from .errors import ReconcilerError, UsageError
from .exit_codes import ExitCode
from .model.plan import Plan, ReviewedPlan
from .model.report import ApplyReport, NothingToApply, Report
from .model.usage import SPEND_DAYS, UsageReport
from .model.window import days_back
from .planning.usage import alert_share
from .render.apply import render_apply_markdown
from .render.drift import render_drift_markdown
from .render.escape import md_code, visible
from .render.markdown import render_markdown
from .render.rows import MARKER_PREFIX, summary_line
from .render.usage import render_usage_markdown
from .render.watch import render_watch_markdown
from .render.workflow import workflow_command
from .service.connect import open_api
from .service.keys import delivered_files, not_deliverable_from_runner
from .service.notify import notify_applied, notify_drift
from .service.state import open_store
from .store.plan_file import save_plan

COMMANDS = ("plan", "apply", "drift", "usage", "rotate", "watch")
DRIFT_ISSUE_TITLE = "ideogram-org: the organization drifted from the file"
CHECK_RUN_NAME = "ideogram-org plan"
HEAD_MARKER = "<!-- ideogram-org head: "
NO_REVIEWED_PLAN = (
    "no reviewed plan was found for this commit: the plan step on its pull request records the "
    "plan's hash in a check run named 'ideogram-org plan' (give the workflow permissions: "
    "checks: write) or in its sticky comment (input comment: true), and only those the workflow "
    "itself made (input review-app) on the pull request's head commit count; nothing was sent"
)


class GitHubError(ReconcilerError):
    """A `gh` call failed."""


@dataclass
class ActionContext:
    command: str
    config: str
    endpoint: str | None
    audit_log: str
    comment: bool
    output_path: Path | None
    summary_path: Path | None
    event: dict[str, Any]
    repository: str
    sha: str
    temp: Path
    state: str = "git"  # the state store: local, git, git:URL or git:URL#BRANCH
    review_app: str = "github-actions"  # whose check run or comment vouches for a review
    alert_at: str | None = None  # usage: exit 2 when a projection reaches this share of the commit
    spend: bool = True  # drift: add last 30 days' spend and the commit to the summary and the issue
    outputs: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> ActionContext:
        command = env.get("INPUT_COMMAND", "plan").strip()
        if command not in COMMANDS:
            raise UsageError(
                f"the action's command must be one of {', '.join(COMMANDS)}, not {command!r}"
            )
        event = {}
        if env.get("GITHUB_EVENT_PATH") and Path(env["GITHUB_EVENT_PATH"]).is_file():
            event = json.loads(Path(env["GITHUB_EVENT_PATH"]).read_text() or "{}")
        return cls(
            command=command,
            config=env.get("INPUT_CONFIG") or defaults.CONFIG_FILE,
            endpoint=env.get("INPUT_ENDPOINT") or None,
            audit_log=env.get("INPUT_AUDIT_LOG") or defaults.AUDIT_LOG,
            comment=(env.get("INPUT_COMMENT") or "true").strip().lower() == "true",
            output_path=Path(env["GITHUB_OUTPUT"]) if env.get("GITHUB_OUTPUT") else None,
            summary_path=Path(env["GITHUB_STEP_SUMMARY"])
            if env.get("GITHUB_STEP_SUMMARY")
            else None,
            event=event,
            repository=env.get("GITHUB_REPOSITORY", ""),
            sha=env.get("GITHUB_SHA", ""),
            temp=Path(env.get("RUNNER_TEMP") or tempfile.gettempdir()),
            state=(env.get("INPUT_STATE") or "git").strip(),
            review_app=(env.get("INPUT_REVIEW_APP") or "github-actions").strip(),
            alert_at=env.get("INPUT_ALERT_AT") or None,
            spend=(env.get("INPUT_SPEND") or "true").strip().lower() == "true",
        )

    def set_output(self, name: str, value: str) -> None:
        self.outputs[name] = value

    def set_exit_code(self, code: ExitCode) -> None:
        """The `exit-code` output: what the same command would exit with in a terminal."""
        self.set_output("exit-code", str(int(code)))

    def flush_outputs(self) -> None:
        if self.output_path is None:
            return
        with self.output_path.open("a") as handle:
            for name, value in self.outputs.items():
                delimiter = f"ghadelimiter_{secrets.token_hex(16)}"
                handle.write(f"{name}<<{delimiter}\n{value}\n{delimiter}\n")

    def summary(self, markdown: str) -> None:
        if self.summary_path is not None:
            with self.summary_path.open("a") as handle:
                handle.write(markdown + "\n")


class Gh:
    """The few `gh` calls the action makes. GH_TOKEN comes from the environment."""

    def __init__(self, repository: str) -> None:
        self.repository = repository

    def _run(self, *args: str) -> str:
        try:
            result = subprocess.run(["gh", *args], capture_output=True, text=True, timeout=120)
        except FileNotFoundError:
            raise GitHubError("the gh CLI is not installed on this runner") from None
        if result.returncode != 0:
            raise GitHubError(
                f"gh {args[0]} {args[1] if len(args) > 1 else ''} failed: "
                f"{result.stderr.strip()[:300]}"
            )
        return result.stdout

    def _lines(self, *args: str) -> list[Any]:
        return [json.loads(line) for line in self._run(*args).splitlines() if line.strip()]

    def comments(self, number: int) -> list[dict[str, Any]]:
        return self._lines(
            "api",
            "--paginate",
            f"repos/{self.repository}/issues/{number}/comments",
            "--jq",
            ".[] | {id: .id, body: .body, login: .user.login, type: .user.type}",
        )

    def create_comment(self, number: int, body_file: Path) -> None:
        self._run(
            "api",
            "-X",
            "POST",
            f"repos/{self.repository}/issues/{number}/comments",
            "-F",
            f"body=@{body_file}",
        )

    def update_comment(self, comment_id: int, body_file: Path) -> None:
        self._run(
            "api",
            "-X",
            "PATCH",
            f"repos/{self.repository}/issues/comments/{comment_id}",
            "-F",
            f"body=@{body_file}",
        )

    def pulls_for_commit(self, sha: str) -> list[int]:
        return [
            int(n)
            for n in self._lines(
                "api", f"repos/{self.repository}/commits/{sha}/pulls", "--jq", ".[].number"
            )
        ]

    def create_check_run(self, sha: str, plan_hash: str, title: str) -> None:
        """Record the reviewed plan's hash on the pull request's head commit (needs `checks:
        write`)."""
        self._run(
            "api",
            "-X",
            "POST",
            f"repos/{self.repository}/check-runs",
            "-f",
            f"name={CHECK_RUN_NAME}",
            "-f",
            f"head_sha={sha}",
            "-f",
            "status=completed",
            "-f",
            "conclusion=neutral",
            "-f",
            f"external_id={plan_hash}",
            "-f",
            f"output[title]={title}",
            "-f",
            f"output[summary]=Plan hash {plan_hash}",
        )

    def check_run_hashes(self, sha: str, app: str) -> list[str]:
        """The plan hashes of the plan check runs on a commit that the app `app` created (the
        workflow's token creates them as the github-actions app)."""
        return [
            str(run.get("external_id") or "")
            for run in self._lines(
                "api",
                f"repos/{self.repository}/commits/{sha}/check-runs",
                "--jq",
                f'.check_runs[] | select(.name == "{CHECK_RUN_NAME}") | '
                "{external_id: .external_id, app: .app.slug}",
            )
            if run.get("app") == app and run.get("external_id")
        ]

    def pull_head(self, number: int) -> str:
        return self._run(
            "api", f"repos/{self.repository}/pulls/{number}", "--jq", ".head.sha"
        ).strip()

    def open_issue(self, title: str) -> int | None:
        found = json.loads(
            self._run(
                "issue",
                "list",
                "--repo",
                self.repository,
                "--state",
                "open",
                "--search",
                f'"{title}" in:title',
                "--json",
                "number,title",
            )
            or "[]"
        )
        return next((int(item["number"]) for item in found if item["title"] == title), None)

    def create_issue(self, title: str, body_file: Path) -> None:
        self._run(
            "issue",
            "create",
            "--repo",
            self.repository,
            "--title",
            title,
            "--body-file",
            str(body_file),
        )

    def edit_issue(self, number: int, body_file: Path) -> None:
        self._run(
            "issue", "edit", str(number), "--repo", self.repository, "--body-file", str(body_file)
        )

    def close_issue(self, number: int, comment: str) -> None:
        self._run("issue", "close", str(number), "--repo", self.repository, "--comment", comment)


def _body_file(context: ActionContext, name: str, text: str) -> Path:
    path = context.temp / name
    path.write_text(text)
    return path


def _head_sha(context: ActionContext) -> str:
    return str(((context.event.get("pull_request") or {}).get("head") or {}).get("sha") or "")


def _sticky_comment(context: ActionContext, gh: Gh, markdown: str) -> None:
    number = (context.event.get("pull_request") or {}).get("number")
    if not number:
        return
    head = _head_sha(context)
    body = _body_file(
        context,
        "ideogram-org-comment.md",
        markdown + (f"\n\n{HEAD_MARKER}{head} -->" if head else ""),
    )
    existing = next(
        (
            c
            for c in gh.comments(number)
            if (c.get("body") or "").startswith(MARKER_PREFIX) and _by_the_workflow(context, c)
        ),
        None,
    )
    if existing:
        gh.update_comment(existing["id"], body)
    else:
        gh.create_comment(number, body)


def _by_the_workflow(context: ActionContext, comment: dict[str, Any]) -> bool:
    """A comment the workflow's own identity wrote (its app's bot user), not anyone's."""
    return comment.get("login") == f"{context.review_app}[bot]" and comment.get("type") == "Bot"


def _reviewed_hash(context: ActionContext, gh: Gh) -> str | None:
    """The plan hash reviewed on the pull request that brought this commit, as only the workflow
    itself vouches for it: the check run its plan step created on the pull request's head commit,
    else its own sticky comment naming that head commit. A marker anyone else wrote counts for
    nothing."""
    for number in gh.pulls_for_commit(context.sha):
        try:
            head = gh.pull_head(number)
        except GitHubError:
            continue
        try:
            hashes = gh.check_run_hashes(head, context.review_app)
        except GitHubError:
            hashes = []
        if hashes:
            return hashes[-1]
        for comment in gh.comments(number):
            body = comment.get("body") or ""
            if (
                body.startswith(MARKER_PREFIX)
                and _by_the_workflow(context, comment)
                and f"{HEAD_MARKER}{head} -->" in body
            ):
                return body[len(MARKER_PREFIX) :].split("-->", 1)[0].strip()
    return None


def _record_check_run(context: ActionContext, gh: Gh, plan: Plan) -> None:
    head = _head_sha(context)
    if not head:
        return
    try:
        gh.create_check_run(
            head, plan.plan_hash, summary_line(plan) if plan.has_differences else "No changes."
        )
    except GitHubError as exc:
        if not context.comment:
            print(
                workflow_command(
                    "warning",
                    f"the plan could not be recorded as a check run ({exc}); with comment: "
                    "false, apply on merge will refuse with no-reviewed-plan. Give the workflow "
                    "permissions: checks: write",
                )
            )


def _publish_plan(context: ActionContext, plan: Plan, changes: bool) -> None:
    """Save the plan for later steps and name it in the outputs."""
    plan_path = context.temp / "ideogram-org-plan.json"
    save_plan(plan, plan_path)
    context.set_output("changes", str(changes).lower())
    context.set_output("plan-json", str(plan_path))
    context.set_output("plan-hash", plan.plan_hash)


def _fail(context: ActionContext, reason: str, message: str) -> int:
    context.set_output("failure-reason", reason)
    context.set_exit_code(ExitCode.ERROR)
    print(workflow_command("error", message))
    return ExitCode.ERROR


def _refuse_if_unsafe(context: ActionContext, plan: Plan) -> int | None:
    if plan.safe:
        return None
    return _fail(
        context,
        "unsafe-plan",
        f"the plan is unsafe: {'; '.join(v.message for v in plan.violations)}",
    )


def _undeliverable(plan: Plan, config: LoadedConfig) -> str:
    """Why a runner cannot create the plan's new keys, in markdown; "" when it can."""
    problems = not_deliverable_from_runner(plan, config)
    if not problems:
        return ""
    lines = "\n".join(f"> - {md_code(problem)}" for problem in problems)
    return (
        "\n\n> [!CAUTION]\n> **A new key's secret would have nowhere to go from the runner: "
        f"apply on merge would refuse it.**\n{lines}"
    )


def _plan(context: ActionContext, gh: Gh) -> int:
    config = load_config(context.config)
    store = open_store(config, context.audit_log, override=context.state)
    with open_api(endpoint=context.endpoint) as reader:
        plan = service.plan_with_state(reader, config, store=store).plan
    _publish_plan(context, plan, plan.has_differences)
    stuck = _undeliverable(plan, config)
    markdown = render_markdown(plan) + stuck
    context.summary(markdown)
    if context.comment:
        _sticky_comment(context, gh, markdown)
    _record_check_run(context, gh, plan)
    refused = _refuse_if_unsafe(context, plan)
    if refused is not None:
        return refused
    if stuck:
        return _fail(
            context,
            "key-not-deliverable",
            "; ".join(not_deliverable_from_runner(plan, config)),
        )
    context.set_exit_code(ExitCode.CHANGES if plan.has_differences else ExitCode.OK)
    return ExitCode.OK


def _apply(context: ActionContext, gh: Gh) -> int:
    config = load_config(context.config)
    store = open_store(config, context.audit_log, override=context.state)
    with open_api(endpoint=context.endpoint, writable=True) as client:
        planned = service.plan_with_state(client, config, store=store)
        plan = planned.plan
        _publish_plan(context, plan, bool(plan.changes))
        if not plan.changes:
            nothing = NothingToApply(plan_hash=plan.plan_hash, blocked=len(plan.blocked))
            context.summary(render_apply_markdown(nothing))
            context.set_exit_code(ExitCode.OK)
            return ExitCode.OK
        reviewed = _reviewed_hash(context, gh)
        if reviewed is None:
            context.summary(
                f"### ideogram-org apply refused\n\n{NO_REVIEWED_PLAN}.\n\n" + render_markdown(plan)
            )
            return _fail(context, "no-reviewed-plan", f"refusing to apply: {NO_REVIEWED_PLAN}")
        if reviewed != plan.plan_hash:
            why = (
                f"the plan now ({plan.plan_hash[:12]}) differs from the plan reviewed on the pull "
                "request "
                f"({reviewed[:12]})"
            )
            context.summary(
                f"### ideogram-org apply refused\n\n{why}; nothing was sent. Open a pull request "
                f"to review the current plan.\n\n" + render_markdown(plan)
            )
            return _fail(context, "plan-changed", f"refusing to apply: {why}")
        refused = _refuse_if_unsafe(context, plan)
        if refused is not None:
            return refused
        problems = not_deliverable_from_runner(plan, config)
        if problems:
            return _fail(context, "key-not-deliverable", "; ".join(problems))
        options = service.ApplyOptions(
            audit_log=context.audit_log,
            store=store,
            progress=lambda line: print(line, file=sys.stderr),
        )
        report = service.apply(client, planned, options, ReviewedPlan(reviewed))
    notify_applied(config, store, report, lambda line: print(line, file=sys.stderr))
    return _applied(context, config, report)


def _applied(context: ActionContext, config: LoadedConfig, report: Report) -> int:
    """The summary and outputs of a run that went out: the audit head, the age files written."""
    context.summary(render_apply_markdown(report))
    if isinstance(report, ApplyReport):
        context.set_output("audit-head", report.audit_head)
        context.set_output(
            "delivered-files", "\n".join(delivered_files(config, report.new_key_ids))
        )
    if report.failed:
        context.set_output("failure-reason", "apply-failed")
        context.set_exit_code(ExitCode.ERROR)
        return ExitCode.ERROR
    context.set_exit_code(ExitCode.OK)
    return ExitCode.OK


def _rotate(context: ActionContext, gh: Gh) -> int:
    """The scheduled rotation phase: what the file's `rotate:` schedule asks for now, nothing
    else (other differences wait for a reviewed pull request; drift reports them)."""
    config = load_config(context.config)
    store = open_store(config, context.audit_log, override=context.state)
    with open_api(endpoint=context.endpoint, writable=True) as client:
        options = service.ApplyOptions(
            audit_log=context.audit_log,
            store=store,
            progress=lambda line: print(line, file=sys.stderr),
        )
        phases, report = service.rotate(client, config, options)
    _publish_plan(context, phases, bool(phases.changes))
    context.summary(render_markdown(phases))
    if isinstance(report, NothingToApply):
        context.set_exit_code(ExitCode.OK)
        return ExitCode.OK
    return _applied(context, config, report)


def _watch(context: ActionContext, gh: Gh) -> int:
    """The hourly budget watch: findings in the job summary; the containment the file's budgets
    ask for (deactivate, rotate) carried out, as `watch --contain` does (the budgets' action was
    reviewed when it was merged), through apply's limits and audit."""
    from .service.notify import notify_watch
    from .service.watch import watch

    config = load_config(context.config)
    store = open_store(config, context.audit_log, override=context.state)
    with open_api(endpoint=context.endpoint, writable=True) as client:
        options = service.ApplyOptions(
            audit_log=context.audit_log,
            store=store,
            progress=lambda line: print(line, file=sys.stderr),
        )
        watched = watch(client, config, (), 1, True, options)
    context.summary(render_watch_markdown(watched.report))
    notify_watch(config, store, watched.report, lambda line: print(line, file=sys.stderr))
    if any(c.outcome in ("refused", "failed") for c in watched.report.containment):
        return _fail(context, "containment-failed", "a key over budget was not contained")
    if watched.report.findings:
        context.set_output("failure-reason", "budget")
        context.set_exit_code(ExitCode.CHANGES)
        return ExitCode.CHANGES
    context.set_exit_code(ExitCode.OK)
    return ExitCode.OK


def _spend_report(reader: ApiReader, config: LoadedConfig | None) -> UsageReport:
    now = datetime.now(timezone.utc)
    since = days_back(now, SPEND_DAYS)
    return service.usage(reader, config, (), since, now, "key", now)


def _usage(context: ActionContext, gh: Gh) -> int:
    threshold = alert_share(context.alert_at) if context.alert_at else None
    config = load_config(context.config) if Path(context.config).exists() else None
    with open_api(endpoint=context.endpoint, writable=False) as reader:
        report = _spend_report(reader, config)
    context.summary(render_usage_markdown(report))
    gaps = report.alarm_gaps() if threshold is not None else []
    if gaps:
        return _fail(context, "alarm-not-evaluated", "spend alarm not judged: " + "; ".join(gaps))
    alerts = report.alert(threshold) if threshold is not None else []
    for line in alerts:
        print(workflow_command("warning", f"spend alert: {line}"))
    context.set_output("spend-alert", "true" if alerts else "false")
    context.set_exit_code(ExitCode.CHANGES if alerts else ExitCode.OK)
    if alerts:
        context.set_output("failure-reason", "spend-alert")
    return ExitCode.CHANGES if alerts else ExitCode.OK


def _drift(context: ActionContext, gh: Gh) -> int:
    config = load_config(context.config)
    store = open_store(config, context.audit_log, override=context.state)
    with open_api(endpoint=context.endpoint, writable=False) as reader:
        result = service.drift(reader, config, store=store)
        spend = ""
        if context.spend:
            try:
                spend = render_usage_markdown(_spend_report(reader, config), heading="#### Spend")
            except (
                ReconcilerError
            ) as exc:  # spend is context for the issue: drift is still reported
                spend = f"#### Spend\n\nSpend could not be read: {exc}"
    report = result.report
    notify_drift(config, store, report, lambda line: print(line, file=sys.stderr))
    markdown = render_drift_markdown(report) + (f"\n\n{spend}" if spend else "")
    context.summary(markdown)
    _publish_plan(context, result.planned.plan, report.drifted)
    number = gh.open_issue(DRIFT_ISSUE_TITLE)
    if report.drifted:
        body = _body_file(context, "ideogram-org-drift.md", markdown)
        if number:
            gh.edit_issue(number, body)
        else:
            gh.create_issue(DRIFT_ISSUE_TITLE, body)
        context.set_output("failure-reason", "drift")
        context.set_exit_code(ExitCode.CHANGES)
    else:
        if number:
            gh.close_issue(number, "The organization is back in sync with the file.")
        context.set_exit_code(ExitCode.OK)
    return ExitCode.OK


def run_action(env: Mapping[str, str] | None = None) -> int:
    env = os.environ if env is None else env
    context: ActionContext | None = None
    try:
        context = ActionContext.from_env(env)
        gh = Gh(context.repository)
        run = {
            "plan": _plan,
            "apply": _apply,
            "drift": _drift,
            "usage": _usage,
            "rotate": _rotate,
            "watch": _watch,
        }
        return run[context.command](context, gh)
    except ReconcilerError as exc:
        message = str(exc)
        print(workflow_command("error", message))
        if context is not None:
            context.set_output("failure-reason", "error")
            context.set_exit_code(ExitCode.ERROR)
            shown = visible(message, keep_newlines=True)
            context.summary(f"### ideogram-org {context.command} failed\n\n{shown}")
        return ExitCode.ERROR
    finally:
        if context is not None:
            context.flush_outputs()
