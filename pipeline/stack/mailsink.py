"""SMTP server that accepts every message and stores it as an .eml file, for demo report delivery.

Files are written atomically (temp name, then rename), named by arrival time,
so a test or a person can list the folder and open the newest report.
"""

from __future__ import annotations

import argparse
import itertools
import os
import signal
import threading
import time
from pathlib import Path

from aiosmtpd.controller import Controller

_counter = itertools.count()


class FolderHandler:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: N802 - aiosmtpd's hook name
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
        name = f"{stamp}-{os.getpid()}-{next(_counter):06d}.eml"
        header = (
            f"X-Envelope-From: {envelope.mail_from}\r\n"
            f"X-Envelope-To: {', '.join(envelope.rcpt_tos)}\r\n"
        ).encode()
        tmp = self.folder / f".{name}.tmp"
        tmp.write_bytes(header + envelope.original_content)
        tmp.rename(self.folder / name)
        return "250 Message accepted for delivery"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--dir", type=Path, required=True)
    args = parser.parse_args()
    controller = Controller(FolderHandler(args.dir), hostname=args.host, port=args.port)
    controller.start()
    print(f"mail sink listening on {args.host}:{args.port}, storing into {args.dir}", flush=True)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    done.wait()
    controller.stop()


if __name__ == "__main__":
    main()
