"""What the Comfy Registry archive ships holds nothing its security scanner flags.

`comfy node publish` (comfy-cli) packs the git-tracked files minus the .comfyignore matches
(pathspec "gitwildmatch", comments and blank lines dropped, `[tool.comfy] includes` forced back
in). The Registry's scanner is a text matcher that also reads comments, strings and docs: one
finding sends a version to manual review. So every shipped text file is checked here for the
patterns it reacts to, and each finding is reported as file:line.

Files not yet committed count too (untracked, not git-ignored): they ship with the next commit.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import pytest

from conftest import AUDITED

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent

#: What the scanner reacts to, by name. Case-insensitive; matched line by line.
PATTERNS = {
    "subprocess": r"\bsubprocess\b",
    "shell command (os.system / os.popen / os.spawn* / os.exec*)":
        r"\bos\s*\.\s*(system|popen|spawn\w*|exec\w*)\s*\(",
    # Also as a method: torch's model.eval() reads the same (use model.train(False)).
    "eval/exec call": r"(eval|exec)\s*\(",
    "dynamic import (__import__)": r"__import__\s*\(",
    "unpickling": r"\b(pickle|marshal|dill)\s*\.\s*loads?\s*\(",
    "'pip install' text": r"\bpip3?\s+install\b",
    "network call": r"\burllib\b|\burlopen\b|\bhttp\.client\b|\bhttplib\b|\bhttpx\b"
                    r"|\brequests\s*\.\s*(get|post|put|patch|delete|head|request|Session)\b"
                    r"|\bsocket\s*\.\s*\w|\bwget\b|\bcurl\b|\bftplib\b|\bsmtplib\b",
}
_COMPILED = {name: re.compile(rx, re.I) for name, rx in PATTERNS.items()}


def _repository_files() -> list[str]:
    try:
        out = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"],
                             cwd=ROOT, capture_output=True, text=True, timeout=60, check=True)
    except (OSError, subprocess.SubprocessError) as e:
        pytest.skip(f"not a git checkout (git ls-files failed: {e}): the archive's file list "
                    "comes from git")
    return sorted({line for line in out.stdout.splitlines() if line.strip()})


def _ignore_spec():
    """.comfyignore as comfy-cli reads it (comfy_cli/file_utils.py _load_comfyignore_spec)."""
    import pathspec

    lines = [line.strip() for line in (ROOT / ".comfyignore").read_text("utf-8").splitlines()
             if line.strip() and not line.lstrip().startswith("#")]
    with warnings.catch_warnings():  # pathspec >= 1.0 renamed the style comfy-cli asks for
        warnings.simplefilter("ignore", DeprecationWarning)
        return pathspec.PathSpec.from_lines("gitwildmatch", lines)


def _includes() -> list[str]:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))
    return [i.strip("/") for i in data.get("tool", {}).get("comfy", {}).get("includes", [])]


def shipped_files() -> list[str]:
    """The repository paths `comfy node publish` would put in the archive."""
    spec, includes = _ignore_spec(), _includes()

    def forced(path: str) -> bool:
        return any(path == i or path.startswith(i + "/") for i in includes)

    return [f for f in _repository_files()
            if (ROOT / f).is_file() and (forced(f) or not spec.match_file(f))]


def _text(path: Path) -> str | None:
    data = path.read_bytes()
    if b"\0" in data[:8192]:
        return None  # weights, images
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def scan(files: list[str]) -> list[str]:
    findings = []
    for f in files:
        text = _text(ROOT / f)
        if text is None:
            continue
        for n, line in enumerate(text.splitlines(), 1):
            for name, rx in _COMPILED.items():
                m = rx.search(line)
                if m:
                    findings.append(f"{f}:{n}: {name}: {m.group(0)!r} in {line.strip()[:120]!r}")
    return findings


# -- the tests -------------------------------------------------------------------------------------
def test_the_archive_holds_the_pack_and_nothing_for_development():
    files = shipped_files()
    for needed in ("__init__.py", "nodes/__init__.py", "nodes/compose.py", "pyproject.toml",
                   "requirements.txt", "LICENSE", "web/shotcrop.js", "locales/en/main.json",
                   "shotcrop_core/__init__.py", "shotcrop_core/perception/weights/NOTICE",
                   "shotcrop_core/perception/weights/pose_landmark_full.safetensors",
                   "web/docs/ShotCropTripleShotCompose.md", "examples/ATTRIBUTION.md"):
        assert needed in files, f"{needed} would be missing from the Registry archive"
    dev = [f for f in files
           if f.split("/")[0] in ("tests", "benchmarks", "tools", ".ci", "docs", "node_modules")]
    assert not dev, dev


def test_no_shipped_file_holds_what_the_registry_scanner_flags():
    findings = scan(shipped_files())
    assert not findings, ("The Registry's scanner would flag these shipped lines (rephrase them, "
                          "or keep the file out of the archive in .comfyignore):\n"
                          + "\n".join(findings))


def test_the_scan_finds_what_it_looks_for(tmp_path, monkeypatch):
    """The matcher itself, on lines written for it (so a pattern typo cannot pass silently)."""
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    bad = {
        "a.py": "import subprocess\n",
        "b.py": "model.eval()\n",
        "c.py": "x = eval (text)\n",
        "d.py": 'raise Error("run: pip install foo")\n',
        "e.md": "Then `python -m pip install -e .`\n",
        "f.py": "from urllib.request import urlopen\n",
        "g.js": "new RegExp(p).exec(s)\n",
        "h.py": "data = pickle.loads(blob)\n",
        "i.py": "os.system('ls')\n",
        "j.py": "s = socket.socket()\n",
        "k.py": "requests.get(url)\n",
    }
    fine = {"ok.py": "# never eval, no subprocess-free shortcuts\nmodel.train(False)  # inference\n"
                     "Socket types; the train eval command; install the train extra\n"}
    for name, text in {**bad, **fine}.items():
        (tmp_path / name).write_text(text)
    hits = scan(sorted(bad) + sorted(fine))
    assert {h.split(":")[0] for h in hits} == set(bad) | {"ok.py"}, hits
    assert [h for h in hits if h.startswith("ok.py")] == [
        "ok.py:1: subprocess: 'subprocess' in '# never eval, no subprocess-free shortcuts'"]


def test_importing_the_shipped_library_opens_no_connection_and_runs_nothing():
    """Network calls or commands at import time: every shipped module of the library is imported
    in a fresh interpreter under an audit hook. (The pack as ComfyUI imports it is checked the
    same way in test_nodes_unit.py, which runs where ComfyUI is installed.)"""
    modules = sorted(f[:-3].replace("/", ".").removesuffix(".__init__")
                     for f in shipped_files()
                     if f.startswith("shotcrop_core/") and f.endswith(".py")
                     and not f.endswith("__main__.py"))  # that one runs the CLI
    code = textwrap.dedent(f"""
        import importlib, sys
        # Third-party libraries first: what they do when imported (torch asks ldconfig for
        # its libraries) is theirs; what our modules do on import is the question.
        for lib in ("numpy", "PIL.Image", "torch", "safetensors.torch", "huggingface_hub"):
            try:
                importlib.import_module(lib)
            except ImportError:
                pass
        events = []
        WATCH = {AUDITED!r}
        sys.addaudithook(lambda e, a: events.append(f"{{e}} {{a!r:.200}}") if e in WATCH else None)
        sys.path.insert(0, {str(ROOT)!r})
        for name in {modules!r}:
            importlib.import_module(name)
        print("EVENTS", events)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=300, env={**os.environ, "HF_HUB_OFFLINE": "1"}, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip().splitlines()[-1] == "EVENTS []", out.stdout[-3000:]


