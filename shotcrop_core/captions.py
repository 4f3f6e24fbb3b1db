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
from functools import lru_cache
from dataclasses import dataclass, field
from pathlib import Path

from .errors import ShotCropError

#: Phrases captioners put before what they see.
_LEAD_INS = re.compile(
    r"^(?:in (?:this|the) (?:image|photo|picture),? (?:we can see|there (?:is|are))|"
    r"(?:the|this) (?:image|photo|photograph|picture|shot|scene) (?:is (?:a|an) "
    r"(?:\w+ )?(?:photo|photograph|image|picture|shot) of|shows|depicts|features|is of|captures)|"
    r"this is (?:a|an) (?:\w+ )?(?:photo|photograph|image|picture|shot) of|"
    r"(?:in )?(?:the|this) (?:image|photo|picture),?|there (?:is|are)|we can see|"
    r"(?:(?:a|an) )?(?:(?:black and white|close-up|closeup|candid|color|colour|wide|"
    r"medium|full-length|full length) )?(?:photo|photograph|image|picture|portrait|shot|view|"
    r"close-up|closeup) (?:of|captures|shows)|arafed|araffe)\s+", re.I)
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
    "adult", "youth",
}
#: Subjects that are several people: named in the wide shot, never as "the subject's face".
_GROUPS = {"two", "three", "four", "five", "several", "some", "many", "group", "couple",
           "family", "crowd", "team", "people", "men", "women", "children", "kids", "boys",
           "girls", "friends", "players", "tourists", "fans", "and"}
#: The most words a part may have: a long first sentence is no subject or action.
_MAX_WORDS = {"subject": 12, "action": 14, "setting": 8}
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
    # plural subjects' forms ("two people walk", "a bride and groom pose")
    "sit": "sitting", "stand": "standing", "walk": "walking", "ride": "riding", "hold": "holding",
    "play": "playing", "pose": "posing", "smile": "smiling", "talk": "talking", "dance":
    "dancing", "eat": "eating", "wait": "waiting", "watch": "watching", "run": "running",
    "look": "looking", "presents": "presenting", "speaks": "speaking", "works": "working",
}
#: Tagger tags that say who is in the picture.
_PERSON_TAGS = {"1girl": "a woman", "1boy": "a man", "2girls": "two women", "2boys": "two men",
                "multiple girls": "several women", "multiple boys": "several men",
                "1other": "a person", "man": "a man", "woman": "a woman", "boy": "a boy",
                "girl": "a girl", "child": "a child", "person": "a person",
                "people": "people", "couple": "a couple", "group": "a group of people"}
MAX_CHARS = 2000  # of a caption, read; the first sentence is what counts


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
    def _head(self) -> list[str]:
        """The subject's words before what describes it ("a man" of "a man in a red jacket")."""
        words = (self.subject or "").split()
        cut = next((i for i, w in enumerate(words) if i and (w.lower() in _PLACE_PREPS or w.lower()
                    in ("with", "wearing", "who", "that", "and", "holding", "dressed"))),
                   len(words))
        return words[:cut]

    @property
    def is_person(self) -> bool:
        """Whether the subject names a person (or people)."""
        return any(w.lower() in _PEOPLE for w in self._head)

    @property
    def is_one(self) -> bool:
        """Whether the subject is one person (the medium and the close-up are about one)."""
        words = [w.lower() for w in (self.subject or "").split()]
        return self.is_person and bool(words) and words[0] in ("a", "an", "the", "one") \
            and not any(w in _GROUPS for w in words[:len(self._head) + 1])

    @property
    def who(self) -> str | None:
        """The subject's head, named again, when it is one person: "the man" (for "the man's
        face"); None for several people ("a man and a woman", "a couple") or no person."""
        return definite(" ".join(self._head)) if self.is_one else None


def definite(phrase: str) -> str:
    """A noun phrase with its first article made definite."""
    words = phrase.split()
    first = words[0].lower() if words else ""
    if first in ("a", "an", "one", "the"):
        return " ".join(["the"] + words[1:])
    if first in ("two", "three", "four", "five", "several", "some", "many"):
        return " ".join(["the", first] + words[1:])
    return phrase


