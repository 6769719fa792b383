"""The report delivery path's plumbing: Redis for Celery, the SMTP sink for mail."""

import smtplib
import socket
import time
from email.message import EmailMessage

from pipeline.stack.layout import Layout
from pipeline.stack.services.smtp import mailbox


def test_smtp_sink_stores_delivered_mail(test_stack):
    config = test_stack.need("smtp")
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = config.smtp.mail_from, "cfo@example.com", "Daily P&L"
    message.set_content("total: 1234.56")
    with smtplib.SMTP(config.smtp.host, config.smtp.port, timeout=10) as smtp:
        smtp.send_message(message)
    folder = mailbox(Layout.from_config(config))
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        stored = [p.read_text() for p in folder.glob("*.eml")]
        if any("Subject: Daily P&L" in text for text in stored):
            break
        time.sleep(0.2)
    assert any("Subject: Daily P&L" in t and "X-Envelope-To: cfo@example.com" in t for t in stored)


def test_redis_set_and_get(test_stack):
    config = test_stack.need("redis")
    with socket.create_connection((config.redis.host, config.redis.port), timeout=5) as sock:
        sock.sendall(b"*3\r\n$3\r\nSET\r\n$5\r\nsmoke\r\n$2\r\nok\r\n*2\r\n$3\r\nGET\r\n$5\r\nsmoke\r\n")
        time.sleep(0.2)
        reply = sock.recv(100)
    assert reply == b"+OK\r\n$2\r\nok\r\n"
