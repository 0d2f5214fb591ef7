"""Helpers shared by the report scripts in this directory (`bridge_report.py`,
`core_orm_report.py`, `peers_report.py`, `concurrency_report.py`).

The scripts run as `python3 tools/X.py` from `benches/`; Python puts the script's own directory
first on `sys.path`, so a plain `import report_common` finds this module. Standard library only.
"""

from __future__ import annotations

import argparse
import platform
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Callable


def run(cmd: list[str]) -> str:
    """The stripped stdout of `cmd`, or "unknown" if it cannot run or fails."""
    try:
        return subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def cpu_model(fallback: str = "unknown") -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return fallback


def machine(cpu: str | None = None) -> str:
    """`N CPUs (`nproc`), <cpu model>, Linux <release>` for the *machine* line of a report."""
    return f"{run(['nproc'])} CPUs (`nproc`), {cpu or cpu_model()}, Linux {platform.release()}"


def lock_versions(lock: Path, names: list[str], missing_ok: bool = True) -> dict[str, str]:
    """The versions of `names` in Cargo.lock `lock` ("?" for a name not in it; every name "?"
    if the file does not exist and `missing_ok`)."""
    if missing_ok and not lock.exists():
        return {n: "?" for n in names}
    data = tomllib.loads(lock.read_text())
    found: dict[str, list[str]] = {}
    for pkg in data.get("package", []):
        if pkg["name"] in names:
            found.setdefault(pkg["name"], []).append(pkg["version"])
    return {n: ", ".join(found.get(n, ["?"])) for n in names}


def verdict(ok: bool) -> str:
    return "**met**" if ok else "**missed**"


def analysis(path: str | Path | None) -> str:
    """A hand-written analysis file's text, appended verbatim to a report ("" if none)."""
    if path and Path(path).exists():
        return Path(path).read_text().rstrip() + "\n\n"
    return ""


class Section:
    """One generated section of RESULTS.md, between the markers `begin` and `end`."""

    def __init__(self, begin: str, end: str):
        self.begin = begin
        self.end = end
        self._pattern = re.escape(begin) + r".*?" + re.escape(end) + r"\n?"

    def extract(self, text: str) -> str | None:
        m = re.search(self._pattern, text, re.S)
        return m.group(0) if m else None

    def splice(self, path: Path, section: str) -> None:
        """Replace the section in `path` by `section` (append it if the file has none)."""
        text = path.read_text() if path.exists() else ""
        if self.extract(text) is not None:
            text = re.sub(self._pattern, lambda _: section, text, flags=re.S)
        else:
            text = text.rstrip() + ("\n\n" if text else "") + section
        path.write_text(text)

    def carry_over(self, old: Path, new: Path) -> None:
        """Copy `old`'s section into `new` (nothing if `old` has none)."""
        section = self.extract(old.read_text()) if old.exists() else None
        if section:
            self.splice(new, section)

    def argparser(self, analysis: str, loads: list[str]) -> argparse.ArgumentParser:
        """An argument parser with `--carry-over OLD NEW` and `--splice FILE` (for `main`), and
        the facts of a run every section reports: `--analysis` (default `analysis`), `--lock`,
        `--command`, `--runs`, `--date`, `--load-before`, `--load-<x>` for each x of `loads`,
        `--load-after` and `--pg-version`."""
        ap = argparse.ArgumentParser()
        ap.add_argument("--carry-over", nargs=2, metavar=("OLD", "NEW"))
        ap.add_argument("--splice")
        ap.add_argument("--analysis", default=analysis)
        ap.add_argument("--lock", default="Cargo.lock")
        for name in ["command", "runs", "date", "load-before",
                     *(f"load-{x}" for x in loads), "load-after", "pg-version"]:
            ap.add_argument(f"--{name}", default="")
        return ap

    def main(self, args: argparse.Namespace, build: Callable[[argparse.Namespace], str]) -> int:
        """`--carry-over OLD NEW`: copy the section; else build it and splice it into
        `--splice FILE`, or write it to stdout."""
        if args.carry_over:
            old, new = map(Path, args.carry_over)
            self.carry_over(old, new)
            return 0
        section = build(args)
        if args.splice:
            self.splice(Path(args.splice), section)
        else:
            sys.stdout.write(section)
        return 0
