"""`flywheel report RUN`: one self-contained report.html (inline SVG plots, GIFs as data URIs; opens offline).

Sections: success per round with 95% CI bands per (family, split); budgets spent per round; the judge's confusion
against the simulator's truth per round; sample rollouts of every round with their instruction, the explainer's
words, the judge's score, the critic's value curve when there is one, and the true outcome; for PLD, each residual
specialist's success against the env steps it spent; for VLAW, each round's world model: imagined episodes kept, its
PSNR per horizon step against copying the first frame, and imagined-vs-real strips from the same start and seed.
"""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path

from vla_flywheel.failpoints import failpoint
from vla_flywheel.flywheel.config import CONFIG_FILE
from vla_flywheel.flywheel.layout import RunLayout
from vla_flywheel.flywheel.records import read_rounds

W, H, PAD = 520, 240, 40
COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf")
STYLE = """body{font-family:system-ui,sans-serif;margin:24px;max-width:1100px;color:#222}
table{border-collapse:collapse;margin:8px 0 20px}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}
th{background:#f3f3f3}figure{display:inline-block;margin:6px;vertical-align:top;width:200px;font-size:12px}
figure img{width:192px;image-rendering:pixelated}.ok{color:#2a7a2a}.bad{color:#b22}svg{background:#fff}
.plot{border:1px solid #ddd;margin:6px 0}"""


def _esc(value) -> str:
    return html.escape(str(value))


def _pct(x) -> str:
    return "–" if x is None else f"{100 * x:.1f}%"


def _axes(x_max: int, y_label: str, y_max: float = 1.0, x_label: str = "round",
          x_ticks: list[int] | None = None) -> tuple[list[str], callable, callable]:  # fmt: skip
    sx = lambda x: PAD + (W - 2 * PAD) * (x / max(x_max, 1))  # noqa: E731
    sy = lambda y: H - PAD + (2 * PAD - H) * (y / y_max)  # noqa: E731
    parts = [f'<line x1="{PAD}" y1="{H - PAD}" x2="{W - PAD}" y2="{H - PAD}" stroke="#444"/>',
             f'<line x1="{PAD}" y1="{PAD}" x2="{PAD}" y2="{H - PAD}" stroke="#444"/>',
             f'<text x="6" y="{PAD - 10}" font-size="11">{_esc(y_label)}</text>',
             f'<text x="{W - PAD - 6 * len(x_label)}" y="{H - 8}" font-size="11">{_esc(x_label)}</text>']  # fmt: skip
    for i in range(x_max + 1) if x_ticks is None else x_ticks:
        parts.append(f'<text x="{sx(i) - 3:.1f}" y="{H - PAD + 14}" font-size="10">{i}</text>')
    for frac in (0, 0.25, 0.5, 0.75, 1.0):
        y = y_max * frac
        label = f"{100 * y:.0f}%" if y_max == 1.0 else f"{y:.0f}"
        parts.append(f'<text x="4" y="{sy(y) + 3:.1f}" font-size="10">{label}</text>')
        parts.append(f'<line x1="{PAD}" y1="{sy(y):.1f}" x2="{W - PAD}" y2="{sy(y):.1f}" stroke="#eee"/>')
    return parts, sx, sy


def success_plot(rounds: list[dict]) -> str:
    """Success per round per group, with the 95% Wilson interval as a band."""
    groups = [g for g in rounds[0]["success"] if g != "overall"] if rounds else []
    parts, sx, sy = _axes(max(r["round"] for r in rounds) if rounds else 1, "success (95% CI)")
    series = {group: [(r["round"], r["success"][group]) for r in rounds if group in r["success"]] for group in groups}
    return _svg("success-plot", parts + _success_lines(series, sx, sy))


def rl_curve_plot(run: RunLayout) -> str:
    """PLD's specialists: evaluation success (95% CI) against the env steps each has spent, one line per
    (round, family); empty when the run trained none."""
    from vla_flywheel.train.specialist import CURVE_FILE

    series = {}
    for path in sorted(run.specialists.glob(f"round-*/*/{CURVE_FILE}")):
        points = [json.loads(line) for line in path.read_text().splitlines()]
        series[f"{path.parent.parent.name} {path.parent.name}"] = [(p["env_steps"], p["success"]) for p in points]
    if not series:
        return ""
    top = max(x for points in series.values() for x, _ in points)
    parts, sx, sy = _axes(top, "specialist success (95% CI)", x_label="env steps",
                          x_ticks=[round(top * f) for f in (0, 0.25, 0.5, 0.75, 1.0)])  # fmt: skip
    return "<h2>Residual specialists (PLD probe)</h2>" + _svg("rl-curve-plot", parts + _success_lines(series, sx, sy))


