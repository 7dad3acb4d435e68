"""Loaded by every Python process of the offline test (PYTHONPATH): logs each attempt to reach a host.

Python's audit events see every socket.connect and name lookup, whoever makes it (the app server,
a worker, the CLI, a library); the test reads the log and fails on any address off the loopback.
"""
import json
import os
import sys

LOG = os.environ.get("NETWORK_AUDIT_LOG")


def _log_network(event: str, args: tuple) -> None:
    if event == "socket.connect":
        address = args[1]
    elif event == "socket.getaddrinfo":
        address = args[:2]
    else:
        return
    with open(LOG, "a") as out:
        out.write(json.dumps({"pid": os.getpid(), "event": event, "address": repr(address),
                              "argv": sys.argv[:3]}) + "\n")


if LOG:
    sys.addaudithook(_log_network)
