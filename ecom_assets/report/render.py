"""The report as HTML (``index.html``) and as its Markdown twin (``report.md``), images side by side."""

from __future__ import annotations

import datetime as dt
import html
from collections.abc import Sequence

import pandas as pd

from ecom_assets.report.content import Figure, Section, Table

STYLE = """body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#1a202c}
h1{border-bottom:2px solid #2b6cb0}h2{margin-top:2.5rem;color:#2b6cb0}figure{margin:1.5rem 0}
img{max-width:100%;border:1px solid #e2e8f0}figcaption{font-size:.9rem;color:#4a5568}
table{border-collapse:collapse;font-size:.85rem;margin:1rem 0}td,th{border:1px solid #cbd5e0;padding:.25rem .5rem}
th{background:#edf2f7}td.n{text-align:right}.reading{background:#f7fafc;border-left:4px solid #2b6cb0;
padding:.5rem 1rem}.missing{color:#9c4221}"""


def _cell(value: object) -> str:
    """A table cell: floats with four significant digits, large integers with separators."""
    if isinstance(value, float):
        return "" if pd.isna(value) else f"{value:,.4g}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def _rows(frame: pd.DataFrame) -> list[list[str]]:
    """Every row of ``frame`` as cells (numpy scalars made plain first)."""
    return [[_cell(v.item() if hasattr(v, "item") else v) for v in row] for row in frame.itertuples(index=False)]


def markdown_table(frame: pd.DataFrame) -> str:
    """A GitHub-flavoured Markdown table."""
    header = "| " + " | ".join(map(str, frame.columns)) + " |"
    lines = [header, "|" + "---|" * len(frame.columns)]
    lines += ["| " + " | ".join(c.replace("|", "/") for c in row) + " |" for row in _rows(frame)]
    return "\n".join(lines)


def html_table(frame: pd.DataFrame) -> str:
    """An HTML table, numbers right-aligned."""
    numeric = [pd.api.types.is_numeric_dtype(frame[c]) for c in frame.columns]
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    body = "".join("<tr>" + "".join(f'<td{" class=n" if n else ""}>{html.escape(c)}</td>' for c, n in
                                    zip(row, numeric, strict=True)) + "</tr>" for row in _rows(frame))
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def to_markdown(sections: Sequence[Section], title: str, subtitle: str) -> str:
    """The whole report in Markdown."""
    parts = [f"# {title}", "", subtitle, ""]
    for section in sections:
        parts += [f"## {section.title}", ""]
        parts += [f"> {line}\n" for line in section.reading]
        for block in section.blocks:
            if isinstance(block, Figure):
                parts += [f"![{block.caption}]({block.path.name})", "", f"*{block.caption}*", ""]
            elif isinstance(block, Table):
                parts += [f"**{block.caption}**", "", markdown_table(block.frame), ""]
        parts += [f"*Not shown: {line}*\n" for line in section.missing]
    return "\n".join(parts)


def to_html(sections: Sequence[Section], title: str, subtitle: str) -> str:
    """The whole report as one HTML page (images are files beside it)."""
    body = [f"<h1>{html.escape(title)}</h1>", f"<p>{html.escape(subtitle)}</p>", "<nav><ul>"]
    body += [f'<li><a href="#{s.key}">{html.escape(s.title)}</a></li>' for s in sections]
    body.append("</ul></nav>")
    for section in sections:
        body.append(f'<section id="{section.key}"><h2>{html.escape(section.title)}</h2>')
        body += [f'<p class="reading">{html.escape(line)}</p>' for line in section.reading]
        for block in section.blocks:
            if isinstance(block, Figure):
                body.append(f'<figure><img src="{block.path.name}" alt="{html.escape(block.caption)}">'
                            f"<figcaption>{html.escape(block.caption)}</figcaption></figure>")
            elif isinstance(block, Table):
                body.append(f"<p><strong>{html.escape(block.caption)}</strong></p>{html_table(block.frame)}")
        body += [f'<p class="missing">Not shown: {html.escape(line)}</p>' for line in section.missing]
        body.append("</section>")
    generated = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            f"<style>{STYLE}</style></head><body>{''.join(body)}<footer><p>Generated {generated} by "
            "<code>ecom report</code>.</p></footer></body></html>\n")
