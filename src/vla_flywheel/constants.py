"""Names shared by environments, datasets and models, following LeRobot's keys.

Keeping them in one place means a renamed key is one edit, and a LeRobot user finds the names they know.
"""

OBS_IMAGES_PREFIX = "observation.images."
OBS_STATE = "observation.state"
ACTION = "action"
TASK = "task"

# Per-frame bookkeeping LeRobot writes into every dataset.
TIMESTAMP = "timestamp"
FRAME_INDEX = "frame_index"
EPISODE_INDEX = "episode_index"
INDEX = "index"
TASK_INDEX = "task_index"

# Flywheel provenance, declared as extra features of every dataset we write.
SOURCE = "source"  # expert | policy | residual | world_model | human
ROUND = "round"  # flywheel round that produced the frame (0 = seed data)
NEXT_REWARD = "next.reward"
NEXT_DONE = "next.done"
NEXT_SUCCESS = "next.success"  # simulator truth: for evaluation and judge measurement only
EXPLANATION = "explanation"  # words saying what the episode's pick/place did (A2L ground truth)
PRIMITIVE_PICK = "primitive.pick"  # (x, y, yaw) of the pick, normalized table coordinates
PRIMITIVE_PLACE = "primitive.place"  # (x, y) of the place, normalized table coordinates

EPISODE_SEED = "episode.seed"  # the env.reset seed the episode started from (flywheel rounds: no scene twice)
JUDGE_SCORE = "judge.score"  # the round's judge: its score of the episode (P(success), final value, consistency)
JUDGE_KEEP = "judge.keep"  # whether the judge kept the episode for training
JUDGE_EXPLANATION = "judge.explanation"  # the explainer's words for the action (LACY), trained on when kept
JUDGE_WEIGHT = "judge.weight"  # per-frame training weight (0 = not trained on; progress-weighted for VLAC)
TASK_ASKED = "task.asked"  # the instruction an episode was played for (`task` differs when hindsight relabelled it)
REPLACED = "replan.replaced"  # kept, and trained on through its re-execution, the next episode (flywheel/replan.py)

SOURCES = ("expert", "policy", "replanned", "residual", "world_model", "human")

# Pre-tokenized instructions (LeRobot's key names); policies tokenize `task` themselves when these are absent.
OBS_LANG_TOKENS = "observation.language.tokens"
OBS_LANG_MASK = "observation.language.attention_mask"
