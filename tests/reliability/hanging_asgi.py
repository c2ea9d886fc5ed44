"""The application, for the worker-kill test only (never used by the product).

When ``CHALKBOARD_TEST_HANG_MARKER`` names a file, a session completion stops right after it inserted its
earning entry, still inside its transaction: it writes the entry's id to that file, so the test knows the
moment has come, and sleeps (``CHALKBOARD_TEST_HANG_SECONDS``, 60 by default) until the test kills the
process. Without the variable this is the plain application.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from config.asgi import application as _application

MARKER = os.environ.get("CHALKBOARD_TEST_HANG_MARKER")

if MARKER:
    from chalkboard.completion import services as completion
    from chalkboard.earnings import services as earnings_services

    _record = earnings_services.earning_record_for_session

    def _record_then_hang(**kwargs: Any) -> Any:
        entry = _record(**kwargs)
        Path(MARKER).write_text(str(entry.pk))
        time.sleep(float(os.environ.get("CHALKBOARD_TEST_HANG_SECONDS", "60")))
        return entry

    # The completion calls it by the name it imported, so that is the name to replace.
    completion.earning_record_for_session = _record_then_hang
    earnings_services.earning_record_for_session = _record_then_hang

application = _application
