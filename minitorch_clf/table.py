"""The one text-table formatter of the project (check, bench, bench --gemm, bench --nproc), and how its
tables write a time."""
from __future__ import annotations


def text_table(head: list[str], rows: list[list[str]], left: int) -> str:
    """Aligned columns under a dashed rule: the first `left` columns to the left, the rest to the right."""
    widths = [max(len(v) for v in col) for col in zip(head, *rows)]
    line = lambda vals: "  ".join(v.ljust(w) if i < left else v.rjust(w)
                                  for i, (v, w) in enumerate(zip(vals, widths))).rstrip()
    return "\n".join([line(head), line(["-" * w for w in widths])] + [line(r) for r in rows])


def seconds_text(s: float) -> str:
    """A time for a table: microseconds below a millisecond, else milliseconds."""
    return f"{s * 1e6:.1f} us" if s < 1e-3 else f"{s * 1e3:.3f} ms"
