"""Plain-text renderings of reports (no dependency beyond the standard library)."""

from __future__ import annotations

from xdl.verify import Check, ParityReport


def table(headers: list[str], rows: list[list[str]]) -> str:
    """A left-aligned text table with a rule under the header."""
    widths = [max(len(str(x)) for x in column) for column in zip(headers, *rows)]
    line = lambda cells: "  ".join(str(c).ljust(w) for c, w in zip(cells, widths)).rstrip()  # noqa: E731
    return "\n".join([line(headers), line("-" * w for w in widths), *map(line, rows)])


def _num(x: float | None) -> str:
    return "-" if x is None else f"{x:.1e}"


def check_line(c: Check) -> str:
    """One line per check: verdict, what was compared, the errors against the tolerance."""
    where = f"{c.model}/{c.framework}"
    if c.status in ("skipped", "error") or c.output == "":
        return f"{c.status.upper():7} {where:14} {c.provider:5} {c.detail}"
    parts = [
        f"{c.status.upper():7} {where:14} {c.provider:5} {c.output} {c.shape}",
        f"max_abs {_num(c.max_abs)}  max_rel {_num(c.max_rel)}  (atol {c.atol:g}, rtol {c.rtol:g})",
    ]
    if c.argmax_total:
        parts.append(f"argmax {c.argmax_agree}/{c.argmax_total}")
    if c.detail:
        parts.append(c.detail)
    return "  ".join(parts)


def summary(report: ParityReport) -> str:
    counts = ", ".join(f"{report.count(s)} {s}" for s in ("pass", "fail", "skipped", "error"))
    verdict = "OK" if report.exit_code == 0 else f"FAILED (exit {report.exit_code})"
    return f"verify: {counts}: {verdict}"


def render(report: ParityReport) -> str:
    """Every check on its own line, then one summary line."""
    return "\n".join([*map(check_line, report.checks), summary(report)])
