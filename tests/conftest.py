"""Test configuration: Hypothesis profiles.

"ci" (used when the CI environment variable is set): a bounded number of
examples, no deadline (shared machines are noisy, a deadline only makes tests
flaky) and the reproduction blob printed on failure. "dev": more examples.
"""

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci",
    max_examples=25,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("dev", max_examples=60, deadline=None, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))

# tests/typing holds files for mypy to check (tests/test_typing.py), never to import or run:
# user_code.py fits and saves a model, user_mistakes.py fails on purpose.
collect_ignore = ["typing"]
