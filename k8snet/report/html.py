"""``report.html``: the plots and tables of a comparison, one self-standing
page (images beside it, no script, no network)."""

from __future__ import annotations

import html
from typing import Dict, List, Optional, Sequence


def cell(value: Optional[float], digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}g}"


def table(head: Sequence[str], body: List[Sequence[str]]) -> str:
    rows = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in r) + "</tr>"
                   for r in body)
    return ("<table><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in head) + "</tr>"
            + rows + "</table>")


def render(title: str, summary: Sequence[str], plots: Dict[str, str],
           ratios: Dict[str, Dict[str, Optional[float]]], mtus: Dict[str, Dict],
           labels: Dict[str, str], files: Sequence[str],
           mtu_behaviour: Optional[Dict[str, dict]] = None,
           errors: Sequence[str] = ()) -> str:
    """The page: ``plots`` maps a caption to an image file name."""
    modes = list(dict.fromkeys(m for by in ratios.values() for m in by))
    ratio_rows = [[labels.get(p, p), *(cell(by.get(m)) for m in modes)]
                  for p, by in ratios.items()]
    behaviour = mtu_behaviour or {}

    def yes(mode: str, key: str) -> str:
        found = behaviour.get(mode, {}).get(key)
        return "-" if found is None else ("passes" if found else "refused/lost")
    mtu_rows = [[m, str(v.get("pod_mtu")), str(v.get("node_mtu")),
                 yes(m, "df_full_size_passes"), yes(m, "df_one_byte_more_passes"),
                 yes(m, "fragmented_3000_passes")] for m, v in mtus.items()]
    problems = "".join(f"<li>{html.escape(e)}</li>" for e in errors)
    figs = "".join(f"<figure><img src=\"{html.escape(src)}\" alt=\"{html.escape(cap)}\">"
                   f"<figcaption>{html.escape(cap)}</figcaption></figure>"
                   for cap, src in plots.items())
    links = " · ".join(f"<a href=\"{html.escape(f)}\">{html.escape(f)}</a>" for f in files)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<link rel="icon" href="data:,">
<style>
body {{ font: 14px/1.4 system-ui, sans-serif; margin: 20px auto; max-width: 1000px; }}
table {{ border-collapse: collapse; margin: 8px 0 16px; }}
td, th {{ border: 1px solid #ccc; padding: 3px 8px; text-align: right; }}
td:first-child, th:first-child {{ text-align: left; }}
img {{ max-width: 100%; }} figure {{ margin: 16px 0; }}
figcaption {{ color: #555; font-size: 12px; }}
</style></head><body>
<h1>{html.escape(title)}</h1>
{"".join(f"<p>{html.escape(line)}</p>" for line in summary)}
<h2>Throughput relative to a bare veth pair (median over runs)</h2>
{table(["path", *modes], ratio_rows)}
<h2>MTU</h2>
{table(["mode", "Pod eth0", "node eth0", "ping DF, full size", "ping DF, 1 byte more",
        "ping 3000 B, fragments"], mtu_rows)}
<h2>Plots</h2>
{figs}
<p>Raw figures: {links}</p>
{f"<h2>Not measured</h2><ul>{problems}</ul>" if problems else ""}
</body></html>
"""
