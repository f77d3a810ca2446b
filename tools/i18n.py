#!/usr/bin/env python3
"""Keep the addon's translations complete.

    python tools/i18n.py check                 # fr.po translates every entry of the .pot
    python tools/i18n.py compare EXPORTED.pot  # the committed .pot equals a fresh export
    python tools/i18n.py merge EXPORTED.pot    # adopt a fresh export: .pot replaced, fr.po
                                               # merged (translations kept, new ones empty)

A fresh export comes from Odoo (``odoo-bin -d DB --i18n-export=x.pot --modules=isanet_gocardless``
on a database where the addon is installed); ./run_tests makes one after the Odoo tests and runs
``compare`` on it, and runs ``check`` always.
"""

import sys
from pathlib import Path

import polib

I18N = Path(__file__).resolve().parent.parent / "isanet_gocardless" / "i18n"
POT = I18N / "isanet_gocardless.pot"
LANGUAGES = ("fr",)
PLURALS = {"fr": "nplurals=2; plural=(n > 1);"}


def _key(entry):
    return (entry.msgctxt, entry.msgid)


def check():
    """Return the problems of the .po files against the committed .pot."""
    problems = []
    template = polib.pofile(str(POT))
    for lang in LANGUAGES:
        po = polib.pofile(str(I18N / f"{lang}.po"))
        translations = {_key(e): e for e in po if not e.obsolete}
        for entry in template:
            translated = translations.get(_key(entry))
            if translated is None:
                problems.append(f"{lang}.po lacks: {entry.msgid!r}")
            elif not translated.msgstr or "fuzzy" in translated.flags:
                problems.append(f"{lang}.po has no translation for: {entry.msgid!r}")
    return problems


def compare(exported):
    """Return the differences between the committed .pot and a fresh export."""
    committed = {_key(e) for e in polib.pofile(str(POT))}
    fresh = {_key(e) for e in polib.pofile(str(exported))}
    return [f".pot lacks: {key[1]!r}" for key in sorted(fresh - committed, key=str)] + [
        f".pot has a string the addon no longer has: {key[1]!r}"
        for key in sorted(committed - fresh, key=str)
    ]


def merge(exported):
    """Replace the .pot by ``exported`` and bring every .po in line with it."""
    template = polib.pofile(str(exported))
    template.save(str(POT))
    for lang in LANGUAGES:
        path = I18N / f"{lang}.po"
        po = polib.pofile(str(path)) if path.exists() else polib.POFile()
        po.merge(template)
        po.header = template.header
        po.metadata = {**template.metadata, "Language": lang, "Plural-Forms": PLURALS[lang]}
        for entry in list(po):
            if entry.obsolete:
                po.remove(entry)
        po.save(str(path))


def main(argv):
    if len(argv) == 2 and argv[1] == "check":
        problems = check()
    elif len(argv) == 3 and argv[1] == "compare":
        problems = compare(argv[2])
    elif len(argv) == 3 and argv[1] == "merge":
        merge(argv[2])
        problems = check()
    else:
        print(__doc__)
        return 2
    for problem in problems:
        print(problem)
    print(f"translations: {len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
