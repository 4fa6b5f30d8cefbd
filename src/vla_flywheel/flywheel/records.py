"""What a round adds up to: one `rounds.jsonl` line with success per family (n, 95% Wilson CI), budgets spent,
data added by source, the judge's confusion against the simulator's truth, and wall time per stage."""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path

import numpy as np

from vla_flywheel import constants as k
from vla_flywheel.data import DatasetReader
from vla_flywheel.errors import ConfigError
from vla_flywheel.eval.judge_metrics import confusion


def round_verdicts(path: Path) -> list[dict]:
    """Per episode of a round dataset: source, the judge's score and keep, the truth (simulator success) and whether
    hindsight relabelling stored it under another instruction than it was played for."""
    if not (path / "meta" / "info.json").exists():
        return []
    out = []
    for e in DatasetReader(path).iter_episodes():
        out.append({
            "source": e[k.SOURCE][0],
            "seed": int(np.asarray(e[k.EPISODE_SEED]).reshape(-1)[0]),
            "score": float(np.asarray(e[k.JUDGE_SCORE]).reshape(-1)[0]),
            "keep": bool(np.asarray(e[k.JUDGE_KEEP]).reshape(-1)[0]),
            "success": bool(np.asarray(e[k.NEXT_SUCCESS]).reshape(-1)[-1]),
            "frames": len(e[k.ACTION]),
            "kept_frames": int((np.asarray(e[k.JUDGE_WEIGHT]).reshape(-1) > 0).sum()),
            "relabelled": k.TASK_ASKED in e and e[k.TASK_ASKED][0] != e[k.TASK][0],
        })  # fmt: skip
    return out


def judge_quality(verdicts: list[dict]) -> dict:
    """The judge's keep decisions against the truth: counts, precision and recall (NaN when undefined)."""
    if not verdicts:
        return {}
    counts = confusion([v["keep"] for v in verdicts], [v["success"] for v in verdicts])
    return {key: (None if value != value else value) for key, value in counts.items()}  # NaN -> null (valid JSON)


def success_table(eval_info: dict) -> dict:
    """eval_info.json -> {"family/split": {n, successes, rate, ci95}, ..., "overall": {...}}."""
    out = {}
    for g in eval_info["groups"]:
        out[f"{g['family']}/{g['split']}"] = _stats(g)
    out["overall"] = _stats(eval_info["overall"])
    return out


def _stats(g: dict) -> dict:
    return {"n": g["n"], "successes": g["successes"], "rate": g["success_rate"], "ci95": g["ci95"]}


def kept_nothing(verdicts: list[dict], judge: str, threshold: float) -> str | None:
    """A warning when a learned judge kept none of a round's episodes: the round's training then only repeats what
    the policy had, and a user should see why (its scores against its threshold) while the run goes on."""
    if not verdicts or any(v["keep"] for v in verdicts):
        return None
    best = max(v["score"] for v in verdicts)
    return (f"the {judge} judge kept none of {len(verdicts)} episodes (highest score {best:.2f}, threshold "
            f"{threshold}); lower --threshold or pass a judge trained on more data (--judge-model)")  # fmt: skip


def data_added(verdicts: list[dict]) -> dict:
    kept = [v for v in verdicts if v["keep"]]
    return {
        "generated": len(verdicts),
        "kept": len(kept),
        "kept_by_source": dict(Counter(v["source"] for v in kept)),
        "replanned": sum(v["source"] == "replanned" for v in verdicts),  # re-executions (--replan), kept or not
        "kept_frames": sum(v["kept_frames"] for v in kept),
        "relabelled": sum(v.get("relabelled", False) for v in kept),
        "relabelled_true": sum(v.get("relabelled", False) and v["success"] for v in kept),  # its precision's numerator
        "true_success_of_generated": float(np.mean([v["success"] for v in verdicts])) if verdicts else None,
    }


def read_rounds(path: Path) -> list[dict]:
    """The round records of rounds.jsonl; a damaged line is one clear error (what, which line, how to redo it)."""
    if not path.exists():
        return []
    out = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as e:
            raise ConfigError(
                f"{path} line {number} is not valid JSON ({e.msg}); delete that line and `flywheel run --resume` "
                "redoes the round"
            ) from None
        if not isinstance(record, dict) or "round" not in record:
            raise ConfigError(f"{path} line {number} is not a round record; delete it and `flywheel run --resume`")
        out.append(record)
    return out


def append_line(path: Path, record: dict) -> None:
    """Append one JSON line by replacing the file: a crash leaves the old file or the new one, never a torn line."""
    old = path.read_text(encoding="utf-8") if path.exists() else ""
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(old + json.dumps(record) + "\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
