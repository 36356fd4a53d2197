"""Just enough HTML reading for registration pages: forms with their fields, error messages, visible text.

The standard library's parser is enough: these pages are server-rendered JSP/Thymeleaf, not scripts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from html.parser import HTMLParser


@dataclass
class Field:
    name: str
    type: str = "text"  # text, hidden, checkbox, radio, textarea, select, submit, ...
    value: str = ""
    checked: bool = False
    label: str = ""
    options: list[tuple[str, str]] = field(default_factory=list)  # select: (value, text)
    id: str = ""
    # in a table row: the visible text of the row's other cells (upstream JSPs put a radio button's name
    # in the next bare <td>, with no <label>)
    row: list[str] = field(default_factory=list)


@dataclass
class Form:
    action: str
    method: str = "get"
    name: str = ""
    id: str = ""
    fields: list[Field] = field(default_factory=list)

    def field(self, name: str) -> Field | None:
        return next((f for f in self.fields if f.name == name), None)

    def names(self) -> set[str]:
        return {f.name for f in self.fields if f.name}

    def choices(self, name: str) -> list[Field]:
        """The radio buttons or checkboxes called `name`."""
        return [f for f in self.fields if f.name == name and f.type in ("radio", "checkbox")]

    def defaults(self) -> list[tuple[str, str]]:
        """What a browser would send without the user touching anything (hidden fields and defaults)."""
        out: list[tuple[str, str]] = []
        for f in self.fields:
            if not f.name or f.type in ("submit", "button", "image", "reset", "file"):
                continue
            if f.type in ("checkbox", "radio"):
                if f.checked:
                    out.append((f.name, f.value or "on"))
            elif f.type == "select":
                if f.value or f.options:
                    out.append((f.name, f.value or f.options[0][0]))
            else:
                out.append((f.name, f.value))
        return out


@dataclass
class Page:
    title: str = ""
    text: str = ""  # visible text, whitespace collapsed
    forms: list[Form] = field(default_factory=list)
    errors: list[tuple[str, str]] = field(default_factory=list)  # (field name or "", message)
    messages: list[str] = field(default_factory=list)  # action messages (info boxes)
    links: list[str] = field(default_factory=list)

    def form(self, action_part: str) -> Form | None:
        return next((f for f in self.forms if action_part in f.action or action_part in (f.name, f.id)), None)

    def has(self, *phrases: str) -> bool:
        low = self.text.lower()
        return any(p.lower() in low for p in phrases)


_ERROR_CLASSES = (
    "errormessage",
    "fielderror",
    "actionerror",
    "error-message",
    "field-error",
    "invalid-feedback",
)
_MESSAGE_CLASSES = ("actionmessage", "success", "info")
_VOID = {"input", "br", "hr", "img", "meta", "link", "area", "base", "col", "embed", "source", "track", "wbr"}


class TolerantParser(HTMLParser):
    """HTMLParser that reads a malformed `<![...` declaration as a browser does (a bogus comment).

    Python before 3.13 raises AssertionError on one (e.g. `<![ OCTYPE`), which a hostile page could use.
    """

    def parse_html_declaration(self, i: int) -> int:
        try:
            return super().parse_html_declaration(i)
        except AssertionError:
            end = self.rawdata.find(">", i + 2)
            return -1 if end < 0 else end + 1


class _Parser(TolerantParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.page = Page()
        self.form: Form | None = None
        self.stack: list[tuple[str, dict[str, str]]] = []
        self.text: list[str] = []
        self.capture: list[tuple[str, str, list[str], int]] = []  # (kind, field, parts, depth)
        self.textarea: Field | None = None
        self.select: Field | None = None
        self.option: tuple[str, list[str], bool] | None = None
        self.labels: dict[str, str] = {}
        self.label_for: tuple[str, list[str]] | None = None
        self.in_title = False
        self.skip = 0  # inside <script>/<style>
        self.ids: dict[str, str] = {}  # element id -> field name (for errorFor / label for)
        self.rows: list[tuple[list[list[str]], list[tuple[Field, int]]]] = []  # open <tr>: cells, fields

    def handle_starttag(self, tag: str, attrs_list: list[tuple[str, str | None]]) -> None:
        attrs = {k.lower(): (v or "") for k, v in attrs_list}
        if tag in ("script", "style"):
            self.skip += 1
            return
        if tag == "title":
            self.in_title = True
        if tag not in _VOID:
            self.stack.append((tag, attrs))
        classes = attrs.get("class", "").lower().split()
        if any(c in _ERROR_CLASSES for c in classes) or "errorfor" in attrs:
            target = attrs.get("errorfor") or attrs.get("data-field") or attrs.get("for", "")
            self.capture.append(("error", target, [], len(self.stack)))
        elif any(c in _MESSAGE_CLASSES for c in classes):
            self.capture.append(("message", "", [], len(self.stack)))
        if tag == "tr":
            self.rows.append(([], []))
        elif tag in ("td", "th") and self.rows:
            self.rows[-1][0].append([])
        if tag == "a" and attrs.get("href"):
            self.page.links.append(attrs["href"])
        if tag == "form":
            self.form = Form(
                action=attrs.get("action", ""),
                method=(attrs.get("method") or "get").lower(),
                name=attrs.get("name", ""),
                id=attrs.get("id", ""),
            )
            self.page.forms.append(self.form)
        elif tag == "label":
            self.label_for = (attrs.get("for", ""), [])
        elif tag == "input":
            f = Field(
                attrs.get("name", ""),
                (attrs.get("type") or "text").lower(),
                attrs.get("value", ""),
                "checked" in attrs,
            )
            if f.type in ("checkbox", "radio") and "value" not in attrs:
                f.value = "on"
            self._add(f, attrs)
        elif tag == "textarea":
            self.textarea = Field(attrs.get("name", ""), "textarea")
            self._add(self.textarea, attrs)
        elif tag == "select":
            self.select = Field(attrs.get("name", ""), "select")
            self._add(self.select, attrs)
        elif tag == "option" and self.select is not None:
            self.option = (attrs.get("value", ""), [], "selected" in attrs)

    def _add(self, f: Field, attrs: dict[str, str]) -> None:
        if attrs.get("id"):
            f.id = attrs["id"]
            self.ids[attrs["id"]] = f.name
            f.label = self.labels.get(attrs["id"], "")
        if self.form is not None:
            self.form.fields.append(f)
        if self.rows:
            cells, fields = self.rows[-1]
            fields.append((f, len(cells) - 1))

    def _end_row(self) -> None:
        cells, fields = self.rows.pop()
        texts = [" ".join("".join(c).split()) for c in cells]
        for f, at in fields:
            f.row = [t for i, t in enumerate(texts) if i != at and t]

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self.skip = max(0, self.skip - 1)
            return
        if tag == "title":
            self.in_title = False
        if tag == "textarea":
            self.textarea = None
        elif tag == "option" and self.select is not None and self.option is not None:
            value, parts, selected = self.option
            text = " ".join("".join(parts).split())
            self.select.options.append((value or text, text))
            if selected:
                self.select.value = value or text
            self.option = None
        elif tag == "select":
            self.select = None
        elif tag == "form":
            self.form = None
        elif tag in ("tr", "table") and self.rows:
            self._end_row()
        elif tag == "label" and self.label_for is not None:
            target, parts = self.label_for
            self.labels[target] = " ".join("".join(parts).split())
            self.label_for = None
        if tag in _VOID:
            return
        # close captures opened at this depth
        while self.capture and self.capture[-1][3] >= len(self.stack):
            kind, target, parts, _ = self.capture.pop()
            text = " ".join(" ".join(parts).split())
            if text:
                name = self.ids.get(target, target)
                if kind == "error":
                    if (name, text) not in self.page.errors:
                        self.page.errors.append((name, text))
                elif text not in self.page.messages:
                    self.page.messages.append(text)
        # pop to the matching tag (tolerates unclosed <li>, <p>, ...)
        for i in range(len(self.stack) - 1, -1, -1):
            if self.stack[i][0] == tag:
                del self.stack[i:]
                break

    def handle_data(self, data: str) -> None:
        if self.skip:
            return
        if self.in_title:
            self.page.title += data
        if self.textarea is not None:
            self.textarea.value += data
            return
        if self.option is not None:
            self.option[1].append(data)
        if self.label_for is not None:
            self.label_for[1].append(data)
        if self.rows and self.rows[-1][0]:
            self.rows[-1][0][-1].append(data)
        for _, _, parts, _ in self.capture:
            parts.append(data)
        self.text.append(data)


def parse(html: str) -> Page:
    p = _Parser()
    p.feed(html)
    p.close()
    while p.rows:  # rows left open at the end
        p._end_row()
    page = p.page
    page.title = " ".join(page.title.split())
    page.text = re.sub(r"\s+", " ", " ".join(p.text)).strip()
    for form in page.forms:
        for f in form.fields:
            if not f.label and f.id:
                f.label = p.labels.get(f.id, "")
    return page
