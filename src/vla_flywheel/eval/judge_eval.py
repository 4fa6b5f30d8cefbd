"""`flywheel eval-judge`: measure each role of a judge on held-out episodes, against the simulator's truth.

- critic on successful (expert) episodes: VOC of the value curve, the same on the video played backwards, and how
  much progress it reports under a mismatched instruction relative to the true one; on labelled rollouts: AUROC of
  the final value (and of the last frame's done head) for success vs failure, and the confusion matrix of the rule
  the vlac recipe keeps episodes by (value or done > alpha).
- success classifier on labelled rollouts: AUROC, and the confusion matrix at alpha (VLAW's P > 0.8) next to the
  argmax rule (P > 0.5), VLAW Table 3's comparison.
- explainer: semantic accuracy (the generated sentence parsed back to block / relation / reference, compared with
  the truth's) and exact-sentence accuracy.
- verifier: accuracy at 0.5 on a fixed sample of held-out pairs, overall and per kind of negative.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from vla_flywheel.envs.tabletop.describe import parse_description
from vla_flywheel.errors import ConfigError, DatasetError
from vla_flywheel.eval.judge_metrics import auroc, confusion, critic_keeps, integrate_progress, spearman
from vla_flywheel.eval.versions import library_versions
from vla_flywheel.models.judges import FlywheelJudge
from vla_flywheel.train.judge_data import (
    FINE_STEP_SECONDS,
    Episode,
    VerifierExamples,
    load_episodes,
    same_task,
    subsample,
    until_success,
)

JUDGE_EVAL_FILE = "judge_eval.json"
EXPERT, ROLLOUTS, PRIMITIVE = "expert", "rollouts", "primitive"


@dataclass
class JudgeEvalConfig:
    """judge: a train-judge run or pretrained_model dir. data: kind -> dataset dirs, where kind is
    `expert` (successful episodes: critic VOC), `rollouts` (labelled successes and failures: AUROC) or
    `primitive` (primitive episodes with explanations: explainer and verifier). alpha: the classifier's threshold and
    the critic's keep rule's (the vlac recipe's `threshold`).
    verifier_pairs: held-out pairs drawn (seeded) for the verifier."""

    judge: Path
    data: dict[str, tuple[Path, ...]]
    out: Path | None = None
    alpha: float = 0.8
    verifier_pairs: int = 1000
    seed: int = 0
    fps: int = 10
    roles: tuple[str, ...] = field(default=())

    def __post_init__(self):
        self.judge = Path(self.judge)
        self.data = {k: tuple(Path(p) for p in v) for k, v in self.data.items()}
        unknown = sorted(set(self.data) - {EXPERT, ROLLOUTS, PRIMITIVE})
        if unknown:
            raise ConfigError(f"eval-judge: unknown data kind(s) {unknown}; use expert=, rollouts= or primitive=")
        if not 0 < self.alpha < 1:
            raise ConfigError(f"eval-judge: alpha={self.alpha} must be in (0, 1)")


@torch.no_grad()
def value_curve(judge: FlywheelJudge, episode: Episode, stride: int, task: str | None = None) -> np.ndarray:
    """Critic value at frames 0, stride, 2*stride, ..., last (the last frame always included)."""
    idx = np.unique(np.r_[np.arange(0, len(episode.images), stride), len(episode.images) - 1])
    frames = episode.images[idx]
    deltas = judge.progress_along(frames, task or episode.task)
    return integrate_progress(deltas.cpu().numpy())


@torch.no_grad()
def evaluate_critic(judge, expert: list[Episode], rollouts: list[Episode], stride: int, alpha: float) -> dict:
    out: dict = {}
    if expert:
        forward, backward, matched, mismatched, finals = [], [], [], [], []
        done_early, done_late = [], []
        tasks = sorted({e.task for e in expert})
        for n, e in enumerate(expert):
            values = value_curve(judge, e, stride)
            forward.append(spearman(np.arange(len(values)), values))
            reversed_episode = Episode(e.images.flip(0), e.task, e.success, e.actions, e.row_success, e.explanations)
            back = value_curve(judge, reversed_episode, stride)
            backward.append(spearman(np.arange(len(back)), back))
            other = [t for t in tasks if not same_task(t, e.task)]
            wrong = other[n % len(other)] if other else e.task
            wrong_values = value_curve(judge, e, stride, wrong)
            matched.append(np.abs(np.diff(values)).mean())
            mismatched.append(np.abs(np.diff(wrong_values)).mean())
            finals.append((values[-1], wrong_values[-1]))
            last = len(e.images) - 1
            done = torch.sigmoid(judge.done_logit(e.images[[0, int(0.5 * last), last]], [e.task] * 3)).numpy()
            done_early += done[:2].tolist()
            done_late.append(float(done[2]))
        out["expert_episodes"] = len(expert)
        out["voc"] = float(np.mean(forward))
        out["voc_reversed"] = float(np.mean(backward))
        out["mean_abs_delta_matched"] = float(np.mean(matched))
        out["mean_abs_delta_mismatched"] = float(np.mean(mismatched))
        out["mismatch_ratio"] = out["mean_abs_delta_mismatched"] / max(out["mean_abs_delta_matched"], 1e-9)
        # |delta| counts every step's jitter; the final value is the net progress the critic credits the video with
        final_matched, final_mismatched = np.mean(finals, axis=0)
        out["final_value_matched"], out["final_value_mismatched"] = float(final_matched), float(final_mismatched)
        out["mismatch_final_value_ratio"] = float(final_mismatched / max(final_matched, 1e-9))
        out["done_accuracy"] = float(np.mean([p < 0.5 for p in done_early] + [p >= 0.5 for p in done_late]))
        if judge.config.grounding:
            out["grounding_accuracy"] = grounding_accuracy(judge, expert, stride)
    if rollouts:
        final = [float(value_curve(judge, e, stride)[-1]) for e in rollouts]
        done = [float(torch.sigmoid(judge.done_logit(e.images[-1:], [e.task]))[0]) for e in rollouts]
        labels = [e.success for e in rollouts]
        out["rollouts"] = len(rollouts)
        out["rollout_successes"] = int(sum(labels))
        out["final_value_auroc"] = auroc(final, labels)
        out["final_done_auroc"] = auroc(done, labels)  # the done head on the last frame
        out["alpha"] = alpha
        out[f"keep_at_alpha_{alpha}"] = confusion(critic_keeps(final, done, alpha), labels)  # what vlac keeps
    return out


@torch.no_grad()
def grounding_accuracy(judge: FlywheelJudge, expert: list[Episode], stride: int) -> float | None:
    """Share of the named blocks and pads a grounded critic places within one half-resolution cell of where the
    held-out demonstrations' gripper closed and opened (None when no episode records its gripper)."""
    hits = []
    for e in expert:
        if e.named_where is not None:
            idx = np.arange(0, len(e.images), stride)
            hits.append(judge.grounding(e.images[idx], [e.task] * len(idx), e.named_where[idx], e.named_known[idx])[1])
    return float(torch.cat(hits).float().mean()) if hits else None


@torch.no_grad()
def evaluate_success(judge, rollouts: list[Episode], alpha: float) -> dict:
    probs = []
    for e in rollouts:
        clip = e.images[subsample(len(e.images), judge.config.frames, None)][None]
        probs.append(float(torch.sigmoid(judge.success_logit(clip, [e.task]))[0]))
    labels = [e.success for e in rollouts]
    probs_arr = np.asarray(probs)
    return {
        "rollouts": len(rollouts), "rollout_successes": int(sum(labels)), "auroc": auroc(probs, labels),
        "alpha": alpha, f"at_alpha_{alpha}": confusion(probs_arr > alpha, labels),
        "argmax_0.5": confusion(probs_arr > 0.5, labels),
    }  # fmt: skip


@torch.no_grad()
def evaluate_explainer(judge, primitive: list[Episode], batch: int = 64) -> dict:
    rows = [(e, t) for e in primitive for t in range(len(e.images)) if e.explanations[t]]
    semantic = exact = 0
    examples = []
    for start in range(0, len(rows), batch):
        chunk = rows[start : start + batch]
        frames = torch.stack([e.images[t] for e, t in chunk])
        actions = torch.stack([e.actions[t] for e, t in chunk])
        for (e, t), said in zip(chunk, judge.explain(frames, actions), strict=True):
            truth = e.explanations[t]
            meaning = parse_description(said)
            semantic += meaning is not None and meaning == parse_description(truth)
            exact += said == truth
            if len(examples) < 8:
                examples.append({"truth": truth, "said": said})
    n = len(rows)
    return {"rows": n, "semantic_accuracy": semantic / n, "exact_accuracy": exact / n, "examples": examples}


@torch.no_grad()
def evaluate_verifier(judge, primitive: list[Episode], pairs: int, seed: int) -> dict:
    examples = VerifierExamples(primitive).sample(np.random.default_rng(seed), pairs)
    scores = []
    for start in range(0, pairs, 64):
        s = slice(start, start + 64)
        logit = judge.verify_logit(examples["frame"][s], examples["task"][s], examples["description"][s])
        scores += torch.sigmoid(logit).tolist()
    scores_arr = np.asarray(scores)
    labels = examples["consistent"].numpy() > 0.5
    correct = (scores_arr > 0.5) == labels
    kinds = np.asarray(examples["kind"])
    per_kind = {k: {"n": int((kinds == k).sum()), "accuracy": float(correct[kinds == k].mean())} for k in set(kinds)}
    balanced = 0.5 * (correct[labels].mean() + correct[~labels].mean())
    return {"pairs": pairs, "accuracy": float(correct.mean()), "balanced_accuracy": float(balanced),
            "auroc": auroc(scores_arr, labels), "per_kind": per_kind}  # fmt: skip


def evaluate_judge(cfg: JudgeEvalConfig, progress: bool = True) -> dict:
    judge = FlywheelJudge.from_pretrained(cfg.judge)
    key = judge.config.image_key
    homography = np.array(judge.config.workspace_homography) if judge.config.grounding else None
    data = {
        kind: load_episodes(list(dirs), key, homography if kind == EXPERT else None, as_judged=False)
        for kind, dirs in cfg.data.items()
    }
    outcomes = {e.success for e in data.get(ROLLOUTS, [])}
    if len(outcomes) == 1:
        raise DatasetError(f"eval-judge: every episode of rollouts={','.join(map(str, cfg.data[ROLLOUTS]))} is a "
                           f"{'success' if outcomes.pop() else 'failure'}; AUROC and precision need both outcomes, so "
                           "add labelled episodes of the other kind (e.g. another --data rollouts=DIR)")  # fmt: skip
    stride = max(1, round(FINE_STEP_SECONDS * cfg.fps))
    results: dict = {"judge": str(cfg.judge), "roles": list(judge.config.roles), "versions": library_versions()}
    roles = [r for r in judge.config.roles if not cfg.roles or r in cfg.roles]
    for role in tqdm(roles, desc="eval-judge", unit="role", disable=not progress):
        if role == "critic":
            expert = [until_success(e) for e in data.get(EXPERT, []) if e.success]
            results[role] = evaluate_critic(judge, expert, data.get(ROLLOUTS, []), stride, cfg.alpha)
        elif role == "success" and ROLLOUTS in data:
            results[role] = evaluate_success(judge, data[ROLLOUTS], cfg.alpha)
        elif role == "explainer" and PRIMITIVE in data:
            results[role] = evaluate_explainer(judge, data[PRIMITIVE])
        elif role == "verifier" and PRIMITIVE in data:
            results[role] = evaluate_verifier(judge, data[PRIMITIVE], cfg.verifier_pairs, cfg.seed)
    out = cfg.out or Path(cfg.judge) / "eval"
    out.mkdir(parents=True, exist_ok=True)
    (out / JUDGE_EVAL_FILE).write_text(json.dumps(results, indent=2))
    results["written"] = str(out / JUDGE_EVAL_FILE)
    return results


def summary_lines(results: dict) -> list[str]:
    """The headline numbers of an eval-judge result, one line per measurement."""
    lines = []
    if c := results.get("critic"):
        if "voc" in c:
            lines.append(f"critic    VOC {c['voc']:.3f} (reversed video {c['voc_reversed']:.3f}) on "
                         f"{c['expert_episodes']} expert episodes; mismatched/matched mean |delta| "
                         f"{c['mismatch_ratio']:.3f}, final value {c['mismatch_final_value_ratio']:.3f}; "
                         f"done accuracy {c['done_accuracy']:.3f}")  # fmt: skip
        if c.get("grounding_accuracy") is not None:
            lines.append(f"critic    names placed within a cell of the demos' gripper: {c['grounding_accuracy']:.3f}")
        if "final_value_auroc" in c:
            lines.append(f"critic    final-value AUROC {c['final_value_auroc']:.3f}, last-frame done AUROC "
                         f"{c['final_done_auroc']:.3f} on {c['rollouts']} rollouts ({c['rollout_successes']} "
                         "successes)")  # fmt: skip
            k = c[f"keep_at_alpha_{c['alpha']}"]
            lines.append(f"critic    vlac's keep rule (value or done > {c['alpha']}): precision {k['precision']:.3f} "
                         f"recall {k['recall']:.3f} (tp {k['tp']} fp {k['fp']} fn {k['fn']} tn {k['tn']})")  # fmt: skip
    if s := results.get("success"):
        a, m = s[f"at_alpha_{s['alpha']}"], s["argmax_0.5"]
        lines.append(
            f"success   AUROC {s['auroc']:.3f} on {s['rollouts']} rollouts ({s['rollout_successes']} successes)"
        )
        for name, c in ((f"P > {s['alpha']}", a), ("P > 0.5", m)):
            lines.append(f"success   {name}: precision {c['precision']:.3f} recall {c['recall']:.3f} "
                         f"(tp {c['tp']} fp {c['fp']} fn {c['fn']} tn {c['tn']})")  # fmt: skip
    if e := results.get("explainer"):
        lines.append(f"explainer semantic accuracy {e['semantic_accuracy']:.3f}, exact {e['exact_accuracy']:.3f} "
                     f"on {e['rows']} actions")  # fmt: skip
    if v := results.get("verifier"):
        kinds = ", ".join(f"{k} {d['accuracy']:.2f} (n={d['n']})" for k, d in sorted(v["per_kind"].items()))
        lines.append(
            f"verifier  accuracy {v['accuracy']:.3f} (balanced {v['balanced_accuracy']:.3f}), "
            f"AUROC {v['auroc']:.3f} on {v['pairs']} pairs: {kinds}"
        )
    return lines
