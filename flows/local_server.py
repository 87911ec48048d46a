"""Prefect's temporary local server, tied to the life of the command that started it.

Without ``PREFECT_API_URL`` Prefect starts a temporary API server as a child
process on first use and stops it at exit (``atexit``). A ``kill -9`` of the
command skips ``atexit`` and used to leave that server running for good. Here
the command starts the server itself (Prefect then reuses that same instance)
and a tiny watchdog process waits for the command to die, however it dies, and
then stops the server. The watchdog needs nothing from Prefect and exits as soon
as the server is gone.
"""

from __future__ import annotations

import os
import subprocess
import sys

# Polls twice a second; SIGTERM, then SIGKILL after 5 s if the server does not stop.
_WATCHDOG = """
import os, signal, sys, time
owner, server = int(sys.argv[1]), int(sys.argv[2])
def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
while alive(server):
    if not alive(owner) or os.getppid() != owner:
        try:
            os.kill(server, signal.SIGTERM)
            for _ in range(50):
                time.sleep(0.1)
                if not alive(server):
                    break
            else:
                os.kill(server, signal.SIGKILL)
        except ProcessLookupError:
            pass
        break
    time.sleep(0.5)
"""


def start_local_server_if_needed() -> int | None:
    """Start the temporary server with a watchdog when no Prefect API is configured.

    Returns the watchdog's pid (None when a real server is configured). Must run in
    the command's process, before any flow.
    """
    from prefect.settings import PREFECT_API_URL

    if PREFECT_API_URL.value():
        return None
    from prefect.server.api.server import SubprocessASGIServer

    server = SubprocessASGIServer()  # the instance Prefect's clients use (keyed by port None)
    server.start()
    if server.server_process is None:  # pragma: no cover - start() raises instead
        return None
    watchdog = subprocess.Popen(
        [sys.executable, "-c", _WATCHDOG, str(os.getpid()), str(server.server_process.pid)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # a Ctrl-C for the command is not one for the watchdog
    )
    return watchdog.pid
