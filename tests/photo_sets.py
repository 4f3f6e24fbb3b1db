"""Photo sets for tests that compose many photos (batches, Ray), and how their results compare."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

DATA = Path(__file__).resolve().parent / "data"
SHARED = Path(__file__).resolve().parents[2] / "shared" / "bench" / "coco"


def dev_photos() -> tuple[Path, Path]:
    """(folder, COCO keypoints): the 16 dev photos where ../shared has them, else the three
    photos in tests/data (a user's clone)."""
    if (SHARED / "person_keypoints.json").exists():
        return SHARED / "images", SHARED / "person_keypoints.json"
    return DATA, DATA / "person_keypoints.json"


def copies(folder: Path, n: int) -> Path:
    """`n` rounds of copies of the two photos tests/data's keypoints name, and a COCO file
    naming every copy (kp.json beside the folder)."""
    folder.mkdir(parents=True)
    coco = json.loads((DATA / "person_keypoints.json").read_text())
    images, anns = [], []
    for k in range(n):
        for img in coco["images"]:
            name = f"c{k}_{img['file_name']}"
            shutil.copy(DATA / img["file_name"], folder / name)
            new_id = 1000 * (k + 1) + img["id"]
            images.append({**img, "id": new_id, "file_name": name})
            anns += [{**a, "id": 1000 * (k + 1) + a["id"], "image_id": new_id}
                     for a in coco["annotations"] if a["image_id"] == img["id"]]
    kp = folder.parent / "kp.json"
    kp.write_text(json.dumps({**coco, "images": images, "annotations": anns}))
    return kp


def lines(text: str) -> list[dict]:
    return [json.loads(x) for x in text.splitlines() if x.strip()]


def by_image(records: list[dict]) -> dict[str, dict]:
    out = {}
    for r in records:
        assert r["image"] not in out, f"{r['image']} recorded twice"
        out[r["image"]] = r
    return out


def digests(folder: Path, skip: tuple[str, ...] = ("shots.jsonl", "shots.parquet")) -> dict:
    """Every output file's bytes, by name."""
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.iterdir()) if p.name not in skip}
