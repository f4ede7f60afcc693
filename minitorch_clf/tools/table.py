"""The one text-table formatter of the project (bench, bench --gemm, check)."""
from __future__ import annotations


def text_table(head: list[str], rows: list[list[str]], left: int) -> str:
    """Aligned columns under a dashed rule: the first `left` columns to the left, the rest to the right."""
    widths = [max(len(v) for v in col) for col in zip(head, *rows)]
    line = lambda vals: "  ".join(v.ljust(w) if i < left else v.rjust(w)
                                  for i, (v, w) in enumerate(zip(vals, widths))).rstrip()
    return "\n".join([line(head), line(["-" * w for w in widths])] + [line(r) for r in rows])
