"""Which frame tells whether a grasp holds: the first one, the real one just before the closing, or the imagined one?

An imagined grasp is drawn from the world model's grasp odds (models/world_model/grasp_odds.py), which read the
scene under the tool in the rollout's first frame (with blocks already carried moved). On `place_grid` rollouts that
is not enough (README "VLAW": 24 of 49 steps ahead of copying, 49 of 49 with the recorded grasps): blocks get pushed
before the fingers close, and fingers that close while the tool still moves miss. This bench asks where the missing
evidence is. For every closing the recorded states show (carry.BlockCarry's rule), it takes the patch under the tool
from three frames:
- first: the scene the odds read now;
- real: the recorded frame before the closing chunk (what the camera saw; no imagined rollout has it);
- imagined: the world model's frame before the closing chunk, replayed open loop from the first frame under the
  recorded actions (what imagination could read instead).
It fits GraspOdds to each on the training episodes' closings and scores every source on the test episodes' closings:
AUROC, and the expected share of wrong draws (mean of P over misses and 1 - P over holds; the share a draw gets wrong).

Run: .venv/bin/python bench/grasp_evidence.py WORLD_MODEL --train DIR [DIR ...] --test DIR [--train-episodes 600]
     [--test-episodes 300] [--seeds 0 1] [--out evidence.json]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from vla_flywheel.data.layout import write_json_atomic
from vla_flywheel.eval.judge_metrics import auroc
from vla_flywheel.models.encoders import to_float_images
from vla_flywheel.models.world_model import FlywheelWorldModel
from vla_flywheel.models.world_model.grasp_odds import patch_at
from vla_flywheel.train.world_model_data import load_episodes
from vla_flywheel.train.world_model_grasps import episode_closings, train_grasp_odds

SOURCES = ("first", "real", "imagined")


@torch.no_grad()
def closings_with_evidence(model: FlywheelWorldModel, directories: list[Path], limit: int) -> dict[str, torch.Tensor]:
    """Every recorded closing of the first `limit` episodes: {source: patches [N, 3, P, P]} and "held" [N] bool."""
    c, k = model.config, model.config.action_chunk
    episodes = [e for d in directories for e in load_episodes([d], c.image_key)][:limit]
    out: dict[str, list] = {name: [] for name in (*SOURCES, "held")}
    for e in tqdm(episodes, desc="replaying", unit="episode"):
        real = to_float_images(torch.from_numpy(e.images))  # [T, 3, S, S]
        chunks = (len(e.images) - 1) // k
        actions = torch.from_numpy(e.actions[: chunks * k]).reshape(1, chunks, k, -1)  # [1, N, k, A]
        frames, _ = model.rollout(torch.from_numpy(e.images[:1]), torch.from_numpy(e.states[:1]), actions)
        imagined = torch.cat([real[:1], to_float_images(frames[0].cpu())])  # [N + 1, 3, S, S]: n = before chunk n
        for closing in episode_closings(e, c):
            out["first"].append(closing.scene)
            out["real"].append(patch_at(real[closing.chunk * k], closing.uv))
            out["imagined"].append(patch_at(imagined[closing.chunk], closing.uv))
            out["held"].append(closing.held)
    if not out["held"]:
        raise SystemExit(f"grasp_evidence: no closings in {[str(d) for d in directories]}; pass ee_delta episodes "
                         "that record the gripper's opening")  # fmt: skip
    return {name: torch.stack(v) if name != "held" else torch.tensor(v) for name, v in out.items()}


def scores(p: torch.Tensor, held: torch.Tensor) -> tuple[float, float]:
    """(P(hold) [N], held [N] bool) -> (AUROC, expected share of wrong draws)."""
    wrong = torch.where(held, 1 - p, p).mean()
    return auroc(p.tolist(), held.tolist()), float(wrong)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("world_model", type=Path, help="a trained world model (flywheel train-world-model --out)")
    parser.add_argument("--train", type=Path, nargs="+", required=True, help="datasets whose closings are fitted")
    parser.add_argument("--test", type=Path, nargs="+", required=True, help="datasets whose closings are scored")
    parser.add_argument("--train-episodes", type=int, default=600)
    parser.add_argument("--test-episodes", type=int, default=300)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1], help="fitting seeds (the table averages them)")
    parser.add_argument("--out", type=Path, default=None, help="write the table as JSON")
    args = parser.parse_args()
    torch.set_num_threads(1)
    model = FlywheelWorldModel.from_pretrained(args.world_model)
    if model.sprite is None or model.config.opening_index is None:
        raise SystemExit(f"grasp_evidence: {args.world_model} does not carry blocks (no camera or opening); train it "
                         "on ee_delta episodes of the tabletop")  # fmt: skip
    started = time.perf_counter()
    train = closings_with_evidence(model, args.train, args.train_episodes)
    test = closings_with_evidence(model, args.test, args.test_episodes)
    replayed = time.perf_counter() - started
    print(f"closings: {len(train['held'])} to fit ({int(train['held'].sum())} held), {len(test['held'])} scored "
          f"({int(test['held'].sum())} held); replaying took {replayed:.0f} s")  # fmt: skip
    table = {}
    for fitted_on in SOURCES:
        rows = {source: [] for source in SOURCES}
        for seed in args.seeds:
            odds = train_grasp_odds(train[fitted_on], train["held"], seed)
            for source in SOURCES:
                rows[source].append(scores(torch.sigmoid(odds(test[source])).detach(), test["held"]))
        table[fitted_on] = {source: np.mean(v, axis=0).tolist() for source, v in rows.items()}
    print(f"\nAUROC / expected share of wrong draws on the test closings, mean of {len(args.seeds)} fitting seeds")
    print(f"{'fitted on':>10} " + " ".join(f"{'read ' + s:>16}" for s in SOURCES))
    for fitted_on, row in table.items():
        print(f"{fitted_on:>10} " + " ".join(f"{a:>8.3f} / {w:.3f}" for a, w in row.values()))
    if args.out:
        write_json_atomic(args.out, {"world_model": str(args.world_model), "train_closings": len(train["held"]),
                                     "test_closings": len(test["held"]), "seeds": args.seeds, "table": table,
                                     "replay_seconds": replayed})  # fmt: skip
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
