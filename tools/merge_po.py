"""Merge <addon>/i18n/<addon>.pot into <addon>/i18n/zh_CN.po, keeping the translations it has
(``tools/merge_po.py [ADDON [POT ...]]``, ziqi_dingtalk by default). POT files given (the addon's strings
as exported from each Odoo version) are first joined into <addon>/i18n/<addon>.pot: Odoo 18 and 19 do
not list quite the same strings.

Strings that lost their source are dropped; new ones are added untranslated and listed, and the
script exits 1 while any string lacks its Chinese translation (translate it in zh_CN.po).
"""

import sys
from pathlib import Path

import polib

ROOT = Path(__file__).resolve().parents[1]


def join_pots(target, sources):
    """Write ``target``: every entry of the ``sources``, once per msgid (their references joined)."""
    joined = polib.pofile(str(sources[0]), wrapwidth=78)
    by_id = {entry.msgid: entry for entry in joined}
    for source in sources[1:]:
        for entry in polib.pofile(str(source)):
            known = by_id.get(entry.msgid)
            if known is None:
                joined.append(entry)
                by_id[entry.msgid] = entry
            else:
                known.occurrences = sorted(set(known.occurrences) | set(entry.occurrences))
                known.comment = known.comment or entry.comment
    joined.sort(key=lambda entry: entry.msgid)
    joined.save(str(target))


def main(addon="ziqi_dingtalk", *pots):
    i18n = ROOT / addon / "i18n"
    if pots:
        join_pots(i18n / f"{addon}.pot", [Path(pot) for pot in pots])
    pot = polib.pofile(str(i18n / f"{addon}.pot"))
    po_path = i18n / "zh_CN.po"
    known = {entry.msgid: entry.msgstr for entry in polib.pofile(str(po_path))} if po_path.exists() else {}
    po = polib.POFile(wrapwidth=78)
    po.metadata = dict(pot.metadata, Language="zh_CN", **{"Plural-Forms": "nplurals=1; plural=0;"})
    for entry in pot:
        entry.msgstr = known.get(entry.msgid, "")
        po.append(entry)
    po.save(str(po_path))
    missing = [entry.msgid for entry in po if not entry.msgstr]
    for msgid in missing:
        print(f"missing zh_CN: {msgid!r}")
    print(f"{addon} zh_CN.po: {len(po) - len(missing)} of {len(po)} strings translated")
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
