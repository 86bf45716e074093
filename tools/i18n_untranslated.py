"""Lists what the translations in i18n/ lack against the template i18n/sale_inbox.pot.

Each <lang>.po is merged with the template the way Odoo merges them when it loads a
translation (polib's merge: by exact msgid, no fuzzy guessing, references and comments taken
from the template), then every entry with no translation is listed, with the translation of
the closest old msgid as a hint when the term was only reworded. Entries that would load
wrong are listed too: fuzzy ones (Odoo loads them as good ones) and translations whose
placeholders or HTML tags differ from the msgid's.

With --merge the merged files are written back (in the template's order, without obsolete
entries), so that the missing translations can be filled in place. Exit status 1 when
anything is missing or wrong.
"""

import argparse
import difflib
import re
import sys
from collections import Counter
from pathlib import Path

import polib

ROOT = Path(__file__).resolve().parent.parent
I18N = ROOT / "i18n"
POT = I18N / "sale_inbox.pot"
PLACEHOLDER = re.compile(r"%\(\w+\)s|%[sd]|\{\w+\}|<[^<>]+>|&\w+;")


def merged(po_path, pot):
    """The translation file merged with the template, in the template's order."""
    po = polib.pofile(str(po_path), wrapwidth=78)
    po.merge(pot)
    entries = {(entry.msgctxt, entry.msgid): entry for entry in po if not entry.obsolete}
    ordered = [entries[(entry.msgctxt, entry.msgid)] for entry in pot]
    po[:] = ordered
    return po


def faults(po):
    """(missing entries, wrong entries with why)"""
    missing, wrong = [], []
    for entry in po:
        if "fuzzy" in entry.flags:
            wrong.append((entry, "fuzzy (Odoo would load it as it is)"))
        elif not entry.msgstr:
            missing.append(entry)
        elif Counter(PLACEHOLDER.findall(entry.msgstr)) != Counter(PLACEHOLDER.findall(entry.msgid)):
            wrong.append((entry, "placeholders or tags differ from the msgid's"))
    return missing, wrong


def hint(entry, old):
    """The translation of the old msgid closest to this one, when there is a close one."""
    close = difflib.get_close_matches(entry.msgid, list(old), n=1, cutoff=0.6)
    return (close[0], old[close[0]]) if close else None


def show(entry, out):
    out.write(f"  #: {entry.occurrences[0][0] if entry.occurrences else '?'}\n")
    out.write(f"  msgid {entry.msgid!r}\n")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("langs", nargs="*", help="language codes (default: every i18n/*.po)")
    parser.add_argument("--merge", action="store_true",
                        help="write the merged files back to i18n/<lang>.po")
    args = parser.parse_args(argv)
    pot = polib.pofile(str(POT))
    langs = args.langs or sorted(path.stem for path in I18N.glob("*.po"))
    out = sys.stdout
    status = 0
    for lang in langs:
        path = I18N / f"{lang}.po"
        old = {entry.msgid: entry.msgstr for entry in polib.pofile(str(path))
               if entry.msgstr and not entry.obsolete}
        po = merged(path, pot)
        missing, wrong = faults(po)
        out.write(f"{lang}.po: {len(missing)} of {len(po)} untranslated, {len(wrong)} wrong\n")
        for entry in missing:
            show(entry, out)
            found = hint(entry, old)
            if found:
                out.write(f"    was {found[0]!r}\n     -> {found[1]!r}\n")
        for entry, why in wrong:
            show(entry, out)
            out.write(f"    {why}: {entry.msgstr!r}\n")
        if args.merge:
            po.save(str(path))
            out.write(f"  merged into i18n/{lang}.po\n")
        if missing or wrong:
            status = 1
    return status


if __name__ == "__main__":
    sys.exit(main())
