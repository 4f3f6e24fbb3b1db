"""A captioner's text read for what the shot descriptions need: who, doing what, where.

Captions come from any captioning model a user runs (Florence2, JoyCaption, BLIP, core
ComfyUI's Qwen3-VL text generation) as a sentence, or from a tagger (WD14) as a tag list. Both
are read by rules, never by a model: the subject is the noun phrase before the first verb, the
action is the verb phrase after it, the setting the phrase about a place ("in a park", "down a
city street"). What cannot be read stays None, and the descriptions fall back to what the
landmarks measured.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from .errors import ShotCropError

#: Phrases captioners put before what they see.
_LEAD_INS = re.compile(
    r"^(?:(?:the|this) (?:image|photo|photograph|picture|shot|scene) (?:shows|depicts|features|is"
    r" of|captures)|(?:in )?(?:the|this) (?:image|photo|picture),?|there (?:is|are)|(?:a|an) "
    r"(?:(?:black and white|close-up|closeup|candid|color|colour|wide) )?(?:photo|photograph|"
    r"image|picture|portrait|shot|view) of)\s+", re.I)
_ARTICLES = ("a", "an", "the", "one", "two", "three", "four", "five", "several", "some",
             "many", "his", "her", "their")
#: Where a place phrase may start.
_PLACE_PREPS = {"in", "on", "at", "by", "near", "along", "across", "through", "down", "up",
                "over", "under", "inside", "outside", "beside", "behind", "around", "past",
                "into", "onto", "against", "among", "between", "atop"}
#: Nouns that name a place (the head of a setting phrase).
_PLACES = {
    "street", "road", "sidewalk", "alley", "avenue", "park", "garden", "yard", "beach", "shore",
    "field", "meadow", "forest", "woods", "jungle", "mountain", "mountains", "hill", "hills",
    "desert", "lake", "river", "ocean", "sea", "water", "waves", "pool", "snow", "slope",
    "city", "town", "village", "market", "square", "plaza", "station", "airport", "harbor",
    "harbour", "port", "bridge", "stadium", "court", "pitch", "track", "arena", "stage",
    "studio", "room", "kitchen", "bedroom", "bathroom", "office", "classroom", "library",
    "restaurant", "cafe", "café", "bar", "pub", "shop", "store", "mall", "church", "hall",
    "gym", "hospital", "house", "home", "building", "backyard", "porch", "balcony", "rooftop",
    "roof", "table", "desk", "counter", "couch", "sofa", "bed", "party", "wedding",
    "concert", "festival", "crowd", "sky", "sunset", "night", "outdoors", "indoors",
    "zoo", "museum", "aquarium", "farm", "barn", "boat", "deck", "dock", "pier", "trail",
    "path", "campus", "school", "playground", "parking", "lot", "tent", "camp", "lobby",
}
#: Words that name people: a caption whose subject is not one (an elephant, a cake) does not
#: name the person the shots are about.
_PEOPLE = {
    "man", "men", "woman", "women", "boy", "boys", "girl", "girls", "child", "children", "kid",
    "kids", "baby", "toddler", "person", "people", "guy", "lady", "gentleman", "couple",
    "family", "group", "crowd", "friends", "team", "player", "players", "athlete", "surfer",
    "skier", "snowboarder", "skateboarder", "skater", "rider", "cyclist", "biker", "runner",
    "dancer", "singer", "musician", "guitarist", "drummer", "actor", "actress", "model", "bride",
    "groom", "chef", "cook", "waiter", "waitress", "worker", "officer", "soldier", "student",
    "teacher", "doctor", "nurse", "tourist", "tourists", "fan", "fans", "customer", "vendor",
    "farmer", "fisherman", "pitcher", "batter", "catcher", "goalkeeper", "boxer", "climber",
    "swimmer", "hiker", "traveler", "traveller", "photographer", "artist", "mother", "father",
    "mom", "dad", "son", "daughter", "grandmother", "grandfather", "teenager", "teen",
    "adult", "youth", "he", "she",
}
#: -ing words that are nouns, not verbs.
_NOT_VERBS = {"building", "clothing", "ceiling", "painting", "evening", "morning", "wedding",
              "ring", "thing", "king", "string", "something", "anything", "nothing",
              "everything", "during", "wing", "spring", "swing", "sibling", "ping", "sing",
              "bring", "living", "dining", "awning", "railing", "lighting", "setting",
              "background", "pudding", "stocking", "earring", "earrings", "bedding"}
#: Third-person verbs captioners use, and their -ing form.
_VERBS = {
    "is": None, "are": None, "sits": "sitting", "stands": "standing", "walks": "walking",
    "rides": "riding", "holds": "holding", "looks": "looking", "plays": "playing",
    "runs": "running", "jumps": "jumping", "smiles": "smiling", "poses": "posing",
    "wears": "wearing", "carries": "carrying", "leans": "leaning", "lies": "lying",
    "reads": "reading", "talks": "talking", "surfs": "surfing", "skis": "skiing",
    "skates": "skating", "dances": "dancing", "eats": "eating", "drinks": "drinking",
    "throws": "throwing", "catches": "catching", "kicks": "kicking", "hits": "hitting",
    "swings": "swinging", "waits": "waiting", "watches": "watching", "works": "working",
    "cooks": "cooking", "sings": "singing", "laughs": "laughing", "climbs": "climbing",
    "crosses": "crossing", "hugs": "hugging", "waves": "waving", "points": "pointing",
}
#: Tagger tags that say who is in the picture.
_PERSON_TAGS = {"1girl": "a woman", "1boy": "a man", "2girls": "two women", "2boys": "two men",
                "multiple girls": "several women", "multiple boys": "several men",
                "1other": "a person", "man": "a man", "woman": "a woman", "boy": "a boy",
                "girl": "a girl", "child": "a child", "person": "a person",
                "people": "people", "couple": "a couple", "group": "a group of people"}
MAX_CHARS = 2000


@dataclass(frozen=True)
class Caption:
    """What a caption says: each part None when it does not say it."""

    subject: str | None = None   # a noun phrase: "a man in a red jacket"
    action: str | None = None    # a verb phrase: "riding a bicycle"
    setting: str | None = None   # the place: "a city street"
    at: str | None = None        # how the place relates: "down", "in", "on"

    @property
    def the_subject(self) -> str | None:
        """The subject named again ("a man in ..." -> "the man in ...")."""
        return definite(self.subject) if self.subject else None

    @property
    def who(self) -> str | None:
        """The subject's head, named again, when it is one person: "the man" (for "the man's
        face"); None for several people ("a man and a woman") or no person."""
        if not self.subject:
            return None
        words = self.subject.split()
        cut = next((i for i, w in enumerate(words) if i and (w in _PLACE_PREPS or w in (
            "with", "wearing", "who", "that", "and", "holding", "dressed"))), len(words))
        if words[cut:cut + 1] == ["and"] or words[0] not in ("a", "an", "the", "one"):
            return None
        return definite(" ".join(words[:cut]))

    @property
    def is_person(self) -> bool:
        """Whether the subject names a person (or people)."""
        head = (self.subject or "").split()
        cut = next((i for i, w in enumerate(head) if i and (w in _PLACE_PREPS or w in (
            "with", "wearing", "who", "that", "and", "holding", "dressed"))), len(head))
        return any(w in _PEOPLE for w in head[:cut])


