"""Prompt templates: safe placeholders, joining, aliases, CLIP warning."""

from __future__ import annotations

import pytest

from shotcrop_core.errors import ShotCropError
from shotcrop_core.prompting import estimate_clip_tokens, shot_name, shot_prompt
from shotcrop_core.shots import Box, Shot, ShotSet


def shotset(close_up: str = "a woman laughing", medium: str = "") -> ShotSet:
    return ShotSet(100, 100, Shot("establishing", Box(0, 0, 100, 100), "a park {at} dusk"),
                   Shot("medium", Box(10, 10, 90, 90), medium),
                   Shot("close_up", Box(30, 20, 60, 50), close_up))


def test_default_is_description():
    assert shot_prompt(shotset(), "close_up") == ("a woman laughing", [])


def test_placeholders_and_joining():
    text, warn = shot_prompt(shotset(), "close-up", "{shot} of {description}, {style}",
                             style="film still", prefix="masterpiece", suffix="8k")
    assert text == "masterpiece, close-up of a woman laughing, film still, 8k" and warn == []
    assert shot_prompt(shotset(), "establishing", "{shot}")[0] == "establishing shot"
    assert shot_prompt(shotset(), "medium", "{shot}")[0] == "medium shot"


def test_braces_in_text_are_safe_and_not_reexpanded():
    s = shotset(close_up="a {description} sign, {0} and {} and {{x}}")
    text, warn = shot_prompt(s, "close_up", "{description} | {style}", style="{shot}")
    assert text == "a {description} sign, {0} and {} and {{x}} | {shot}" and warn == []
    text, warn = shot_prompt(shotset(), "establishing")
    assert text == "a park {at} dusk"


def test_unknown_placeholder_kept_and_reported():
    text, warn = shot_prompt(shotset(), "close_up", "{foo} {description} {bar")
    assert text == "{foo} a woman laughing {bar"
    assert len(warn) == 1 and "{foo}" in warn[0]


def test_whitespace_and_empty_items_collapse():
    text, _ = shot_prompt(shotset(), "close_up", "  {description} ,\n\t{style},  ", prefix=" ",
                          suffix="  sharp   focus ")
    assert text == "a woman laughing, sharp focus"


def test_style_without_placeholder_is_appended():
    assert shot_prompt(shotset(), "close_up", style="oil painting", suffix="hd")[0] == \
        "a woman laughing, oil painting, hd"


def test_missing_description_warns():
    text, warn = shot_prompt(shotset(), "medium", "{shot}, {description}")
    assert text == "medium shot" and any("no description" in w for w in warn)


def test_clip_window_warning():
    long = " ".join(["word"] * 60)  # 60 * 1.3 = 78 > 75
    text, warn = shot_prompt(shotset(close_up=long), "close_up")
    assert any("CLIP" in w and "75" in w for w in warn)
    assert shot_prompt(shotset(close_up=" ".join(["word"] * 50)), "close_up")[1] == []
    assert estimate_clip_tokens("a red, shiny car.") == 8  # ceil(4 words * 1.3 + 2 marks)


@pytest.mark.parametrize("alias", ["close_up", "close-up", "closeup", "Close Up", " CLOSE-UP "])
def test_aliases(alias):
    assert shot_name(alias) == "close_up"


def test_unknown_shot_lists_names():
    with pytest.raises(ShotCropError, match="establishing, medium, close_up"):
        shot_prompt(shotset(), "portrait")
