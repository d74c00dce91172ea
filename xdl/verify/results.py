"""What verification produces: one Check per output, provider and batch size (or per reason a
comparison could not run), collected in a Report whose exit code is the verdict."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from xdl.errors import EXIT_ENVIRONMENT, EXIT_INPUT, EXIT_OK, EXIT_PARITY, first_failure

STATUSES = ("pass", "fail", "empty", "skipped", "error")
# A judgement's verdict (xdl.verify.Comparison.verdict) -> the exit code its check stands for:
# nothing meaningful compared is not a parity failure of the model, nor a pass (docs/verdict.md).
VERDICT_EXIT = {"pass": EXIT_OK, "fail": EXIT_PARITY, "empty": EXIT_ENVIRONMENT}


@dataclass
class Check:
    """One verdict: an artifact's output on one provider, or why it could not be checked."""

    model: str
    framework: str
    provider: str  # "cpu" | "cuda" | "-" when the artifact itself is unusable
    status: str  # one of STATUSES; "empty": within tolerance of a reference that carries no signal
    output: str = ""
    shape: list = field(default_factory=list)
    max_abs: float | None = None
    max_rel: float | None = None
    mean_abs: float | None = None
    p99_abs: float | None = None  # 99th percentile of |actual - expected|
    max_expected: float | None = None  # max |expected|: the magnitude the errors are measured against
    atol: float | None = None
    rtol: float | None = None
    argmax_agree: int | None = None
    argmax_total: int | None = None
    batch_size: int | None = None
    detail: str = ""  # the reason for skipped/error/fail, in one line
    exit_code: int = EXIT_OK  # what this check alone would make the process exit with


@dataclass
class Report:
    checks: list[Check] = field(default_factory=list)

    def count(self, status: str) -> int:
        return sum(c.status == status for c in self.checks)

    @property
    def nothing_checked(self) -> bool:
        """No comparison ran at all (no artifact, or every provider skipped): not a pass. A
        comparison of a reference without signal ("empty") ran, and has its own exit code."""
        return not any(c.status in ("pass", "fail", "empty") for c in self.checks)

    @property
    def exit_code(self) -> int:
        """0 when something was compared and nothing failed; otherwise 2 (bad input) before 3
        (environment) before 1 (parity). Nothing compared is 3 when providers were skipped
        (the environment could not run them), else 2."""
        code = first_failure(c.exit_code for c in self.checks)
        if code == EXIT_OK and self.nothing_checked:
            return EXIT_ENVIRONMENT if self.count("skipped") else EXIT_INPUT
        return code

    def to_json(self) -> dict:
        return {
            "exit_code": self.exit_code,
            "summary": {s: self.count(s) for s in STATUSES},
            "checks": [asdict(c) for c in self.checks],
        }
