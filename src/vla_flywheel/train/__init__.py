"""Training: data in memory, the loop, checkpoints in LeRobot's layout, exact resume."""
