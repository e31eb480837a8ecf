"""The background work, as django-tasks tasks on the database backend (`yesladder worker`)."""

import os
import socket

from django_tasks import task

from yesladder.automation import outbox

WORKER = f"{socket.gethostname()[:40]}:{os.getpid()}"


@task()
def send_message(message_id: int) -> str:
    return outbox.send(message_id, WORKER)
