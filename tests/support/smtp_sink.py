"""A real SMTP server (aiosmtpd) for dun's email tests.

Usage: python3 smtp_sink.py PORT OUT.jsonl

Accepts every message and appends one JSON line per message to OUT.jsonl,
decoded with Python's email package: envelope, From, To, Subject,
Message-ID, the text and HTML parts. Prints "ready" once it listens, and
stops when its stdin closes (when the test that started it ends).

Recipients at busy.example are refused with 451 (try again later) the first
two times, so tests can see dun retry; recipients at bounce.example are
refused with 550 (no such user) every time.
"""

import email
import email.policy
import json
import sys
from collections import Counter

from aiosmtpd.controller import Controller


class Sink:
    def __init__(self, path):
        self.path = path
        self.busy = Counter()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        domain = address.rsplit("@", 1)[-1].lower()
        if domain == "bounce.example":
            return "550 5.1.1 no such user"
        if domain == "busy.example":
            self.busy[address] += 1
            if self.busy[address] <= 2:
                return "451 4.3.2 try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        text = message.get_body(("plain",))
        html = message.get_body(("html",))
        record = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "from": str(message["From"]),
            "to": str(message["To"]),
            "subject": str(message["Subject"]),
            "message_id": str(message["Message-ID"]),
            "text": text.get_content() if text is not None else None,
            "html": html.get_content() if html is not None else None,
        }
        with open(self.path, "a", encoding="utf-8") as out:
            out.write(json.dumps(record) + "\n")
        return "250 2.0.0 queued"


def main():
    port, path = int(sys.argv[1]), sys.argv[2]
    controller = Controller(Sink(path), hostname="127.0.0.1", port=port)
    controller.start()
    print("ready", flush=True)
    try:
        sys.stdin.read()
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
