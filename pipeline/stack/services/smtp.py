"""A local SMTP sink: Superset's scheduled reports are delivered here and kept as .eml files."""

from __future__ import annotations

import sys

from pipeline.config import Config
from pipeline.stack import health as probe
from pipeline.stack.layout import Layout
from pipeline.stack.service import Service


def mailbox(layout: Layout):
    return layout.data / "mail"


def health(config: Config) -> str:
    return probe.smtp_banner(config.smtp.host, config.smtp.port)


def service(config: Config, layout: Layout) -> Service:
    smtp = config.smtp
    return Service(
        name="smtp",
        port=smtp.port,
        argv=[sys.executable, "-m", "pipeline.stack.mailsink", "--host", "127.0.0.1",
              "--port", str(smtp.port), "--dir", str(mailbox(layout))],
        health=lambda: health(config),
        start_timeout_s=30,
    )
