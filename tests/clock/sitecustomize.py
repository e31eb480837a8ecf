"""Python runs this file at start-up in every process the tests start while the suite runs with
`--clock`: it moves the process's clock by the same shift as the test process's, so a command
or server started by a test lives at the same moved moment (see tests/conftest.py)."""

import os

_shift = os.environ.get("YESLADDER_TEST_CLOCK_SHIFT")
if _shift:
    import time

    import time_machine

    time_machine.travel(time.time() + float(_shift), tick=True).start()
