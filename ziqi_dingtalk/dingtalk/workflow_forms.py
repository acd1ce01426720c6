"""Form values of DingTalk approvals: python values → the ``formComponentValues`` strings of a start
(docs/dingtalk-approval-protocol.md §2.1, [KB:API/0497], [KB:API/0474]). Re-exported by ``workflow``."""

import datetime
import decimal
import json

VALUE_MAX = 65535  # [KB:API/0497] value ≤65535 characters
COMPONENTS_MAX = 150  # [KB:API/0497] formComponentValues ≤150 (legacy: 200; the smaller, §10 point 13)
ATTACHMENT_KEYS = ("spaceId", "fileName", "fileSize", "fileType", "fileId")  # [KB:API/0497, §6]
_TEXT = {"TextField", "TextareaField", "PhoneField", "AddressField"}
_NUMBER = {"NumberField", "MoneyField", "StarRatingField"}
_JSON_LIST = {"DDMultiSelectField", "InnerContactField", "DDPhotoField", "RelateField"}
_JAVA_DATE = (("yyyy", "%Y"), ("MM", "%m"), ("dd", "%d"), ("HH", "%H"), ("mm", "%M"), ("ss", "%S"))


class FormValueError(ValueError):
    """A form value cannot be sent: ``label`` of the component, ``reason`` in plain English."""

    def __init__(self, label, reason):
        self.label, self.reason = label, reason
        super().__init__(f"form component {label!r}: {reason}")


def encode_form_values(components, values) -> list[dict]:
    """``[{"name": label, "value": str}]`` in component order from ``{label: python value}``.

    None, "" and [] are left out; a required component left out, a label not in the schema, a value of the
    wrong kind, a read-only or unknown component type, or a documented limit exceeded raise
    :class:`FormValueError`."""
    by_label = {c.label: c for c in components}
    for label in values:
        if label not in by_label:
            raise FormValueError(label, "no such component in the form")
    out = []
    for comp in components:
        value = values.get(comp.label)
        if _empty(value):
            if comp.required:
                raise FormValueError(comp.label, "required")
            continue
        out.append({"name": comp.label, "value": _encode(comp, value)})
    if len(out) > COMPONENTS_MAX:
        raise FormValueError("", f"more than {COMPONENTS_MAX} components")
    return out


def _empty(value):
    return value is None or (isinstance(value, str | list | tuple) and not value)


def _encode(comp, value):
    kind = comp.type
    if kind in _TEXT:
        text = _need(comp, value, str, "text")
    elif kind in _NUMBER:
        text = _number(comp, value)
    elif kind == "DDDateField":
        text = _date(comp, value)
    elif kind == "DDDateRangeField":
        pair = _need(comp, value, list | tuple, "a (start, end) pair")
        if len(pair) != 2:
            raise FormValueError(comp.label, "a (start, end) pair")
        text = _json([_date(comp, v) for v in pair])
    elif kind == "DDSelectField":
        text = _need(comp, value, str, "one of the options")
        if text not in comp.options:
            raise FormValueError(comp.label, "not one of the options")
    elif kind in _JSON_LIST:
        text = _json(_list_of_str(comp, value))
    elif kind == "DepartmentField":  # "deptId1,deptId2" [KB:API/0497]
        text = ",".join(str(int(d)) for d in (value if isinstance(value, list | tuple) else [value]))
    elif kind == "TableField":
        text = _table(comp, value)
    elif kind == "DDAttachment":
        text = _attachments(comp, value)
    else:  # TextNote and types this module does not know: read-only here (§2.1, §4)
        raise FormValueError(comp.label, f"component type {kind or 'unknown'} cannot be filled")
    if len(text) > VALUE_MAX:
        raise FormValueError(comp.label, f"value longer than {VALUE_MAX} characters")
    return text


def _need(comp, value, types, what):
    if not isinstance(value, types):
        raise FormValueError(comp.label, f"{what} expected")
    return value


def _json(value):
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _number(comp, value):
    """A plain decimal string: no exponent, no trailing zeros after the point ("100", "12.5")."""
    if isinstance(value, bool) or not isinstance(value, int | float | decimal.Decimal | str):
        raise FormValueError(comp.label, "a number expected")
    try:
        number = decimal.Decimal(str(value).strip()) if not isinstance(value, decimal.Decimal) else value
    except decimal.InvalidOperation:
        raise FormValueError(comp.label, "a number expected") from None
    if not number.is_finite():
        raise FormValueError(comp.label, "a finite number expected")
    text = format(number, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _date(comp, value):
    """date/datetime → the component's format (yyyy-MM-dd by default) [KB:API/0497, 0474]."""
    fmt = comp.format or "yyyy-MM-dd"
    for java, py in _JAVA_DATE:
        fmt = fmt.replace(java, py)
    if isinstance(value, datetime.date):
        return value.strftime(fmt)
    if isinstance(value, str):
        try:
            datetime.datetime.strptime(value, fmt)
        except ValueError:
            raise FormValueError(comp.label, f"a date in format {comp.format or 'yyyy-MM-dd'}") from None
        return value
    raise FormValueError(comp.label, "a date expected")


def _list_of_str(comp, value):
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list | tuple) or not all(isinstance(i, str) for i in items):
        raise FormValueError(comp.label, "a list of strings expected")
    if comp.type == "DDMultiSelectField" and any(i not in comp.options for i in items):
        raise FormValueError(comp.label, "not one of the options")
    return list(items)


def _table(comp, rows):
    """Rows of {child label: value} → JSON rows of [{name, value}] with each child encoded by its type."""
    if not isinstance(rows, list | tuple) or not all(isinstance(r, dict) for r in rows):
        raise FormValueError(comp.label, "a list of rows (dicts) expected")
    encoded = []
    for number, row in enumerate(rows, 1):
        try:
            cells = encode_form_values(comp.children, row)
        except FormValueError as exc:
            raise FormValueError(comp.label, f"row {number}, {exc.label}: {exc.reason}") from None
        encoded.append(cells)
    return _json(encoded)


def _attachments(comp, files):
    """A JSON list of {spaceId, fileName, fileSize, fileType, fileId}, all five keys [KB:API/0497, §6]."""
    if not isinstance(files, list | tuple) or not all(isinstance(f, dict) for f in files):
        raise FormValueError(comp.label, "a list of attachment dicts expected")
    out = []
    for item in files:
        missing = [k for k in ATTACHMENT_KEYS if item.get(k) in (None, "")]
        if missing:
            raise FormValueError(comp.label, "attachment without " + ", ".join(missing))
        out.append({k: str(item[k]) for k in ATTACHMENT_KEYS})
    return _json(out)
