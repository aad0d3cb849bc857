"""Which source reads an entry of `sources:`: one module per kind here, and any other package's
through the entry point group `ideogram_org.sources` (as octoDNS finds its providers). A plugin
is a class taking (options: dict, role: str) whose instances are `MemberSource`s."""

from __future__ import annotations

from importlib.metadata import entry_points
from pathlib import Path

from ..config.source_models import (
    CsvSource,
    FileSource,
    LdapSource,
    PluginSource,
    ScimSource,
    Source,
)
from ..errors import ReconcilerError
from .base import MemberSource, SourceAnswer, SourceError

ENTRY_POINT_GROUP = "ideogram_org.sources"


def _plugin(source: PluginSource) -> MemberSource:
    name = source.plugin.name
    found = [e for e in entry_points(group=ENTRY_POINT_GROUP) if e.name == name]
    if not found:
        raise SourceError(
            source.describe(),
            f"no installed package provides the source {name!r} (entry point group "
            f"{ENTRY_POINT_GROUP})",
        )
    try:
        made = found[0].load()(dict(source.plugin.options), source.role)
    except Exception as exc:  # noqa: BLE001 - another package's code: any failure is its own
        raise SourceError(source.describe(), f"the plugin failed to start: {exc}") from None
    if not isinstance(made, MemberSource):
        raise SourceError(source.describe(), "the plugin does not give a MemberSource")
    return _Guarded(made, source.describe())


class _Guarded(MemberSource):
    """Another package's source, whose failures are one line like a built-in source's, not a
    traceback: the plan fails and nothing is sent."""

    def __init__(self, inner: MemberSource, name: str) -> None:
        self.inner, self.name = inner, name

    def describe(self) -> str:
        try:
            return self.inner.describe()
        except Exception:  # noqa: BLE001 - another package's code
            return self.name

    def read(self) -> SourceAnswer:
        try:
            answer = self.inner.read()
        except ReconcilerError:
            raise
        except Exception as exc:  # noqa: BLE001 - another package's code: any failure is its own
            why = (str(exc).splitlines() or [""])[0][:200]
            raise SourceError(
                self.describe(), f"the plugin failed: {type(exc).__name__}: {why}"
            ) from None
        if not isinstance(answer, SourceAnswer):
            raise SourceError(self.describe(), "the plugin's read gave no SourceAnswer")
        return answer


def source_for(source: Source, config_path: Path) -> MemberSource:
    """The reader of one `sources:` entry (paths relative to the desired file's folder)."""
    if isinstance(source, FileSource):
        from .team import TeamFileSource

        return TeamFileSource(source, config_path)
    if isinstance(source, CsvSource):
        from .csv_export import CsvExportSource

        return CsvExportSource(source, config_path)
    if isinstance(source, LdapSource):
        from .ldap import LdapGroupSource  # ldap3 is loaded only for a directory

        return LdapGroupSource(source)
    if isinstance(source, ScimSource):
        from .scim import ScimGroupSource  # and scim2-models only for SCIM

        return ScimGroupSource(source)
    return _plugin(source)
