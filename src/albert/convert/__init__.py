"""The original TensorFlow ALBERT checkpoints and TF-Hub modules -> albert folders (see docs/convert.md).

``convert_tf_checkpoint`` reads google-research/albert's releases (a checkpoint prefix, a release
folder or its tarball), ``convert_tf_hub`` a TF-Hub module; both write a folder that albert and
transformers load and return a :class:`ConversionReport`. TensorFlow (``pip install
'albert-lm[tf]'``) is imported only when a checkpoint is read: importing this package does not
need it.
"""

from .tf_checkpoint import (
    INSTALL_HINT,
    ConversionError,
    ConversionReport,
    TFVariables,
    convert_tf_checkpoint,
    convert_tf_hub,
    load_tf_checkpoint,
)
from .tf_config import config_from_original, read_original_config
from .tf_names import convert_tf_variables, tf_to_torch_name, torch_to_tf_name

__all__ = [
    "INSTALL_HINT",
    "ConversionError",
    "ConversionReport",
    "TFVariables",
    "config_from_original",
    "convert_tf_checkpoint",
    "convert_tf_hub",
    "convert_tf_variables",
    "load_tf_checkpoint",
    "read_original_config",
    "tf_to_torch_name",
    "torch_to_tf_name",
]
