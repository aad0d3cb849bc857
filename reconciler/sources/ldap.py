"""An `ldap` source: the people of a directory group, through ldap3.

Membership is read the ways directories write it: a group's `member` (groupOfNames) or
`uniqueMember` (groupOfUniqueNames) values, or `memberOf` on the people (Active Directory,
OpenLDAP's memberof overlay). With `nested`, member groups are expanded, each once: a cycle
(a group that contains itself through others) ends where it closes. Groups and people are read
with paged searches (RFC 2696), so a group of 100,000 costs a hundred round trips, not 100,000.
Credentials come from the environment only; plain `ldap://` is allowed to loopback alone,
anything else goes over StartTLS or `ldaps://`.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import ldap3
from ldap3.core.exceptions import LDAPException

from ..api.credentials import is_loopback
from ..config.source_models import LdapSource
from ..model.sources import SourcedEntry
from .base import MemberSource, SourceAnswer, SourceError

PAGE = 1000
# attribute names in plain dicts (this module looks them up without case itself): ldap3's
# case-insensitive dicts cost a third of reading 100,000 entries
ldap3.set_config_parameter("CASE_INSENSITIVE_ATTRIBUTE_NAMES", False)
GROUP_FILTER = "(|(objectClass=groupOfNames)(objectClass=groupOfUniqueNames)(objectClass=group))"
MEMBER_ATTRIBUTES = ("member", "uniqueMember")


def normalise_dn(dn: str) -> str:
    """A DN as two spellings of it compare equal: RDNs trimmed, case folded (attribute names and
    the values of the usual naming attributes compare without case)."""
    if " " not in dn and dn.isascii():
        return dn.lower()  # the common case, 100,000 times for a large group
    return ",".join(part.strip() for part in dn.split(",")).casefold()


def _base_of(dn: str) -> str:
    """The naming context of a DN: its dc= components."""
    return ",".join(
        part.strip() for part in dn.split(",") if part.strip().lower().startswith("dc=")
    )


class LdapGroupSource(MemberSource):
    def __init__(self, source: LdapSource) -> None:
        self.source = source
        self.spec = source.ldap

    def describe(self) -> str:
        return self.source.describe()

    def _credentials(self) -> tuple[str, str]:
        found = []
        for variable in (self.spec.bind_dn_env, self.spec.password_env):
            value = os.environ.get(variable, "")
            if not value:
                raise SourceError(
                    self.describe(), f"set {variable} (credentials come only from the environment)"
                )
            found.append(value)
        return found[0], found[1]

    def _connect(self) -> ldap3.Connection:
        name = self.describe()
        parts = urlsplit(self.spec.url)
        host = parts.hostname or ""
        secure = parts.scheme == "ldaps"
        tls = ldap3.Tls(validate=ssl.CERT_REQUIRED)
        server = ldap3.Server(
            host,
            port=parts.port,
            use_ssl=secure,
            tls=tls,
            connect_timeout=max(1, round(self.spec.timeout)),
            get_info=ldap3.NONE,
        )
        user, password = self._credentials()
        try:
            connection = ldap3.Connection(
                server,
                user=user,
                password=password,
                receive_timeout=max(1, round(self.spec.timeout)),  # whole seconds: ldap3 packs them
                raise_exceptions=False,
                read_only=True,
                check_names=False,  # values as UTF-8 text, without a schema read: 2x faster
            )
            if not secure and not is_loopback(host):
                connection.open()
                if not connection.start_tls():
                    raise SourceError(name, "StartTLS was refused: the password would go in clear")
            if not connection.bind():
                raise SourceError(name, f"the bind was refused ({_why(connection)})")
        except LDAPException as exc:
            raise SourceError(name, f"{type(exc).__name__}: {_first_line(exc)}") from None
        return connection

    def _search(
        self, connection: ldap3.Connection, base: str, query: str, attributes: list[str]
    ) -> Iterator[dict[str, Any]]:
        try:
            for found in connection.extend.standard.paged_search(
                base,
                query,
                attributes=attributes,
                paged_size=PAGE,
                generator=True,
            ):
                if found.get("type") == "searchResEntry":
                    yield found
        except LDAPException as exc:
            raise SourceError(
                self.describe(), f"{type(exc).__name__}: {_first_line(exc)}"
            ) from None
        result = connection.result or {}
        if result.get("result", 0) not in (0,):
            raise SourceError(self.describe(), f"the search failed ({_why(connection)})")

    def read(self) -> SourceAnswer:
        connection = self._connect()
        try:
            return self._read(connection)
        finally:
            connection.unbind()

    def _groups(self, connection: ldap3.Connection, base: str) -> dict[str, list[str]]:
        groups: dict[str, list[str]] = {}
        wanted = {name.lower() for name in MEMBER_ATTRIBUTES}
        for entry in self._search(connection, base, GROUP_FILTER, list(MEMBER_ATTRIBUTES)):
            values = entry.get("attributes", {})
            members = [
                str(v)
                for name, found in values.items()
                if name.lower() in wanted
                for v in found or []
            ]
            groups[normalise_dn(str(entry["dn"]))] = members
        return groups

    def _expand(self, groups: dict[str, list[str]], group: str) -> tuple[set[str], set[str]]:
        """The people DNs of `group` and the groups that were expanded (each once)."""
        people: set[str] = set()
        seen: set[str] = set()
        todo = [normalise_dn(group)]
        while todo:
            current = todo.pop()
            if current in seen:
                continue  # a cycle, or a group reached twice: expanded once
            seen.add(current)
            for member in groups.get(current, []):
                key = normalise_dn(member)
                if key in groups:
                    if self.spec.nested:
                        todo.append(key)
                else:
                    people.add(key)
        return people, seen

    def _read(self, connection: ldap3.Connection) -> SourceAnswer:
        name, spec = self.describe(), self.spec
        base = spec.base or _base_of(spec.group)
        if not base:
            raise SourceError(name, "give base: the group's DN has no dc= components")
        groups = self._groups(connection, base)
        if normalise_dn(spec.group) not in groups:
            raise SourceError(name, f"no group {spec.group} under {base}")
        people, expanded = self._expand(groups, spec.group)
        attribute = spec.email_attribute
        emails: dict[str, str] = {}
        by_member_of: set[str] = set()
        if people:
            # the groups list their people: every person's email, by one paged search
            query, attributes = "(|(objectClass=person)(objectClass=inetOrgPerson))", [attribute]
        else:
            # the people name their groups (memberOf): only they are read
            query = "(|" + "".join(f"(memberOf={_escape(g)})" for g in sorted(expanded)) + ")"
            attributes = [attribute, "memberOf"]
        for entry in self._search(connection, base, query, attributes):
            dn = normalise_dn(str(entry["dn"]))
            values = entry.get("attributes", {})
            mail = values.get(attribute)
            if mail is None:  # the server may spell the attribute another way
                mail = next((v for k, v in values.items() if k.lower() == attribute.lower()), None)
            mail = mail[0] if isinstance(mail, list) and mail else mail
            if isinstance(mail, str) and mail:
                emails[dn] = mail
            if not people:
                by_member_of.add(dn)
        entries, skipped = [], []
        for dn in sorted(people | by_member_of):
            if dn in emails:
                entries.append(SourcedEntry("email", emails[dn], self.source.role))
            else:
                skipped.append(f"{dn}: no {attribute} (not a person under {base}, or no email)")
        return SourceAnswer(entries, skipped)


def _escape(dn: str) -> str:
    """A DN as a filter value (RFC 4515)."""
    return "".join(f"\\{ord(c):02x}" if c in "*()\\\0" else c for c in dn)


def _why(connection: ldap3.Connection) -> str:
    result = connection.result or {}
    return str(result.get("description") or result.get("message") or "no reason given")


def _first_line(exc: Exception) -> str:
    return (str(exc).splitlines() or [""])[0][:200]
