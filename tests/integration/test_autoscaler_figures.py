"""control/autoscaler.py's figures: what Prometheus scrapes from the autoscaler, over real HTTP."""

import urllib.request

from control.autoscaler import Figures
from helpers.support import free_port


def test_the_autoscaler_exports_its_desired_and_current_replicas():
    figures, port = Figures(), free_port()
    figures.serve(port)
    figures.desired, figures.current = 4, 2
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    assert "counter_autoscaler_desired_replicas 4\n" in text
    assert "counter_autoscaler_current_replicas 2\n" in text
