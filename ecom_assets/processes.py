"""Background servers on any OS: start one detached from the terminal, stop it and its children.

Python's own means (``subprocess`` flags, psutil) rather than setsid, process groups or shell
scripts, so the same code runs on Linux, macOS and Windows.
"""

from __future__ import annotations

import os
import socket
import subprocess
from typing import Any

import psutil


def detached() -> dict[str, Any]:
    """``Popen`` arguments that keep a server out of the terminal's Ctrl-C and alive after its starter exits."""
    if os.name == "nt":
        return {"creationflags": subprocess.CREATE_NEW_PROCESS_GROUP | subprocess.DETACHED_PROCESS}
    return {"start_new_session": True}


def terminate_tree(pid: int, timeout_s: float = 30.0) -> None:
    """Ask a process and its children to end; kill those still there after ``timeout_s``."""
    try:
        process = psutil.Process(pid)
        family = [process, *process.children(recursive=True)]
    except psutil.NoSuchProcess:
        return
    for member in family:
        try:
            member.terminate()
        except psutil.NoSuchProcess:
            pass
    _, alive = psutil.wait_procs(family, timeout=timeout_s)
    for member in alive:
        try:
            member.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(alive, timeout=5)


def free_port() -> int:
    """A free TCP port on loopback, for a server started next."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_holder(port: int) -> str:
    """Who listens on TCP ``port`` (``"name (pid N)"``), or ``"another program"`` when the system does not
    say (listing other users' sockets can need privileges)."""
    try:
        connections = psutil.net_connections(kind="tcp")
    except (psutil.AccessDenied, OSError):
        return "another program"
    for connection in connections:
        if connection.status == psutil.CONN_LISTEN and connection.laddr and connection.laddr.port == port:
            if connection.pid is None:
                break
            try:
                return f"{psutil.Process(connection.pid).name()} (pid {connection.pid})"
            except psutil.Error:
                return f"pid {connection.pid}"
    return "another program"
