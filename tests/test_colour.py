"""colour.py: hex text and 0..1 triples, and the one error for anything else."""

import pytest

from shotcrop_core.colour import hex_to_rgb8, parse_colour
from shotcrop_core.errors import ShotCropError


@pytest.mark.parametrize("text, want", [
    ("#000000", (0, 0, 0)), ("#ffffff", (255, 255, 255)), ("FFFFFF", (255, 255, 255)),
    ("#56B4E9", (0x56, 0xB4, 0xE9)), ("#fff", (255, 255, 255)), ("#a1c", (0xAA, 0x11, 0xCC)),
    ("  #102030 ", (16, 32, 48)),
])
def test_hex_to_rgb8(text, want):
    assert hex_to_rgb8(text) == want


@pytest.mark.parametrize("value, want", [
    ("#ffffff", (1.0, 1.0, 1.0)), ("#000", (0.0, 0.0, 0.0)), ("#ff0000", (1.0, 0.0, 0.0)),
    ("#808080", (128 / 255, 128 / 255, 128 / 255)),
    ((0, 0, 0), (0.0, 0.0, 0.0)), ([1, 0.5, 0.25], (1.0, 0.5, 0.25)),
])
def test_parse_colour(value, want):
    assert parse_colour(value, "c") == pytest.approx(want)


@pytest.mark.parametrize("value", ["", "   ", None])
def test_empty_is_no_colour_only_when_allowed(value):
    assert parse_colour(value, "pad_color", allow_empty=True) is None
    with pytest.raises(ShotCropError, match="is not a colour"):
        parse_colour(value, "pad_color")


@pytest.mark.parametrize("value, message", [
    ("blue", "pad_color 'blue' is not a colour: write it as hex, e.g. #000000 (black) or "
             "#ffffff (white)"),
    ("#12345", "pad_color '#12345' is not a colour: write it as hex"),
    ("#-1-1-1", "pad_color '#-1-1-1' is not a colour"),  # int(..., 16) alone would take it
    ("#ggg", "pad_color '#ggg' is not a colour"),
    ((255, 0, 0), "pad_color (255, 0, 0) is not a colour: give three numbers in 0..1 (R, G, B)"),
    ((0, 0), "pad_color (0, 0) is not a colour: give three numbers in 0..1"),
    ((0, float("nan"), 0), "three numbers in 0..1"),
    (3, "pad_color 3 is not a colour: give three numbers in 0..1"),
])
def test_bad_colours_give_one_clear_error(value, message):
    with pytest.raises(ShotCropError) as e:
        parse_colour(value, "pad_color")
    assert message in str(e.value)


def test_empty_allowed_says_so():
    with pytest.raises(ShotCropError, match="or leave it empty$"):
        parse_colour("red", "pad_color", allow_empty=True)
