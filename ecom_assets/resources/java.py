"""The Java that Spark will start, found the way Spark's launcher finds it, and what to do without it.

Spark's launcher runs ``$JAVA_HOME/bin/java`` when ``JAVA_HOME`` is set, else the ``java`` on the
PATH. Without a usable one, PySpark only says ``[JAVA_GATEWAY_EXITED] Java gateway process exited
before sending its port number``; ``ecom doctor`` and the Spark resource say which Java is missing
or too old, and how to install one.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

MIN_JAVA = 17
INSTALL = f"install Java {MIN_JAVA} or newer (Debian/Ubuntu: sudo apt-get install -y openjdk-17-jre-headless)"


@dataclass(frozen=True)
class JavaFound:
    """The Java Spark would run (``path`` None when there is none), its version line, and the problem, if any."""

    path: str | None
    version: str
    problem: str = ""

    @property
    def fix(self) -> str:
        """What to do about ``problem``."""
        if not self.problem:
            return ""
        if os.environ.get("JAVA_HOME"):
            return f"point JAVA_HOME at a Java {MIN_JAVA}+ installation (or unset it to use the java on the PATH), or {INSTALL}"
        return INSTALL


def java_binary() -> tuple[str | None, str]:
    """The java Spark's launcher would run, and where it was looked for."""
    home = os.environ.get("JAVA_HOME", "").strip()
    if home:
        candidate = Path(home) / "bin" / ("java.exe" if os.name == "nt" else "java")
        return (str(candidate) if candidate.is_file() else None), f"JAVA_HOME={home}"
    return shutil.which("java"), "the PATH"


def major_version(text: str) -> int:
    """The major version in ``java -version``'s output (``1.8.0`` -> 8, ``17.0.9`` -> 17; 0 when absent)."""
    match = re.search(r'version "(\d+)(?:\.(\d+))?', text)
    if not match:
        return 0
    major = int(match.group(1))
    return int(match.group(2)) if major == 1 and match.group(2) else major


def find_java() -> JavaFound:
    """The Java Spark would start, with a problem when there is none or it is older than ``MIN_JAVA``."""
    path, where = java_binary()
    if path is None:
        return JavaFound(None, "", f"no java in {where}")
    try:
        out = subprocess.run([path, "-version"], capture_output=True, text=True, timeout=30)
    except OSError as error:
        return JavaFound(path, "", f"{path} does not run: {error.strerror}")
    text = (out.stderr or out.stdout).strip()
    first_line = text.splitlines()[0] if text else "unknown version"
    if major_version(text) < MIN_JAVA:
        return JavaFound(path, first_line, f"{path} is {first_line}, Spark needs Java {MIN_JAVA}+")
    return JavaFound(path, first_line)


class JavaMissingError(RuntimeError):
    """Spark could not start because no usable Java was found."""
