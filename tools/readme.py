#!/usr/bin/env python3
"""Write README.rst whole: its own top part, then the fragments of readme/ inlined.

Code hosts do not run ``.. include::``, so README.rst carries the fragments' text itself. The
fragments in readme/ are the source of those sections: edit them, then run

    tools/readme.py            rewrite README.rst
    tools/readme.py --check    exit 1 when README.rst is not what the fragments make

Everything above the MARKER line of README.rst is its own part and is kept as it is.
"""
import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MARKER = ".. Generated below from readme/*.rst by tools/readme.py: edit those files, then run it."
# The usual order of an Odoo addon's readme fragments; any other fragment follows, by name.
ORDER = ["DESCRIPTION", "SCREENSHOTS", "INSTALL", "CONFIGURE", "USAGE", "PLATFORMS", "DESIGN", "CONTRIBUTING",
         "ROADMAP", "HISTORY", "CONTRIBUTORS", "CREDITS"]


def fragments(root=ROOT):
    found = {path.stem: path for path in (root / "readme").glob("*.rst")}
    known = [found.pop(name) for name in ORDER if name in found]
    return known + [found[name] for name in sorted(found)]


def head(readme_text):
    """README.rst up to and including the marker line."""
    lines = readme_text.splitlines()
    if MARKER not in lines:
        raise SystemExit(f"README.rst has no line {MARKER!r}: put it where the generated part starts")
    return "\n".join(lines[: lines.index(MARKER) + 1])


def render(root=ROOT):
    parts = [head((root / "README.rst").read_text(encoding="utf-8"))]
    parts += [path.read_text(encoding="utf-8").strip("\n") for path in fragments(root)]
    return "\n\n".join(parts) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only say whether README.rst is up to date")
    args = parser.parse_args(argv)
    readme = ROOT / "README.rst"
    wanted = render()
    if readme.read_text(encoding="utf-8") == wanted:
        return 0
    if args.check:
        print("README.rst is not up to date with readme/*.rst: run tools/readme.py", file=sys.stderr)
        return 1
    readme.write_text(wanted, encoding="utf-8")
    print("README.rst rewritten")
    return 0


if __name__ == "__main__":
    sys.exit(main())
