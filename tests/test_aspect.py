import pytest

from shotcrop_core import ShotCropError, parse_aspect, parse_aspect_spec
from shotcrop_core.aspect import aspect_ratio


def test_parse():
    assert parse_aspect(" 16:9 ") == "16:9"
    assert parse_aspect("ORIGINAL") == "original"
    assert parse_aspect("2.35:1") == "2.35:1"
    assert aspect_ratio("free", 10, 10) is None
    assert aspect_ratio("original", 640, 480) == pytest.approx(4 / 3)


@pytest.mark.parametrize("bad", ["16:0", "wide", "0:3", "-1:2", "", "16:9:1", "1:1000"])
def test_bad_aspect(bad):
    with pytest.raises(ShotCropError, match="not valid"):
        parse_aspect(bad)


def test_spec():
    s = parse_aspect_spec("establishing=16:9,medium=4:5,close_up=1:1")
    assert s == {"establishing": "16:9", "medium": "4:5", "close_up": "1:1"}
    assert parse_aspect_spec("4:5") == {n: "4:5" for n in s}
    assert parse_aspect_spec("cu=1:1")["close_up"] == "1:1"
    assert parse_aspect_spec(None)["medium"] == "original"
    with pytest.raises(ShotCropError, match="unknown shot"):
        parse_aspect_spec("closeup2=1:1")
    with pytest.raises(ShotCropError, match="not valid"):
        parse_aspect_spec("medium=wide")
    with pytest.raises(ShotCropError, match="SHOT=W:H"):
        parse_aspect_spec("medium=1:1,4:5")
