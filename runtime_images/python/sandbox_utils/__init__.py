"""Helpers a user's script may import inside the sandbox, as in Kusto's Python plugin.

    from sandbox_utils import Zipackage
    Zipackage.install("Faker.zip")   # a zip of wheels (or a wheel, or a zip of package folders)

The runner's own machinery lives in `sandboxd_runtime`, not here, so this package holds only
what scripts are meant to use.
"""

from .zipackage import Zipackage, ZipackageError

__all__ = ["Zipackage", "ZipackageError"]
