"""CPU time per request in process (Django's test client): a new visitor's entry page and
tracking API batches of 1 and 100 events, on a fresh SQLite data directory.

    uv run python bench/request_cpu.py      # from a checkout's root; run two trees in turn

Process CPU time barely moves with the machine's load (wrk's requests per second do), so an
A/B of two trees on a shared machine compares this figure, the trees taking turns.
"""

import base64
import json
import os
import tempfile
import time
import uuid
from pathlib import Path

BROWSER = {
    "HTTP_USER_AGENT": "Mozilla/5.0 (X11; Linux x86_64; rv:131.0) Gecko/20100101 Firefox/131.0",
    "HTTP_HOST": "127.0.0.1",
}


def set_up() -> str:
    """A fresh installation with the examples loaded; returns the tracking API's auth header."""
    os.environ.update(YESLADDER_HOME=tempfile.mkdtemp(), YESLADDER_LOG_LEVEL="ERROR",
                      DJANGO_SETTINGS_MODULE="yesladder.settings")  # fmt: skip
    os.environ.pop("DATABASE_URL", None)
    import django

    django.setup()
    from django.core.management import call_command

    from yesladder.funnels.services import load_funnel
    from yesladder.funnels.spec import read_spec
    from yesladder.tracking import sites

    call_command("migrate", verbosity=0)
    for name in ("b2b-ladder.yaml", "solo-ad.yaml"):
        load_funnel(read_spec(Path.cwd() / "examples" / name))
    key = sites.create_key("bench", ["https://blog.example.com"])
    return "Basic " + base64.b64encode(f"{key.key}:".encode()).decode()


def per_call(fn, calls: int) -> float:
    """Milliseconds of this process's CPU per call, after one call to warm up."""
    fn(-1)
    began = time.process_time()
    for i in range(calls):
        fn(i)
    return (time.process_time() - began) / calls * 1000


def main() -> None:
    auth = set_up()
    from django.test import Client

    def entry(_):
        answer = Client(**BROWSER).get("/f/b2b-ladder/")
        assert answer.status_code == 200, answer.status_code

    def batch(size):
        def send(i):
            messages = [
                {"type": "track", "event": "Clicked", "messageId": uuid.uuid4().hex,
                 "anonymousId": f"a{(i * size + k) % 5000}"}
                for k in range(size)
            ]  # fmt: skip
            answer = Client(**BROWSER).post(
                "/v1/batch", json.dumps({"batch": messages}), content_type="application/json",
                HTTP_AUTHORIZATION=auth,
            )  # fmt: skip
            assert answer.status_code == 200, answer.content

        return send

    print(f"entry {per_call(entry, 300):.2f} ms  batch1 {per_call(batch(1), 300):.2f} ms  "
          f"batch100 {per_call(batch(100), 40):.2f} ms")  # fmt: skip


if __name__ == "__main__":
    main()
