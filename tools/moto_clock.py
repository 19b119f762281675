"""moto's server with an IAM clock the tests can turn back, so keys can be made or used "days ago".

The file named by KEYGUARD_MOTO_CLOCK holds how many days to turn the clock back (empty or absent: none).
Only IAM's clock moves: key creation dates and last-use records, nothing the HTTP layer signs or checks.
"""

import os
import sys
from datetime import timedelta
from pathlib import Path

import moto.iam.models
from moto.core.utils import utcnow as real_utcnow
from moto.server import main

CLOCK = Path(os.environ["KEYGUARD_MOTO_CLOCK"])


def utcnow():
    """Return moto's 'now', turned back as the clock file says."""
    days_back = float(CLOCK.read_text() or 0) if CLOCK.exists() else 0
    return real_utcnow() - timedelta(days=days_back)


moto.iam.models.utcnow = utcnow
main(sys.argv[1:])
