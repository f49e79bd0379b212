"""reports/: where the runs' files go (locust's, the benchmark's, a refused replica's log)."""

import tempfile
import time
from pathlib import Path

REPORTS = Path("reports")


def new_report_dir(prefix="", suffix=""):
    """A new folder in reports/, named by the time now (UTC), readable by the containers."""
    REPORTS.mkdir(exist_ok=True)
    now = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    made = Path(tempfile.mkdtemp(prefix=f"{prefix}{now}{suffix}-", dir=REPORTS))
    made.chmod(0o755)
    return made
