"""The package runs on Linux, macOS and Windows: no bash, no sbin scripts, no POSIX-only process calls.

Shell scripts belong to the set-up (``scripts/``, the Makefile); inside the package, servers are
started and stopped with Python's own means (``ecom_assets/processes.py``). The one
exception is the opt-in warm run launcher, which forks a warm worker: POSIX only by nature, and
Dagster's default launcher does the same work everywhere (``docs/install.md``).
"""

from __future__ import annotations

import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "ecom_assets"
POSIX_ONLY = {
    "a POSIX-only os call": re.compile(r"\bos\.(fork|forkpty|killpg|setsid|setpgrp|setpgid|getpgid|kill|getuid|geteuid)\("),
    "a POSIX-only signal": re.compile(r"\bsignal\.SIG(KILL|HUP|USR1|USR2|CHLD|STOP|CONT)\b"),
    "a POSIX-only module": re.compile(r"^\s*(import|from)\s+(fcntl|pwd|grp|resource|termios|pty)\b", re.M),
    "preexec_fn (POSIX only)": re.compile(r"\bpreexec_fn\b"),
    "a shell": re.compile(r"[\"'](bash|sh|/bin/sh|/bin/bash)[\"']|shell=True"),
    "a shell script": re.compile(r"sbin/|\.sh[\"']"),
}
# The warm run launcher (opt-in, dagster-warm-launcher.yaml): forks runs from a warm worker, cancels by SIGINT.
WARM_LAUNCHER = {"runs/worker.py", "runs/launcher.py"}
# Where detaching a server is done once, for every OS.
PROCESS_HOME = "processes.py"


def _offences(path: Path) -> list[str]:
    """What in one module would not run on every OS."""
    text = path.read_text()
    return [what for what, pattern in POSIX_ONLY.items() if pattern.search(text)]


def test_no_module_needs_bash_a_shell_script_or_a_posix_only_call() -> None:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        name = path.relative_to(PACKAGE).as_posix()
        if name in WARM_LAUNCHER:
            continue
        offences = _offences(path)
        if "start_new_session" in path.read_text() and name != PROCESS_HOME:
            offences.append(f"start_new_session outside {PROCESS_HOME}")
        if offences:
            found[name] = offences
    assert found == {}


def test_the_scan_finds_what_it_looks_for(tmp_path: Path) -> None:
    probe = tmp_path / "probe.py"
    probe.write_text('import fcntl\nos.killpg(1, signal.SIGKILL)\nsubprocess.run(["bash", "sbin/start.sh"])\n')
    assert set(_offences(probe)) == {"a POSIX-only os call", "a POSIX-only signal", "a POSIX-only module",
                                     "a shell", "a shell script"}


def test_the_warm_launcher_is_the_only_exception_and_says_so_in_the_install_guide() -> None:
    for name in WARM_LAUNCHER:
        assert _offences(PACKAGE / name), f"{name} no longer needs POSIX: remove it from WARM_LAUNCHER"
    guide = (PACKAGE.parent / "docs" / "install.md").read_text()
    assert "warm run launcher" in guide and "POSIX" in guide
