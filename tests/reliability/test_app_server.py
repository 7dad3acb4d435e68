"""Issue 6, case 11: the app started as the README says (`streamlit run streamlit_app.py`, settings
from .streamlit/config.toml; only a free port and headless added: the session's shared server of
tests/app_server.py) listens on 127.0.0.1 only and has Streamlit's XSRF protection on."""
from __future__ import annotations

import os
import re
import socket
import urllib.error
import urllib.request
from pathlib import Path

import pytest

LISTEN = "0A"


def decode_address(hex_address: str) -> tuple[str, int]:
    """'0100007F:1F90' from /proc/net/tcp (or its 32-digit tcp6 form) -> ('127.0.0.1', 8080)."""
    host, port = hex_address.split(":")
    raw = bytes.fromhex(host)
    # the kernel prints each 32-bit word in host (little-endian) order
    raw = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
    family = socket.AF_INET if len(raw) == 4 else socket.AF_INET6
    return socket.inet_ntop(family, raw), int(port, 16)


def listening_sockets(pid: int) -> list[tuple[str, int]]:
    """(address, port) of every listening TCP socket the process holds, read from /proc."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            match = re.fullmatch(r"socket:\[(\d+)\]", os.readlink(fd))
        except OSError:
            continue
        if match:
            inodes.add(match.group(1))
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == LISTEN and fields[9] in inodes:
                found.append(decode_address(fields[1]))
    return found


def other_local_addresses() -> list[str]:
    """This machine's own IPv4 addresses that are not loopback (from /proc/net/fib_trie)."""
    lines = Path("/proc/net/fib_trie").read_text().splitlines()
    found = {lines[i - 1].split()[-1] for i, line in enumerate(lines) if "/32 host LOCAL" in line}
    return sorted(a for a in found if not a.startswith("127."))


def health_headers(url: str):
    with urllib.request.urlopen(f"{url}/_stcore/health", timeout=10) as response:
        return response.headers


def put_upload(url: str, headers: dict[str, str]) -> int:
    """PUT to the file-upload endpoint, the one that enforces XSRF; returns the HTTP status."""
    request = urllib.request.Request(f"{url}/_stcore/upload_file/no-such-session/no-such-file", data=b"x",
                                     method="PUT", headers=headers)
    try:
        return urllib.request.urlopen(request, timeout=10).status
    except urllib.error.HTTPError as err:
        return err.code


def test_the_app_listens_on_localhost_only(app):
    assert listening_sockets(app.process.pid) == [("127.0.0.1", app.port)]
    for address in other_local_addresses():  # reachable from the network it would be here
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection((address, app.port), timeout=5).close()


def test_the_app_has_xsrf_protection_on(app):
    url = app.url
    cookies = health_headers(url).get_all("Set-Cookie") or []
    token = [c.split(";")[0].split("=", 1)[1] for c in cookies if c.startswith("_streamlit_xsrf=")]
    assert token, f"no XSRF cookie set: {cookies}"
    # an upload without the token is refused for that reason (unprotected, it would get 400: no session)
    assert put_upload(url, {}) == 403
    assert put_upload(url, {"Cookie": f"_streamlit_xsrf={token[0]}"}) == 403
    assert put_upload(url, {"X-Xsrftoken": token[0]}) == 403
    # with the cookie and the matching header it passes the XSRF check and fails on the fake session
    assert put_upload(url, {"Cookie": f"_streamlit_xsrf={token[0]}", "X-Xsrftoken": token[0]}) == 400
