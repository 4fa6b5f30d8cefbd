"""LeRobotDataset v3.0 reading and writing with pyarrow only (no `datasets` or `lerobot` dependency).

Write with `DatasetWriter.create(...)` / `DatasetWriter.open(...)` and `add_episode`; read with
`DatasetReader(root)`. What we write opens in LeRobot as an image-in-parquet dataset.
"""

from vla_flywheel.data.features import default_features, feature
from vla_flywheel.data.layout import CODEBASE_VERSION, FLYWHEEL_SCHEMA_VERSION, dataset_size_bytes
from vla_flywheel.data.reader import DatasetReader
from vla_flywheel.data.writer import DatasetWriter

__all__ = [
    "CODEBASE_VERSION",
    "FLYWHEEL_SCHEMA_VERSION",
    "DatasetReader",
    "DatasetWriter",
    "dataset_size_bytes",
    "default_features",
    "feature",
]
