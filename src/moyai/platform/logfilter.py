"""Keep personal data out of application logs.

Request paths carry 宛名番号 (and a mistaken query could carry a 個人番号): every record passing
through the handlers has runs of 10 or more digits masked. Who read what lives in the access log
in the database, never in these logs.
"""

from __future__ import annotations

import logging
import re

_NUMBERS = re.compile(r"\d{10,}")


class RedactNumbers(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = _NUMBERS.sub(lambda m: "#" * len(m.group(0)), message)
        if masked != message:
            record.msg, record.args = masked, None
        return True