def world_model_section(run: RunLayout, rounds: list[dict]) -> str:
    """VLAW: per round, imagined episodes and the world model's fidelity on fresh real episodes (table), PSNR per
    horizon step of open-loop replay vs the copy-first-frame baseline (plot), imagined-vs-real strips; empty when the
    run imagined nothing."""
    from vla_flywheel.flywheel.vlaw import FIDELITY_FILE

    paths = {r["round"]: run.world_model_eval(r["round"]) / FIDELITY_FILE for r in rounds if r.get("world_model")}
    paths = {i: p for i, p in paths.items() if p.exists()}
    if not paths:
        return ""
    rows = []
    for r in rounds:
        w = r.get("world_model") or {}
        if "psnr" not in w:
            continue
        rows.append(f"<tr><td>{r['round']}</td><td>{w['imagined_kept']}/{w['imagined']}</td>"
                    f"<td>{w['imagined_mean_score']:.2f}</td><td>{w['psnr']:.2f} / {w['copy_psnr']:.2f}</td>"
                    f"<td>{w['ssim']:.3f} / {w['copy_ssim']:.3f}</td><td>{_steps_ahead(w)}</td>"
                    f"<td>{_pct(w['real_success'])}</td>"
                    f"<td>{_pct(w['real_judged_success'])}</td><td>{_pct(w['imagined_judged_success'])}</td>"
                    f"<td>{w['fidelity_episodes']}</td></tr>")  # fmt: skip
    table = ("<table class='world-model'><tr><th>round</th><th>imagined kept</th><th>mean P(success)</th>"
             "<th>PSNR dB / copy-first-frame</th><th>SSIM / copy</th><th>steps ahead of copying: mean PSNR / PSNR "
             "of the mean error</th><th>real success</th><th>judged success, real"
             "</th><th>judged success, imagined from the same starts</th><th>real episodes</th></tr>"
             f"{''.join(rows)}</table>")  # fmt: skip
    fidelity = {i: json.loads(p.read_text()) for i, p in sorted(paths.items())}
    top = max(max(f["replay"]["steps"]) for f in fidelity.values())
    y_max = max(10.0, 5 * -(-max(max(f["replay"]["psnr"] + f["replay"]["copy_psnr"]) for f in fidelity.values()) // 5))
    parts, sx, sy = _axes(top, "PSNR dB (dashed: copy first frame)", y_max, "env steps",
                          [round(top * f) for f in (0, 0.25, 0.5, 0.75, 1.0)])  # fmt: skip
    for n, (i, f) in enumerate(fidelity.items()):
        colour = COLOURS[n % len(COLOURS)]
        for name, dash in (("psnr", ""), ("copy_psnr", ' stroke-dasharray="4 3"')):
            line = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in zip(f["replay"]["steps"], f["replay"][name],
                                                                       strict=True))  # fmt: skip
            parts.append(f'<polyline points="{line}" fill="none" stroke="{colour}" stroke-width="2"{dash}/>')
        parts.append(f'<text x="{W - PAD - 150}" y="{PAD + 14 * n}" font-size="11" fill="{colour}">round {i}</text>')
    strips = []
    for i, f in fidelity.items():
        for name in f["strips"]:
            image = _embedded(paths[i].parent / name, "imagined-strip", f"round {i} {name}", "max-width:100%")
            strips.append(f"<div>{image}<br><small>round {i}</small></div>")
    return ("<h2>World model (VLAW)</h2><p>Imagined episodes each round, and the round's world model on fresh real "
            "policy episodes: open-loop replay of their actions (PSNR/SSIM), and the policy imagined from the same "
            "starts, judged by the success classifier.</p>" + table + _svg("fidelity-plot", parts)
            + "<h3>Imagined vs real, same start and seed</h3>" + "".join(strips))  # fmt: skip


def _steps_ahead(w: dict) -> str:
    """'a / b of n' steps where the world model beats copying; '-' for what a round recorded before it was counted."""
    if "steps" not in w:
        return "-"
    pooled = "-" if w.get("steps_ahead_pooled") is None else w["steps_ahead_pooled"]
    return f"{w['steps_ahead']} / {pooled} of {w['steps']}"


def _success_lines(series: dict[str, list[tuple[int, dict]]], sx, sy) -> list[str]:
    """Per named series of (x, success record): a CI band, a line, dots and a legend entry."""
    parts = []
    for n, (group, points) in enumerate(series.items()):
        colour = COLOURS[n % len(COLOURS)]
        band = [f"{sx(x):.1f},{sy(s['ci95'][1]):.1f}" for x, s in points]
        band += [f"{sx(x):.1f},{sy(s['ci95'][0]):.1f}" for x, s in reversed(points)]
        parts.append(f'<polygon points="{" ".join(band)}" fill="{colour}" opacity="0.15"/>')
        line = " ".join(f"{sx(x):.1f},{sy(s['rate']):.1f}" for x, s in points)
        parts.append(f'<polyline points="{line}" fill="none" stroke="{colour}" stroke-width="2"/>')
        for x, s in points:
            parts.append(f'<circle cx="{sx(x):.1f}" cy="{sy(s["rate"]):.1f}" r="3" fill="{colour}"/>')
        parts.append(
            f'<text x="{W - PAD - 150}" y="{PAD + 14 * n}" font-size="11" fill="{colour}">{_esc(group)}</text>'
        )
    return parts


def budget_plot(rounds: list[dict]) -> str:
    """Cumulative autonomous env episodes and policy gradient steps, as bars per round."""
    keys = ("env_episodes", "gradient_steps")
    top = max([1] + [r["budgets"]["spent"][k] for r in rounds for k in keys])
    parts, sx, sy = _axes(max(r["round"] for r in rounds) if rounds else 1, "spent (cumulative)", top)
    for r in rounds:
        for n, key in enumerate(keys):
            value = r["budgets"]["spent"][key]
            x = sx(r["round"]) - 8 + 9 * n
            parts.append(f'<rect x="{x:.1f}" y="{sy(value):.1f}" width="8" height="{sy(0) - sy(value):.1f}" '
                         f'fill="{COLOURS[n]}"><title>{key}: {value}</title></rect>')  # fmt: skip
    for n, key in enumerate(keys):
        parts.append(f'<text x="{W - PAD - 150}" y="{PAD + 14 * n}" font-size="11" fill="{COLOURS[n]}">{key}</text>')
    return _svg("budget-plot", parts)


def value_sparkline(values: list[float]) -> str:
    """The critic's value curve over an episode, 180 x 50."""
    w, h = 180, 50
    top, bottom = max(1.0, max(values)), min(0.0, min(values))
    pts = " ".join(
        f"{4 + (w - 8) * i / max(len(values) - 1, 1):.1f},{h - 4 - (h - 8) * (v - bottom) / (top - bottom):.1f}"
        for i, v in enumerate(values)
    )
    return (f'<svg class="value-curve" width="{w}" height="{h}"><polyline points="{pts}" fill="none" '
            f'stroke="#1f77b4" stroke-width="1.5"/></svg>')  # fmt: skip


def _svg(cls: str, parts: list[str]) -> str:
    return f'<svg class="plot {cls}" width="{W}" height="{H}" xmlns="http://www.w3.org/2000/svg">{"".join(parts)}</svg>'


def _embedded(path: Path, cls: str = "rollout-video", alt: str | None = None, style: str = "") -> str:
    """An <img> carrying the GIF or PNG file itself, so the report works offline as one file."""
    data = base64.b64encode(path.read_bytes()).decode()
    kind = path.suffix.lstrip(".").lower()
    css = f" style='{style}'" if style else ""
    return f"<img class='{cls}' alt='{_esc(alt or path.name)}'{css} src='data:image/{kind};base64,{data}'>"


def _rollouts(run: RunLayout, rounds: list[dict]) -> str:
    out = []
    for r in rounds:
        i = r["round"]
        figures = []
        for meta in sorted((run.round_data(i) / "preview").glob("episode_*.json")) if i else []:
            info = json.loads(meta.read_text())
            truth = '<span class="ok">success</span>' if info["success"] else '<span class="bad">failure</span>'
            kept = "kept" if info["judge_keep"] else "rejected"
            lines = [f"<b>{_esc(info['task'])}</b>"]
            if info.get("explanation"):
                lines.append(f"A2L: <i>{_esc(info['explanation'])}</i>")
            lines.append(f"judge {info['judge_score']:.2f} → {kept}; truth: {truth}")
            curve = value_sparkline(info["values"]) if info.get("values") else ""
            figures.append(f"<figure>{_embedded(meta.with_suffix('.gif'))}<figcaption>{'<br>'.join(lines)}{curve}"
                           "</figcaption></figure>")  # fmt: skip
        for gif in sorted((run.eval(i) / "videos").glob("*.gif")):
            figures.append(f"<figure>{_embedded(gif)}<figcaption>evaluation: {_esc(gif.stem)}</figcaption></figure>")
        if figures:
            title = "base policy" if i == 0 else f"round {i}"
            out.append(f"<h3>{title}</h3>{''.join(figures)}")
    return "".join(out)


def _round_table(rounds: list[dict]) -> str:
    groups = [g for g in rounds[0]["success"]] if rounds else []
    head = "".join(f"<th>{_esc(g)}</th>" for g in groups)
    rows = []
    for r in rounds:
        cells = "".join(
            f"<td>{_pct(r['success'][g]['rate'])} [{_pct(r['success'][g]['ci95'][0])}, "
            f"{_pct(r['success'][g]['ci95'][1])}] n={r['success'][g]['n']}</td>"
            for g in groups
        )
        spent, added = r["budgets"]["spent"], r["data_added"]
        kept = f"{added['kept']}/{added['generated']}" if added else "–"
        if added and added.get("relabelled"):
            kept += f" ({added['relabelled']} relabelled)"
        secs = ", ".join(f"{k} {v:.0f}s" for k, v in r["seconds"].items())
        rows.append(f"<tr><td>{r['round']}</td>{cells}<td>{spent['env_episodes']}</td><td>{spent['gradient_steps']}"
                    f"</td><td>{kept}</td><td style='text-align:left'>{_esc(secs)}</td></tr>")  # fmt: skip
    return (f"<table class='rounds'><tr><th>round</th>{head}<th>env episodes</th><th>grad steps</th><th>kept</th>"
            f"<th>wall time</th></tr>{''.join(rows)}</table>")  # fmt: skip


def _judge_table(rounds: list[dict]) -> str:
    rows = []
    for r in rounds:
        q = r.get("judge_quality") or {}
        if not q:
            continue
        rows.append(f"<tr><td>{r['round']}</td><td>{q['tp']}</td><td>{q['fp']}</td><td>{q['fn']}</td><td>{q['tn']}"
                    f"</td><td>{_pct(q['precision'])}</td><td>{_pct(q['recall'])}</td></tr>")  # fmt: skip
    return ("<table class='judge-confusion'><tr><th>round</th><th>kept & success (TP)</th><th>kept & failure (FP)</th>"
            "<th>rejected & success (FN)</th><th>rejected & failure (TN)</th><th>precision</th><th>recall</th></tr>"
            f"{''.join(rows)}</table>")  # fmt: skip


def render(run_dir: Path) -> str:
    run = RunLayout(Path(run_dir))
    config = json.loads((run.root / CONFIG_FILE).read_text())
    rounds = read_rounds(run.rounds)
    settings = ", ".join(f"{k}={_esc(config[k])}" for k in ("recipe", "interface", "judge", "families", "seed_demos",
                                                              "rounds", "episodes_per_round", "update"))  # fmt: skip
    body = [f"<h1>Flywheel run: {_esc(run.root.name)}</h1><p>{settings}</p>"]
    if not rounds:
        body.append("<p>No round has finished yet.</p>")
    else:
        body += ["<h2>Success per round</h2>", success_plot(rounds), _round_table(rounds),
                 "<h2>Budgets</h2>", budget_plot(rounds),
                 "<h2>Judge against the simulator's truth</h2>", _judge_table(rounds), rl_curve_plot(run),
                 world_model_section(run, rounds),
                 "<h2>Sample rollouts</h2>", _rollouts(run, rounds)]  # fmt: skip
    return (f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{_esc(run.root.name)}</title>"
            f"<style>{STYLE}</style></head><body>{''.join(body)}</body></html>")  # fmt: skip


def write_report(run_dir: Path) -> Path:
    run = RunLayout(Path(run_dir))
    tmp = run.report.with_name(f".{run.report.name}.tmp")
    tmp.write_text(render(run.root), encoding="utf-8")
    failpoint("report.write")
    tmp.replace(run.report)
    return run.report
