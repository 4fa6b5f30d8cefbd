"""vla-flywheel: robot manipulation policies that improve themselves on data they generate and judge."""

__version__ = "0.1.0"