def definite(phrase: str) -> str:
    """A noun phrase with its first article made definite."""
    words = phrase.split()
    if words and words[0] in ("a", "an", "one"):
        return " ".join(["the"] + words[1:])
    if words and words[0] in ("two", "three", "four", "five", "several", "some", "many"):
        return " ".join(["the"] + words)
    return phrase


def _sentence(text: str) -> str:
    """The first sentence, in lower case, without a lead-in or a final stop."""
    t = " ".join(str(text).split())
    t = re.split(r"(?<=[.!?])\s", t, maxsplit=1)[0].rstrip(" .!?")
    t = _LEAD_INS.sub("", t)
    return t.lower().strip(" ,;:")


def _is_verb(word: str, after: str | None = None) -> bool:
    """A verb by its form: a known one, an -ing form, or an -s form before an article
    ("performs a trick")."""
    if word in _VERBS or (word.endswith("ing") and len(word) > 4 and word not in _NOT_VERBS):
        return True
    if word.endswith("ed") and len(word) > 4 and after in _PLACE_PREPS:  # "gathered around"
        return True
    return (after in ("a", "an", "the", "his", "her", "their", "its") and len(word) > 3
            and word.endswith("s") and not word.endswith("ss"))


def _participle(word: str) -> str:
    """The -ing form of a third-person verb ("performs" -> "performing")."""
    if word in _VERBS:
        return _VERBS[word] or word
    if not word.endswith("s") or word.endswith("ing"):
        return word
    stem = word[:-2] if word.endswith(("ches", "shes", "sses", "xes")) else word[:-1]
    if stem.endswith("ie"):
        return stem[:-2] + "ying"
    if stem.endswith("e") and not stem.endswith(("ee", "ye", "oe")):
        return stem[:-1] + "ing"
    return stem + "ing"


#: Where a setting phrase ends: what follows is company or action, not the place.
_PLACE_ENDS = {"with", "while", "and", "as", "who", "which", "that", "where", ","}


#: Places that say when or among what more than where: taken when nothing else is named.
_WEAK_PLACES = {"sunset", "night", "sky", "crowd", "party", "concert", "festival", "wedding",
                "snow", "water", "waves", "outdoors", "indoors", "table", "desk", "counter"}


def _split_place(words: list[str]) -> tuple[list[str], str | None, str | None]:
    """The words without their setting phrase, the setting and its preposition: the last
    phrase whose preposition starts a place and whose words name one (a street before a
    sunset)."""
    found = _place_phrase(words, _PLACES - _WEAK_PLACES)
    return found if found[1] else _place_phrase(words, _PLACES)


