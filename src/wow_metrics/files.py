"""Swap a folder into place so that readers see the old or the new contents, never a mix."""

from __future__ import annotations

import os
import shutil
from pathlib import Path


def replace_dir(staging: Path, final: Path) -> None:
    """Make the fully written `staging` folder `final`, moving any old `final` aside first."""
    old = final.with_name(f".{final.name}-old-{os.getpid()}")
    shutil.rmtree(old, ignore_errors=True)
    if final.exists():
        os.replace(final, old)
    os.replace(staging, final)
    shutil.rmtree(old, ignore_errors=True)