def test_pyproject_has_what_the_registry_reads():
    data = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))
    project, comfy = data["project"], data["tool"]["comfy"]
    # comfy-cli (registry/config_parser.py) reads requires-comfyui from [tool.comfy]; a
    # [project] key of that name is not PEP 621 and would make pip refuse to build the project.
    assert "requires-comfyui" not in project
    assert re.fullmatch(r"(==|>=|<=|!=|~=|>|<|<>|=)?\s*\d+\.\d+\.\d+(-[A-Za-z0-9]+)?",
                        comfy["requires-comfyui"]), comfy["requires-comfyui"]
    assert comfy["requires-comfyui"] == ">=0.3.64"  # the oldest ComfyUI the tests run
    classifiers = project["classifiers"]
    os_values = [c.split(" :: ", 1)[1] for c in classifiers if c.startswith("Operating System :: ")]
    assert os_values and all(v.startswith(("Microsoft", "POSIX", "MacOS", "OS Independent"))
                             for v in os_values)
    accelerators = [c.split(" :: ", 1)[1] for c in classifiers if c.startswith("Environment :: ")]
    assert set(accelerators) <= {"GPU :: NVIDIA CUDA", "GPU :: AMD ROCm", "GPU :: Intel Arc",
                                 "NPU :: Huawei Ascend", "GPU :: Apple Metal"}
    assert "torch" not in " ".join(project["dependencies"])  # never replace a user's torch
    assert re.fullmatch(r"\d+\.\d+\.\d+", project["version"])
    assert "comfyui" not in project["name"].lower()
    assert project["urls"]["Repository"]
    assert {"PublisherId", "DisplayName", "Icon"} <= set(comfy)
