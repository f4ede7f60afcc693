"""Test-wide settings: torch.compile's caches and temporary files go to the project's .cache/."""
import os
from pathlib import Path

_CACHE = Path(__file__).resolve().parents[1] / ".cache"
_CACHE.mkdir(exist_ok=True)
os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", str(_CACHE / "inductor"))
os.environ.setdefault("TMPDIR", str(_CACHE / "tmp"))
Path(os.environ["TMPDIR"]).mkdir(parents=True, exist_ok=True)
