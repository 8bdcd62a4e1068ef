"""What the client checks share: counted checks that stop at the first failure, naming it, and reading a metric."""
import re
import sys
import urllib.request


class Checks:
    """`check(condition, what)` exits with "FAILED: what" unless the condition holds; `count` says how many held."""

    def __init__(self):
        self.count = 0

    def __call__(self, condition, what):
        if not condition:
            sys.exit(f"FAILED: {what}")
        self.count += 1

    def passed(self):
        """Counts a check that held by not raising (a validator, an expected exception)."""
        self.count += 1


def metric(base, name, missing=0.0):
    """The value of the unlabelled Prometheus series `name` at `base`/metrics (`missing` when absent)."""
    text = urllib.request.urlopen(base + "/metrics").read().decode()
    match = re.search(rf"^{name} ([0-9.e+-]+)$", text, re.M)
    return float(match.group(1)) if match else missing
