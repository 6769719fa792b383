"""Reading the YAML files that configure jobs (fraud rules, health weights).

Each file's own module validates the content; this only turns a missing file
or broken YAML into that module's error, with the path in the message.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml


def read(path: Path, what: str, error: type[ValueError]) -> Any:
    try:
        return yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise error(f"{path}: {what} not found") from None
    except yaml.YAMLError as exc:
        raise error(f"{path}: not valid YAML: {exc}") from None