def _place_phrase(words: list[str], places: set[str]) -> tuple[list[str], str | None, str | None]:
    for i in range(len(words) - 1, -1, -1):
        if words[i] in _PLACE_PREPS and i + 1 < len(words):
            end = next((j for j in range(i + 1, len(words)) if words[j] in _PLACE_ENDS),
                       len(words))
            start, at = i + 1, words[i]
            if words[i:i + 3] in (["in", "front", "of"], ["on", "top", "of"]):
                start, at = i + 3, " ".join(words[i:i + 3])
            elif words[i + 1:i + 3] in (["to", "a"], ["to", "the"]) and words[i] == "next":
                start, at = i + 2, "next to"
            phrase = words[start:end]
            if any(w in places for w in phrase):
                return words[:i] + words[end:], " ".join(phrase), at
    return words, None, None


def _tags(t: str) -> Caption | None:
    """A tagger's list ("1girl, solo, long hair, street, outdoors"), when it is one."""
    tags = [x.strip().replace("_", " ") for x in t.split(",") if x.strip()]
    if len(tags) < 3 or any(len(x.split()) > 3 for x in tags) or any(
            w in _VERBS for x in tags for w in x.split()):
        return None
    subject = next((_PERSON_TAGS[x] for x in tags if x in _PERSON_TAGS), None)
    places = [x for x in tags if x.split()[-1] in _PLACES]
    action = next((x for x in tags if _is_verb(x.split()[0])), None)
    setting = places[0] if places else None
    if setting and setting not in ("outdoors", "indoors", "night") and not setting.startswith(
            _ARTICLES):
        setting = ("an " if setting[0] in "aeiou" else "a ") + setting
    return Caption(subject, action, setting, None if setting in (None, "outdoors", "indoors",
                                                                "night") else "in")


def parse_caption(text) -> Caption:
    """Read a caption (`Caption`); empty text reads as nothing."""
    if text is None:
        return Caption()
    if not isinstance(text, str):
        raise ShotCropError(f"a caption must be text, got {type(text).__name__}")
    if len(text) > MAX_CHARS:
        text = text[:MAX_CHARS]
    t = _sentence(text)
    if not t:
        return Caption()
    tags = _tags(t) if t.count(",") >= 2 else None
    if tags is not None:
        return tags
    # Commas stay as words: a place phrase ends at one.
    words = t.replace(",", " ,").split()
    verb = next((i for i, w in enumerate(words)
                 if i and _is_verb(w, words[i + 1] if i + 1 < len(words) else None)), None)
    if verb is None:  # no verb: a subject and maybe a place
        rest, setting, at = _split_place(words)
        return Caption(_join(rest), None, setting, at)
    head = words[:verb]
    while head and head[-1] in ("who", "that", "which", "is", "are"):  # "a surfer who rides"
        head = head[:-1]
    subject = _join(head)
    rest = words[verb:]
    if rest[0] in ("is", "are"):
        rest = rest[1:]
    elif rest:
        rest = [_participle(rest[0])] + rest[1:]
    rest, setting, at = _split_place(rest)
    action = _join(rest)
    if action and action.split()[-1] in ("and", "while", "with"):
        action = " ".join(action.split()[:-1]) or None
    return Caption(subject, action, setting, at)


def _join(words: list[str]) -> str | None:
    """Words back into a phrase: commas where they were, none at the ends."""
    return " ".join(words).replace(" ,", ",").strip(" ,") or None


@dataclass(frozen=True)
class Captions:
    """Captions for a run's photos: `every` for all, `by_name` per path or file name (a
    `--captions` file), `by_index` per photo of a batch (a node's list of captions)."""

    every: str | None = None
    by_name: dict[str, str] = field(default_factory=dict)
    by_index: tuple[str, ...] = ()

    def get(self, name: str | None, index: int) -> str | None:
        if self.by_index:
            return self.by_index[index] if index < len(self.by_index) else None
        if name is not None:
            text = self.by_name.get(str(name))
            if text is None:
                text = self.by_name.get(str(name).replace("\\", "/").rsplit("/", 1)[-1])
            if text is not None:
                return text
        return self.every

    @classmethod
    def load(cls, path: str | Path, every: str | None = None) -> "Captions":
        """A JSON-lines file of {"image": path or file name, "caption": text}."""
        p = Path(path)
        try:
            lines = p.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as e:
            raise ShotCropError(f"cannot read the captions file {p}: {e}") from None
        by_name: dict[str, str] = {}
        for n, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                raise ShotCropError(f"{p}, line {n}: not JSON ({e.msg}): write one object a line, "
                                    '{"image": "photo.jpg", "caption": "..."}') from None
            if not (isinstance(row, dict) and isinstance(row.get("image"), str)
                    and isinstance(row.get("caption"), str)):
                raise ShotCropError(f"{p}, line {n}: needs \"image\" and \"caption\" as text, "
                                    f"got {line[:80]}")
            by_name[row["image"]] = row["caption"]
        return cls(every, by_name)


__all__ = ["Caption", "Captions", "definite", "parse_caption"]
