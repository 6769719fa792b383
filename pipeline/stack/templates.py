"""Fill `${name}` placeholders in the stack's config templates (infra/local/...).

A placeholder without a value is an error, not an empty string: a silently
blank port or path makes a service fail far from the cause.
"""

from __future__ import annotations

import string
from pathlib import Path
from typing import Mapping

from pipeline.stack.errors import StackError


def render(template: Path, values: Mapping[str, object]) -> str:
    try:
        return string.Template(template.read_text()).substitute({k: str(v) for k, v in values.items()})
    except KeyError as exc:
        raise StackError(f"template {template} uses ${{{exc.args[0]}}} but no value was given for it") from None
    except ValueError as exc:
        raise StackError(f"template {template} is malformed ({exc}); write a literal dollar as $$") from None


def write(template: Path, target: Path, values: Mapping[str, object], mode: int = 0o644) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(render(template, values))
    target.chmod(mode)
    return target
