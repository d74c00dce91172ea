"""Plain-text renderings of reports (no dependency beyond the standard library)."""

from __future__ import annotations

import re

from xdl.verify import STATUSES, Check, Report


def table(headers: list[str], rows: list[list[str]]) -> str:
    """A left-aligned text table with a rule under the header."""
    widths = [max(len(str(x)) for x in column) for column in zip(headers, *rows)]
    line = lambda cells: "  ".join(str(c).ljust(w) for c, w in zip(cells, widths)).rstrip()  # noqa: E731
    return "\n".join([line(headers), line("-" * w for w in widths), *map(line, rows)])


def clean(text) -> str:
    """A string taken from an artifact, safe on one line of any report: control and format
    characters (newlines, terminal escapes, bidi overrides, NUL) written as escapes."""
    return "".join(ch if ch.isprintable() else ascii(ch)[1:-1] for ch in str(text))


def _num(x: float | None) -> str:
    return "-" if x is None else f"{x:.1e}"


def check_line(c: Check) -> str:
    """One line per check: verdict, what was compared, the errors against the tolerance."""
    where = clean(f"{c.model}/{c.framework}")
    if c.status in ("skipped", "error") or c.output == "":
        return f"{c.status.upper():7} {where:14} {c.provider:5} {clean(c.detail)}"
    parts = [
        f"{c.status.upper():7} {where:14} {c.provider:5} {clean(c.output)} {c.shape}",
        f"max_abs {_num(c.max_abs)}  p99 {_num(c.p99_abs)}  mean {_num(c.mean_abs)}  max_rel {_num(c.max_rel)}"
        f"  of max|expected| {_num(c.max_expected)}  (atol {c.atol:g}, rtol {c.rtol:g})",
    ]
    if c.argmax_total:
        parts.append(f"argmax {c.argmax_agree}/{c.argmax_total}")
    if c.detail:
        parts.append(clean(c.detail))
    return "  ".join(parts)


def verdict(report: Report) -> str:
    if report.exit_code == 0:
        return "OK"
    empty = report.count("empty")
    why = (": nothing was checked" if report.nothing_checked else
           f": nothing meaningful was compared in {empty} check(s)" if empty else "")
    return f"FAILED (exit {report.exit_code}){why}"


def summary(report: Report) -> str:
    counts = ", ".join(f"{report.count(s)} {s}" for s in STATUSES)
    return f"verify: {counts}: {verdict(report)}"


# Markdown's punctuation that makes markup inside a line (HTML and autolinks, entities, links
# and images, code spans, emphasis, strikethrough, table cells): each written with the
# backslash escape CommonMark defines for it. A link or an image needs `[`, so `(` and `!` may
# stay as they are.
_MARKUP = str.maketrans({c: "\\" + c for c in "\\`*_[]|~<>&"})
# What renderers find in the rendered text, escaped or not: GitHub's @mentions and #references,
# bare URLs and e-mail addresses. An invisible word joiner (U+2060) after the trigger breaks the
# pattern and keeps the characters as they are.
_TRIGGERS = re.compile(r"@|#|:(?=//)|(?i:www)(?=\.)")


def markdown_text(text) -> str:
    """clean(), and nothing a Markdown renderer would act on: no HTML, link, image, code span,
    emphasis, table cell, mention, reference or autolink comes out of it; the characters show
    as they are."""
    return _TRIGGERS.sub(lambda m: m.group() + "\u2060", clean(text).translate(_MARKUP))


def markdown_table(headers: list[str], rows: list[list[str]]) -> str:
    """A Markdown table; cells are escaped (an exporter's error text may hold pipes or HTML)."""
    return "\n".join([f"| {' | '.join(headers)} |", f"|{'---|' * len(headers)}",
                      *(f"| {' | '.join(markdown_text(c) for c in row)} |" for row in rows)])


def render(report: Report) -> str:
    """Every check on its own line, then one summary line."""
    return "\n".join([*map(check_line, report.checks), summary(report)])


def to_markdown(report: Report) -> str:
    """A summary a CI system can post as a comment: verdict, counts, one row per check."""
    rows = []
    for c in report.checks:
        errors = "" if c.max_abs is None else f"{c.max_abs:.1e} / {c.p99_abs:.1e} / {c.max_rel:.1e} / {_num(c.max_expected)}"
        tol = "" if c.atol is None else f"{c.atol:g} / {c.rtol:g}"
        top1 = f"{c.argmax_agree}/{c.argmax_total}" if c.argmax_total else ""
        rows.append(f"| {c.status} | {markdown_text(c.model)}/{markdown_text(c.framework)} | {c.provider} | {markdown_text(c.output)} | {errors} | "
                    f"{tol} | {top1} | {markdown_text(c.detail)} |")
    return "\n".join([
        f"### xdl verify: {'passed' if report.exit_code == 0 else verdict(report)}",
        "",
        ", ".join(f"{report.count(s)} {s}" for s in STATUSES),
        "",
        "| status | artifact | provider | output | max abs / p99 abs / max rel / max \\|expected\\| | atol / rtol | top-1 "
        "| detail |",
        "|---|---|---|---|---|---|---|---|",
        *rows,
        "",
    ])


def to_junit(report: Report) -> str:
    """JUnit XML: one test case per artifact x provider x output, as CI systems render natively."""
    import xml.etree.ElementTree as ET

    suite = ET.Element("testsuite", name="xdl verify", tests=str(len(report.checks)),
                       failures=str(report.count("fail") + report.count("empty")), errors=str(report.count("error")),
                       skipped=str(report.count("skipped")))
    # XML 1.0 cannot hold most control characters even escaped: everything from an artifact
    # goes through clean() first.
    for c in report.checks:
        case = ET.SubElement(suite, "testcase", classname=clean(f"xdl.{c.model}.{c.framework}"),
                             name=clean(f"{c.provider}/{c.output or ('artifact' if c.provider == '-' else 'session')}")
                             + (f"/batch{c.batch_size}" if c.batch_size else ""))
        detail = clean(c.detail)
        if c.status == "pass":
            ET.SubElement(case, "system-out").text = check_line(c)
        elif c.status == "fail":
            ET.SubElement(case, "failure", message=detail, type="ParityFailure").text = check_line(c)
        elif c.status == "empty":
            ET.SubElement(case, "failure", message=detail, type="NothingCompared").text = check_line(c)
        elif c.status == "error":
            ET.SubElement(case, "error", message=detail, type=f"exit{c.exit_code}").text = check_line(c)
        else:
            ET.SubElement(case, "skipped", message=detail)
    if report.nothing_checked:
        case = ET.SubElement(suite, "testcase", classname="xdl", name="verify")
        ET.SubElement(case, "error", message="nothing was checked", type=f"exit{report.exit_code}")
        suite.set("tests", str(len(suite)))
        suite.set("errors", str(report.count("error") + 1))
    root = ET.Element("testsuites")
    root.append(suite)
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


def to_json(report: Report) -> str:
    import json

    return json.dumps(report.to_json(), indent=2) + "\n"


FORMATS = {"text": lambda r: render(r) + "\n", "json": to_json, "md": to_markdown, "junit": to_junit}
