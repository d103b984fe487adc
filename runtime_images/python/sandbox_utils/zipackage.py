"""Zipackage: installing zipped packages from the request's artifacts, as in Kusto's plugin.

    from sandbox_utils import Zipackage
    Zipackage.install("Faker.zip")          # the name given in external_artifacts, any case
    from faker import Faker

The daemon has already downloaded, checked and unpacked every `.zip` and `.whl` artifact before
the sandbox started (artifacts/README.md): a flat zip of wheels, or a bare wheel, is installed
(each wheel checked against this image's Python and platform); a zip of package folders or of
plain files (a model) is unpacked as it is. Each bundle's tree is at /sandbox/site/<name>,
read-only, and listed in /sandbox/site/bundles.json. install() puts the tree on sys.path (after
the runtime's own folder, before the image's packages) and returns its path, so a script can also
read a model's files from it.
"""

import importlib
import json
import os
import sys

SITE_DIR = "/sandbox/site"
ARTIFACTS_DIR = "/sandbox/work/Temp"


class ZipackageError(ImportError):
    """A bundle that cannot be installed; the message names it and says why."""


def _bundles(site_dir):
    try:
        with open(os.path.join(site_dir, "bundles.json"), encoding="utf-8") as f:
            document = json.load(f)
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as error:
        raise ZipackageError(f"cannot read the bundle list: {error}") from None
    bundles = document.get("bundles") if isinstance(document, dict) else None
    return bundles if isinstance(bundles, dict) else {}


def _basename(name):
    # Scripts written for Kusto may pass a Windows-style path: ".\\Temp\\Faker.zip".
    return str(name).replace("\\", "/").rstrip("/").rsplit("/", 1)[-1]


class Zipackage:
    """Kusto's sandbox_utils.Zipackage."""

    site_dir = SITE_DIR
    artifacts_dir = ARTIFACTS_DIR

    @classmethod
    def _find(cls, zip_name):
        wanted = _basename(zip_name)
        bundles = _bundles(cls.site_dir)
        entry = bundles.get(wanted)
        if entry is None:
            matches = [name for name in bundles if name.casefold() == wanted.casefold()]
            if matches:
                wanted, entry = matches[0], bundles[matches[0]]
        if entry is None:
            present = sorted(os.listdir(cls.artifacts_dir)) if os.path.isdir(cls.artifacts_dir) else []
            if any(name.casefold() == wanted.casefold() for name in present):
                raise ZipackageError(f"artifact {wanted!r} is not a bundle: only .zip and .whl "
                                     f"artifacts can be installed")
            raise ZipackageError(
                f"no artifact named {wanted!r}; the request's external_artifacts are: "
                + (", ".join(repr(n) for n in present) if present else "none"))
        path = os.path.join(cls.site_dir, str(entry.get("path", wanted)))
        if not os.path.isdir(path):
            raise ZipackageError(f"bundle {wanted!r} was not unpacked")
        return wanted, entry, path

    @classmethod
    def install(cls, zip_name):
        """Makes the packages of the bundle `zip_name` importable; returns its folder."""
        _, _, path = cls._find(zip_name)
        if path not in sys.path:
            # After the runtime's folder (sys.path[0]), before the image's site-packages.
            sys.path.insert(1 if sys.path else 0, path)
        importlib.invalidate_caches()
        return path

    @classmethod
    def path(cls, zip_name):
        """The folder a bundle is unpacked in (read-only), without touching sys.path."""
        return cls._find(zip_name)[2]

    @classmethod
    def wheels(cls, zip_name):
        """The wheel files a bundle installed (empty for a zip of folders or files)."""
        return list(cls._find(zip_name)[1].get("wheels", []))
