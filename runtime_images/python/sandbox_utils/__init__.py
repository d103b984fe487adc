"""Helpers a user's script may import inside the sandbox, as in Kusto's Python plugin.

`from sandbox_utils import Zipackage` (installing zipped packages from the artifacts folder) is
provided by its own module, to come. The runner's own machinery lives in `sandboxd_runtime`, not
here, so this package holds only what scripts are meant to use.
"""