def _sentence(text: str) -> str:
    """The first sentence without lead-ins ("The image shows a close-up of ...") or a final
    stop, its case kept (names stay names)."""
    t = " ".join(str(text).split())
    t = re.split(r"(?<=[.!?])\s", t, maxsplit=1)[0].rstrip(" .!?")
    while True:
        shorter = _LEAD_INS.sub("", t, count=1)
        if shorter == t:
            return t.strip(" ,;:")
        t = shorter


def _is_verb(word: str, after: str | None = None, before: str | None = None) -> bool:
    """A verb by its form: a known one, an -ing form (not after an article: "a fishing rod"),
    or an -s form before an article ("performs a trick")."""
    if before in ("a", "an", "the", "his", "her", "their", "its"):
        return False
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
    """A tagger's list ("1girl, solo, long hair, outdoors, street"), when it is one."""
    tags = [x.strip().replace("_", " ") for x in t.split(",") if x.strip()]
    if len(tags) < 3 or any(len(x.split()) > 3 for x in tags) or any(
            w in _VERBS for x in tags for w in x.split()):
        return None
    subject = next((_PERSON_TAGS[x] for x in tags if x in _PERSON_TAGS), None)
    action = next((x for x in tags if _is_verb(x.split()[0])), None)
    # A street before "outdoors", as in sentences: a place named over a kind of place.
    strong = [x for x in tags if x.split()[-1] in _PLACES - _WEAK_PLACES]
    setting = strong[0] if strong else None
    if setting and not setting.startswith(_ARTICLES):
        setting = ("an " if setting[0] in "aeiou" else "a ") + setting
    return Caption(subject, action, setting, "in" if setting else None)


def parse_caption(text) -> Caption:
    """Read a caption (`Caption`); empty text reads as nothing."""
    if text is None:
        return Caption()
    if not isinstance(text, str):
        raise ShotCropError(f"a caption must be text, got {type(text).__name__}")
    return _parse(text[:MAX_CHARS])


@lru_cache(maxsize=1024)  # one --caption serves every photo of a run: read it once
def _parse(text: str) -> Caption:
    cased = _sentence(text)
    t = cased.lower()
    if not t:
        return Caption()
    tags = _tags(t) if t.count(",") >= 2 else None
    if tags is not None:
        return tags
    # Commas stay as words: a place phrase ends at one.
    words = t.replace(",", " ,").split()
    verb = next((i for i, w in enumerate(words)
                 if i and _is_verb(w, words[i + 1] if i + 1 < len(words) else None,
                                   words[i - 1])), None)
    if verb is None:  # no verb: a subject and maybe a place
        rest, setting, at = _split_place(words)
        return _caption(cased, _join(rest), None, setting, at)
    head = words[:verb]
    while head and head[-1] in ("who", "that", "which", "is", "are"):  # "a surfer who rides"
        head = head[:-1]
    rest = words[verb:]
    if rest[0] in ("is", "are"):
        rest = rest[1:]
    elif rest:
        rest = [_participle(rest[0])] + rest[1:]
    rest, setting, at = _split_place(rest)
    action = _join(rest)
    if action and action.split()[-1] in ("and", "while", "with"):
        action = " ".join(action.split()[:-1]) or None
    return _caption(cased, _join(head), action, setting, at)


def _caption(cased: str, subject, action, setting, at) -> Caption:
    """The parts with the caption's own case (names stay names), none longer than a part may
    be (a run-on sentence is no subject), pronouns read as no one named."""
    low = cased.lower()

    def case(phrase: str | None) -> str | None:
        i = low.find(phrase) if phrase and len(low) == len(cased) else -1
        if i < 0:
            return phrase
        out = cased[i:i + len(phrase)]
        first = out.split(" ", 1)
        return " ".join([first[0].lower()] + first[1:]) if first[0].lower() in _ARTICLES \
            else out

    parts = {"subject": case(subject), "action": action, "setting": case(setting)}
    for k, v in parts.items():
        if v and len(v.split()) > _MAX_WORDS[k]:
            parts[k] = None
    if parts["subject"] and parts["subject"].lower() in ("he", "she", "they", "it"):
        parts["subject"] = None
    return Caption(parts["subject"], parts["action"], parts["setting"],
                   at if parts["setting"] else None)


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
            return self.by_index[index] if 0 <= index < len(self.by_index) else None
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
            lines = p.read_text(encoding="utf-8-sig").splitlines()
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
