"""Training: data (camera frames spooled to disk), the loop, checkpoints in LeRobot's layout, exact resume."""
