"""Merge ziqi_dingtalk/i18n/ziqi_dingtalk.pot into i18n/zh_CN.po, keeping the translations it has.

Strings that lost their source are dropped; new ones are added untranslated and listed, and the
script exits 1 while any string lacks its Chinese translation (translate it in zh_CN.po).
"""

import sys
from pathlib import Path

import polib

I18N = Path(__file__).resolve().parents[1] / "ziqi_dingtalk" / "i18n"


def main():
    pot = polib.pofile(str(I18N / "ziqi_dingtalk.pot"))
    po_path = I18N / "zh_CN.po"
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
    print(f"zh_CN.po: {len(po) - len(missing)} of {len(po)} strings translated")
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
