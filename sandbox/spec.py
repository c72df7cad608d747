"""Checking requests against the official Bot API method list (``api.json``).

The file is looked up, in order, at ``$TELEGRAM_API_SPEC`` and at
``<repo root>/../shared/telegram-bot-api/api.json``.  It is only ever read, never copied.
If no file is found, checking is off: every method name is accepted.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

ENV_VAR = "TELEGRAM_API_SPEC"
REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SPEC_PATH = REPO_ROOT.parent / "shared" / "telegram-bot-api" / "api.json"

_logged_missing = False


@dataclass(frozen=True)
class MethodSpec:
    """One Bot API method: its canonical name and its parameters."""

    name: str
    required: frozenset[str]
    optional: frozenset[str]
    returns: tuple[str, ...] = ()

    @property
    def params(self) -> frozenset[str]:
        return self.required | self.optional


@dataclass
class ApiSpec:
    """The methods of one Bot API version, matched case-insensitively like Telegram does."""

    version: str
    methods: dict[str, MethodSpec] = field(default_factory=dict)  # keyed by lower-case name
    path: Path | None = None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], path: Path | None = None) -> ApiSpec:
        methods: dict[str, MethodSpec] = {}
        for name, raw in (data.get("methods") or {}).items():
            fields = raw.get("fields") or []
            required = frozenset(f["name"] for f in fields if f.get("required"))
            optional = frozenset(f["name"] for f in fields if not f.get("required"))
            canonical = raw.get("name", name)
            methods[canonical.lower()] = MethodSpec(
                canonical, required, optional, tuple(raw.get("returns") or ())
            )
        return cls(version=str(data.get("version", "?")), methods=methods, path=path)

    def canonical(self, method: str) -> str | None:
        """The spec's spelling of ``method`` (any case), or None when it does not exist."""
        spec = self.methods.get(method.lower())
        return spec.name if spec else None

    def get(self, method: str) -> MethodSpec | None:
        return self.methods.get(method.lower())

    def missing_required(self, method: str, present: Iterable[str]) -> list[str]:
        """Required parameters of ``method`` that are not in ``present`` (spec order-free)."""
        spec = self.get(method)
        if spec is None:
            return []
        have = set(present)
        return sorted(p for p in spec.required if p not in have)

    def unknown_params(self, method: str, present: Iterable[str]) -> list[str]:
        """Parameters passed that ``method`` does not define (Telegram ignores them silently)."""
        spec = self.get(method)
        if spec is None:
            return []
        return sorted(p for p in present if p not in spec.params)


def candidate_paths() -> list[Path]:
    paths: list[Path] = []
    env = os.environ.get(ENV_VAR)
    if env:
        paths.append(Path(env))
    paths.append(DEFAULT_SPEC_PATH)
    return paths


def find_spec_path() -> Path | None:
    for path in candidate_paths():
        if path.is_file():
            return path
    return None


def load_spec(path: Path | str | None = None) -> ApiSpec | None:
    """Load ``api.json`` from ``path`` or the default locations; None when there is none."""
    global _logged_missing
    resolved = Path(path) if path is not None else find_spec_path()
    if resolved is None or not resolved.is_file():
        if not _logged_missing:
            _logged_missing = True
            log.debug(
                "Bot API spec not found (looked at %s); method checking is off",
                ", ".join(str(p) for p in candidate_paths()),
            )
        return None
    with resolved.open(encoding="utf-8") as fh:
        data = json.load(fh)
    return ApiSpec.from_dict(data, resolved)
