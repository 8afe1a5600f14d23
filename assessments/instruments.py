"""Instruments as data: definitions loaded from JSON files, validated, and kept in a registry.

Pure Python (no Django, no database), so the scoring engine (``assessments.scoring``) and its tests run
anywhere. A definition file says what an instrument is (items, response options with their numeric
values), how it is scored (scales, missing-item rule, bands, flags) and under which licence its wording
may be shown. ``docs/instruments.md`` describes the format and how to add an instrument.

Definitions are read from ``fixtures/instruments/*.json`` (shipped in the wheel) and from any extra
directories a deployment passes to :func:`load_registry` (the settings' ``INSTRUMENT_DIRS``). Every
problem in a file raises :class:`InstrumentDefinitionError` naming the file and the exact field, so a
broken definition stops the process at start-up rather than scoring anybody wrongly.

Wording is kept per language. A definition's own texts are in its ``language`` (English for the
built-in ones); a free definition may add ``translations`` (e.g. the official Spanish PHQ-9), and a
deployment's wording file (:func:`apply_wording`) installs the wording of licensed instruments, which the
repository does not carry, in the language the file names. :meth:`Instrument.item_text` never returns a
placeholder: wording missing in the language asked for raises :class:`WordingNotInstalled`, so a
participant can never be shown one; staff views use :meth:`Instrument.staff_item_text`.

Arithmetic is exact (``fractions.Fraction``): GAD-Q-IV points are thirds and quarters, and
the Weight Concerns Scale maps options onto 0-100 in sixths, so floating-point sums must not decide
which side of a cut-off a score falls.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any, Literal

BUILTIN_DIR = Path(__file__).resolve().parent.parent / "fixtures" / "instruments"
DOCS_HINT = "docs/instruments.md"

SCHEMA_VERSION = 1
CODE_RE = re.compile(r"^[a-z][a-z0-9]*$")
LANGUAGE_RE = re.compile(r"^[a-z]{2,3}(?:-[a-z0-9]{2,8})*$")
NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")
# Labels a restricted instrument may carry in the repository: numbers and yes/no, nothing of its text.
NEUTRAL_LABEL_RE = re.compile(r"^(?:-?\d+|Yes|No)$")
# Labels that read the same in every language (a bare number): a translation need not repeat them.
NUMERIC_LABEL_RE = re.compile(r"^-?\d+(?:\.\d+)?$")

WordingLicence = Literal["free", "restricted"]
ScaleMethod = Literal["sum", "mean"]
MissingMethod = Literal["prorate", "zero", "none"]


class InstrumentDefinitionError(ValueError):
    """A definition or wording file is invalid. The message names the file and the field."""


class WordingNotInstalled(LookupError):
    """The wording of an instrument (an item, an answer label, the instructions) is not installed in the
    language asked for. Participant pages catch it and never show a placeholder in its place."""

    def __init__(self, code: str, language: str, what: str) -> None:
        self.code, self.language, self.what = code, language, what
        super().__init__(f"{code}: {what} has no wording installed in {language!r} (see {DOCS_HINT}).")


class UnknownInstrumentError(LookupError, ValueError):
    """No instrument with this code is registered. A ``ValueError`` too, so write paths that turn
    ``ValueError`` into a 4xx need no special case."""


# --------------------------------------------------------------------------------------------------
# The definition, as data
# --------------------------------------------------------------------------------------------------


def number(value: Fraction) -> int | float:
    """An exact value as a plain number: ``int`` when whole, else ``float``."""
    return int(value) if value.denominator == 1 else float(value)


def number_text(value: int | float) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


@dataclass(frozen=True)
class Option:
    """One response option. ``value`` is what is stored and exported (the answer); ``points`` is what
    the option contributes to every scale, after the item's mapping, reversal and divisor."""

    value: int | float
    label: str
    points: Fraction
    loinc: str | None = None


@dataclass(frozen=True)
class Item:
    key: str
    options: tuple[Option, ...]
    scored: bool = True
    text: str | None = None
    reverse: bool = False
    divisor: Fraction | None = None
    loinc: str | None = None

    @property
    def values(self) -> tuple[int | float, ...]:
        return tuple(option.value for option in self.options)

    def option_for(self, value: int | float) -> Option | None:
        for option in self.options:
            if option.value == value:
                return option
        return None

    @property
    def min_points(self) -> Fraction:
        return min(option.points for option in self.options)

    @property
    def max_points(self) -> Fraction:
        return max(option.points for option in self.options)


@dataclass(frozen=True)
class MissingRule:
    """What to do when items of a scale are unanswered.

    ``prorate``: with at most ``max_missing`` items missing, the score is computed from the answered
    items as if complete (a sum becomes mean of answered x number of items; a mean is the mean of the
    answered items), rounded half up to a whole number when ``round_to_integer``. ``zero``: missing
    items count 0 (for skip patterns). ``none``: any missing item leaves the scale without a score.
    Whatever the method, a missing ``required`` item leaves the scale without a score.
    """

    method: MissingMethod = "none"
    max_missing: int = 0
    round_to_integer: bool = False
    required: tuple[str, ...] = ()


@dataclass(frozen=True)
class Scale:
    """The total or a subscale: which items, how combined, the missing rule, and the reported
    precision (decimal places, rounded half up; ``None`` = exact)."""

    name: str
    items: tuple[str, ...]
    method: ScaleMethod
    missing: MissingRule
    precision: int | None
    minimum: Fraction
    maximum: Fraction


@dataclass(frozen=True)
class Band:
    """A band covers scores from ``minimum`` up to the next band's minimum (exclusive)."""

    name: str
    label: str
    minimum: Fraction


@dataclass(frozen=True)
class BandSet:
    name: str
    bands: tuple[Band, ...]
    source: str = ""
    uncertain: bool = False

    def classify(self, score: Fraction) -> str:
        chosen = self.bands[0].name
        for band in self.bands:
            if score >= band.minimum:
                chosen = band.name
        return chosen


@dataclass(frozen=True)
class FlagRule:
    """A flag raised from one item's raw answer, never from an imputed value: when the item is
    missing (``when_missing``), or when its answered value is at least ``minimum``."""

    name: str
    item: str
    minimum: Fraction | None = None
    when_missing: bool = False


@dataclass(frozen=True)
class Licence:
    wording: WordingLicence
    notice: str


@dataclass(frozen=True)
class Wording:
    """An instrument's wording in a language other than its definition's: item texts, answer labels
    (``{item_key: {value: label}}``), instructions and, optionally, the name participants read."""

    language: str
    items: Mapping[str, str] = field(default_factory=dict)
    options: Mapping[str, Mapping[int | float, str]] = field(default_factory=dict)
    instructions: str | None = None
    name: str | None = None
    short_name: str | None = None

    def merged(self, other: Wording) -> Wording:
        """This wording with ``other``'s texts laid over it (a later wording file wins)."""
        options = {key: dict(labels) for key, labels in self.options.items()}
        for key, labels in other.options.items():
            options.setdefault(key, {}).update(labels)
        return Wording(
            language=self.language,
            items={**self.items, **other.items},
            options=options,
            instructions=other.instructions or self.instructions,
            name=other.name or self.name,
            short_name=other.short_name or self.short_name,
        )


@dataclass(frozen=True)
class Instrument:
    code: str
    name: str
    short_name: str
    version: str
    recall_period: str
    language: str
    items: tuple[Item, ...]
    total: Scale
    subscales: tuple[Scale, ...]
    band_sets: Mapping[str, BandSet]
    default_band_set: str | None
    flags: tuple[FlagRule, ...]
    licence: Licence
    sources: tuple[str, ...]
    instructions: str | None = None
    loinc_panel: str | None = None
    loinc_total: str | None = None
    notes: str = ""
    source_file: str = ""
    translations: Mapping[str, Wording] = field(default_factory=dict)
    _index: Mapping[str, Item] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_index", {item.key: item for item in self.items})

    @property
    def item_keys(self) -> tuple[str, ...]:
        return tuple(item.key for item in self.items)

    @property
    def scored_items(self) -> tuple[Item, ...]:
        return tuple(item for item in self.items if item.scored)

    def has_item(self, key: str) -> bool:
        return key in self._index

    def item(self, key: str) -> Item:
        try:
            return self._index[key]
        except KeyError:
            raise KeyError(f"{self.code}: unknown item {key!r}") from None

    # ---- wording, per language ------------------------------------------------------------------

    def _language(self, language: str | None) -> str:
        return language or self.language

    def has_wording(self, language: str | None = None) -> bool:
        """Whether a participant can be shown the whole instrument in ``language`` (default: the
        definition's): every item's text, every answer label that is not a bare number, and the
        instructions when the instrument has any."""
        language = self._language(language)
        if language == self.language:
            return all(item.text for item in self.items)
        wording = self.translations.get(language)
        if wording is None:
            return False
        if self.instructions and not wording.instructions:
            return False
        for item in self.items:
            if item.key not in wording.items:
                return False
            labels = wording.options.get(item.key, {})
            if any(o.value not in labels and not NUMERIC_LABEL_RE.match(o.label) for o in item.options):
                return False
        return True

    def wording_languages(self) -> tuple[str, ...]:
        """The languages the whole instrument can be shown in, sorted (the definition's first)."""
        others = sorted(lang for lang in self.translations if lang != self.language)
        return tuple(lang for lang in (self.language, *others) if self.has_wording(lang))

    @property
    def wording_installed(self) -> bool:
        """Whether every item has its wording in the definition's language."""
        return self.has_wording(self.language)

    def item_text(self, key: str, language: str | None = None) -> str:
        """The item's wording in ``language`` (default: the definition's). Never a placeholder: raises
        :class:`WordingNotInstalled` when it is not installed, so nothing unfinished reaches a participant."""
        item = self.item(key)
        language = self._language(language)
        if language == self.language:
            text = item.text
        else:
            wording = self.translations.get(language)
            text = wording.items.get(key) if wording else None
        if not text:
            raise WordingNotInstalled(self.code, language, f"item {key}")
        return text

    def staff_item_text(self, key: str, language: str | None = None) -> str:
        """For staff pages only: the item's wording, or a clearly marked placeholder when it is missing."""
        try:
            return self.item_text(key, language)
        except WordingNotInstalled:
            return f"[Item wording not installed: {key} ({self._language(language)}) — see {DOCS_HINT}]"

    def option_label(self, key: str, value: int | float, language: str | None = None) -> str:
        """The answer's label in ``language`` (default: the definition's). A bare number reads the same in
        every language; any other label missing in ``language`` raises :class:`WordingNotInstalled`."""
        option = self.item(key).option_for(value)
        if option is None:
            raise KeyError(f"{key}: {value!r} is not one of the item's values {list(self.item(key).values)}")
        language = self._language(language)
        if language == self.language:
            return option.label
        wording = self.translations.get(language)
        label = wording.options.get(key, {}).get(option.value) if wording else None
        if label:
            return label
        if NUMERIC_LABEL_RE.match(option.label):
            return option.label
        raise WordingNotInstalled(self.code, language, f"answer {number_text(option.value)} of {key}")

    def instructions_in(self, language: str | None = None) -> str | None:
        """The instructions in ``language``: ``None`` when the instrument has none; raises
        :class:`WordingNotInstalled` when it has them but not in that language."""
        language = self._language(language)
        if language == self.language:
            return self.instructions
        wording = self.translations.get(language)
        if wording is not None and wording.instructions:
            return wording.instructions
        if self.instructions:
            raise WordingNotInstalled(self.code, language, "the instructions")
        return None

    def name_in(self, language: str | None = None) -> str:
        """The name participants read in ``language`` (the definition's when no translation names it)."""
        wording = self.translations.get(self._language(language))
        return (wording.name if wording else None) or self.name

    def short_name_in(self, language: str | None = None) -> str:
        wording = self.translations.get(self._language(language))
        return (wording.short_name if wording else None) or self.short_name

    def scale_names(self) -> tuple[str, ...]:
        """The names an export uses for this instrument's scales: ``total`` then the subscales."""
        return ("total", *(scale.name for scale in self.subscales))


# --------------------------------------------------------------------------------------------------
# Reading and validating a definition file
# --------------------------------------------------------------------------------------------------


class _Reader:
    """Walks a parsed JSON document, naming the field of every problem: ``items[8].options[2].value``."""

    def __init__(self, file: str) -> None:
        self.file = file

    def fail(self, where: str, problem: str) -> InstrumentDefinitionError:
        location = f"{self.file}: {where}: " if where else f"{self.file}: "
        return InstrumentDefinitionError(location + problem)

    def obj(self, value: Any, where: str, *, required: Iterable[str], optional: Iterable[str] = ()) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(where, f"must be an object, got {_kind(value)}")
        required = tuple(required)
        allowed = set(required) | set(optional)
        for key in value:
            if key not in allowed:
                raise self.fail(_join(where, key), f"unknown field (allowed: {', '.join(sorted(allowed))})")
        for key in required:
            if key not in value:
                raise self.fail(_join(where, key), "is required")
        return value

    def mapping(self, value: Any, where: str) -> dict[str, Any]:
        """An object whose keys are data (names, values), not fields."""
        if not isinstance(value, dict):
            raise self.fail(where, f"must be an object, got {_kind(value)}")
        return value

    def text(self, value: Any, where: str, *, pattern: re.Pattern[str] | None = None) -> str:
        if not isinstance(value, str) or not value.strip():
            raise self.fail(where, f"must be a non-empty string, got {_kind(value)}")
        if pattern is not None and not pattern.match(value):
            raise self.fail(where, f"{value!r} does not match {pattern.pattern}")
        return value

    def opt_text(self, value: Any, where: str) -> str | None:
        return None if value is None else self.text(value, where)

    def number(self, value: Any, where: str) -> Fraction:
        if isinstance(value, bool) or not isinstance(value, int | Decimal):
            raise self.fail(where, f"must be a number, got {_kind(value)}")
        if isinstance(value, Decimal) and not value.is_finite():
            raise self.fail(where, "must be a finite number")
        return Fraction(value)

    def integer(self, value: Any, where: str, *, minimum: int = 0) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(where, f"must be a whole number, got {_kind(value)}")
        if value < minimum:
            raise self.fail(where, f"must be at least {minimum}")
        return value

    def boolean(self, value: Any, where: str) -> bool:
        if not isinstance(value, bool):
            raise self.fail(where, f"must be true or false, got {_kind(value)}")
        return value

    def array(self, value: Any, where: str, *, nonempty: bool = True) -> list[Any]:
        if not isinstance(value, list):
            raise self.fail(where, f"must be a list, got {_kind(value)}")
        if nonempty and not value:
            raise self.fail(where, "must not be empty")
        return value


def _join(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"a boolean ({str(value).lower()})"
    if isinstance(value, str):
        return f"a string ({value!r})"
    if isinstance(value, int | Decimal):
        return f"a number ({value})"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _parse_json(path: Path) -> Any:
    try:
        raw = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InstrumentDefinitionError(f"{path.name}: cannot be read: {exc.strerror or exc}") from exc
    try:
        # Decimal keeps 5.7 and 16.67 exact; the engine converts them to fractions.
        return json.loads(raw, parse_float=Decimal)
    except json.JSONDecodeError as exc:
        raise InstrumentDefinitionError(
            f"{path.name}: not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
        ) from exc


_TOP_REQUIRED = ("schema", "code", "name", "version", "recall_period", "licence", "sources", "items", "scoring")
_TOP_OPTIONAL = (
    "short_name",
    "language",
    "instructions",
    "loinc",
    "response_sets",
    "subscales",
    "band_sets",
    "default_band_set",
    "flags",
    "notes",
    "overrides_builtin",
    "translations",
)


def parse_definition(data: Any, *, file: str) -> tuple[Instrument, bool]:
    """Build an :class:`Instrument` from a parsed definition. Returns it and whether it declares
    ``overrides_builtin``. Raises :class:`InstrumentDefinitionError` naming ``file`` and the field."""
    r = _Reader(file)
    doc = r.obj(data, "", required=_TOP_REQUIRED, optional=_TOP_OPTIONAL)
    if r.integer(doc["schema"], "schema") != SCHEMA_VERSION:
        raise r.fail("schema", f"unsupported schema {doc['schema']} (this code reads schema {SCHEMA_VERSION})")
    code = r.text(doc["code"], "code", pattern=CODE_RE)
    stem = Path(file).stem
    if stem != code:
        raise r.fail("code", f"{code!r} does not match the file name (expected {stem!r})")

    licence_doc = r.obj(doc["licence"], "licence", required=("wording", "notice"))
    wording = licence_doc["wording"]
    if wording not in ("free", "restricted"):
        raise r.fail("licence.wording", f"must be 'free' or 'restricted', got {_kind(wording)}")
    licence = Licence(wording=wording, notice=r.text(licence_doc["notice"], "licence.notice"))
    restricted = licence.wording == "restricted"

    instructions = r.opt_text(doc.get("instructions"), "instructions")
    if restricted and instructions is not None:
        raise r.fail(
            "instructions", "a restricted instrument's wording must not be in the repository; use a wording file"
        )

    response_sets = _parse_response_sets(r, doc.get("response_sets", {}), restricted=restricted)
    items = _parse_items(r, doc["items"], code=code, response_sets=response_sets, restricted=restricted)
    index = {item.key: item for item in items}

    total = _parse_scale(r, doc["scoring"], "scoring", name="total", index=index, with_range=True)
    subscales = _parse_subscales(r, doc.get("subscales", []), index=index)
    band_sets, default_band_set = _parse_band_sets(r, doc.get("band_sets"), doc.get("default_band_set"), total)
    flags = _parse_flags(r, doc.get("flags", []), index=index)

    loinc_panel = loinc_total = None
    if "loinc" in doc:
        loinc_doc = r.obj(doc["loinc"], "loinc", required=(), optional=("panel", "total"))
        loinc_panel = r.opt_text(loinc_doc.get("panel"), "loinc.panel")
        loinc_total = r.opt_text(loinc_doc.get("total"), "loinc.total")

    sources = tuple(r.text(s, f"sources[{i}]") for i, s in enumerate(r.array(doc["sources"], "sources")))
    overrides = r.boolean(doc["overrides_builtin"], "overrides_builtin") if "overrides_builtin" in doc else False
    notes = r.text(doc["notes"], "notes") if "notes" in doc else ""

    instrument = Instrument(
        code=code,
        name=r.text(doc["name"], "name"),
        short_name=r.text(doc.get("short_name", doc["name"]), "short_name"),
        version=r.text(doc["version"], "version"),
        recall_period=r.text(doc["recall_period"], "recall_period"),
        language=_read_language(r, doc.get("language", "en"), "language"),
        items=items,
        total=total,
        subscales=subscales,
        band_sets=band_sets,
        default_band_set=default_band_set,
        flags=flags,
        licence=licence,
        sources=sources,
        instructions=instructions,
        loinc_panel=loinc_panel,
        loinc_total=loinc_total,
        notes=notes,
        source_file=file,
    )
    if "translations" in doc:
        instrument = _parse_translations(r, instrument, doc["translations"])
    return instrument, overrides


_OPTION_FIELDS = ("label", "score", "loinc")


def _parse_options(r: _Reader, value: Any, where: str, *, restricted: bool) -> list[dict[str, Any]]:
    """Checks the options' shape and returns them as raw dicts (points are computed per item)."""
    options = r.array(value, where)
    seen: set[Fraction] = set()
    for i, option in enumerate(options):
        at = f"{where}[{i}]"
        r.obj(option, at, required=("value",), optional=_OPTION_FIELDS)
        val = r.number(option["value"], f"{at}.value")
        if val in seen:
            raise r.fail(f"{at}.value", f"{number(val)} appears twice in the item's options")
        seen.add(val)
        if "label" in option:
            label = r.text(option["label"], f"{at}.label")
            if restricted and not NEUTRAL_LABEL_RE.match(label):
                raise r.fail(
                    f"{at}.label",
                    f"{label!r}: a restricted instrument may carry only neutral labels (numbers, Yes, No); "
                    "put the published labels in a wording file",
                )
        if "score" in option:
            r.number(option["score"], f"{at}.score")
        if "loinc" in option:
            r.text(option["loinc"], f"{at}.loinc")
    return options


def _parse_response_sets(r: _Reader, value: Any, *, restricted: bool) -> dict[str, tuple[str, list[dict[str, Any]]]]:
    sets = r.mapping(value, "response_sets")
    parsed: dict[str, tuple[str, list[dict[str, Any]]]] = {}
    for name, options in sets.items():
        if not NAME_RE.match(name):
            raise r.fail(f"response_sets.{name}", "names are lower-case letters, digits and underscores")
        where = f"response_sets.{name}"
        parsed[name] = (where, _parse_options(r, options, where, restricted=restricted))
    return parsed


_ITEM_FIELDS = ("text", "options", "response_set", "scored", "reverse", "divisor", "rescale", "loinc")


def _parse_items(
    r: _Reader,
    value: Any,
    *,
    code: str,
    response_sets: Mapping[str, tuple[str, list[dict[str, Any]]]],
    restricted: bool,
) -> tuple[Item, ...]:
    key_re = re.compile(rf"^{re.escape(code)}_\d+(?:_\d+)?$")
    items: list[Item] = []
    seen: set[str] = set()
    for i, raw in enumerate(r.array(value, "items")):
        at = f"items[{i}]"
        doc = r.obj(raw, at, required=("key",), optional=_ITEM_FIELDS)
        key = r.text(doc["key"], f"{at}.key")
        if not key_re.match(key):
            raise r.fail(f"{at}.key", f"{key!r}: item keys are {code}_<n> (or {code}_<n>_<m> for parts of item n)")
        if key in seen:
            raise r.fail(f"{at}.key", f"{key!r} appears twice")
        seen.add(key)

        if ("options" in doc) == ("response_set" in doc):
            raise r.fail(at, "give either 'options' or 'response_set' (exactly one)")
        if "options" in doc:
            options_where = f"{at}.options"
            options = _parse_options(r, doc["options"], options_where, restricted=restricted)
        else:
            set_name = r.text(doc["response_set"], f"{at}.response_set")
            if set_name not in response_sets:
                raise r.fail(f"{at}.response_set", f"{set_name!r} is not defined in response_sets")
            options_where, options = response_sets[set_name]

        text = r.opt_text(doc.get("text"), f"{at}.text")
        if restricted and text is not None:
            raise r.fail(
                f"{at}.text", "a restricted instrument's wording must not be in the repository; use a wording file"
            )
        scored = r.boolean(doc["scored"], f"{at}.scored") if "scored" in doc else True
        reverse = r.boolean(doc["reverse"], f"{at}.reverse") if "reverse" in doc else False
        divisor = None
        if "divisor" in doc:
            divisor = r.number(doc["divisor"], f"{at}.divisor")
            if divisor <= 0:
                raise r.fail(f"{at}.divisor", "must be greater than 0")
        rescale = None
        if "rescale" in doc:
            bounds = r.array(doc["rescale"], f"{at}.rescale")
            if len(bounds) != 2:
                raise r.fail(f"{at}.rescale", "must be [lowest, highest]")
            low, high = (r.number(b, f"{at}.rescale[{j}]") for j, b in enumerate(bounds))
            if low >= high:
                raise r.fail(f"{at}.rescale", "lowest must be below highest")
            if any("score" in option for option in options):
                raise r.fail(f"{at}.rescale", "cannot be combined with options that give their own 'score'")
            if len(options) < 2:
                raise r.fail(f"{at}.rescale", "needs at least two options")
            rescale = (low, high)

        built = _build_options(options, reverse=reverse, divisor=divisor, rescale=rescale)
        items.append(
            Item(
                key=key,
                options=built,
                scored=scored,
                text=text,
                reverse=reverse,
                divisor=divisor,
                loinc=r.opt_text(doc.get("loinc"), f"{at}.loinc"),
            )
        )
    if not any(item.scored for item in items):
        raise r.fail("items", "at least one item must be scored")
    return tuple(items)


def _build_options(
    options: list[dict[str, Any]],
    *,
    reverse: bool,
    divisor: Fraction | None,
    rescale: tuple[Fraction, Fraction] | None,
) -> tuple[Option, ...]:
    values = [Fraction(option["value"]) for option in options]
    if rescale is not None:
        # Options in the order given, spaced evenly from lowest to highest: 5 options -> 0, 25, ... 100.
        low, high = rescale
        step = (high - low) / (len(options) - 1)
        scores = [low + step * i for i in range(len(options))]
    else:
        scores = [Fraction(option["score"]) if "score" in option else values[i] for i, option in enumerate(options)]
    if reverse:
        top, bottom = max(scores), min(scores)
        scores = [top + bottom - s for s in scores]
    if divisor is not None:
        scores = [s / divisor for s in scores]
    return tuple(
        Option(
            value=number(values[i]),
            label=option.get("label", str(number(values[i]))),
            points=scores[i],
            loinc=option.get("loinc"),
        )
        for i, option in enumerate(options)
    )


_SCALE_FIELDS = ("items", "method", "missing", "precision")


def _parse_missing(r: _Reader, value: Any, where: str, *, items: tuple[str, ...]) -> MissingRule:
    doc = r.obj(value, where, required=("method",), optional=("max_missing", "round", "required"))
    method = doc["method"]
    if method not in ("prorate", "zero", "none"):
        raise r.fail(f"{where}.method", f"must be 'prorate', 'zero' or 'none', got {_kind(method)}")
    max_missing = r.integer(doc.get("max_missing", 0), f"{where}.max_missing")
    if method == "none" and max_missing:
        raise r.fail(f"{where}.max_missing", "must be 0 (or absent) with method 'none'")
    if method == "zero" and "max_missing" not in doc:
        max_missing = len(items)
    if max_missing >= len(items) and method == "prorate":
        raise r.fail(f"{where}.max_missing", f"must be below the number of items ({len(items)})")
    if max_missing > len(items):
        raise r.fail(f"{where}.max_missing", f"cannot exceed the number of items ({len(items)})")
    rounding = doc.get("round")
    if rounding not in (None, "integer"):
        raise r.fail(f"{where}.round", f"must be 'integer' or null, got {_kind(rounding)}")
    if rounding and method != "prorate":
        raise r.fail(f"{where}.round", "applies only to method 'prorate'")
    required: list[str] = []
    for i, key in enumerate(r.array(doc.get("required", []), f"{where}.required", nonempty=False)):
        key = r.text(key, f"{where}.required[{i}]")
        if key not in items:
            raise r.fail(f"{where}.required[{i}]", f"{key!r} is not one of this scale's items")
        required.append(key)
    return MissingRule(
        method=method,
        max_missing=max_missing,
        round_to_integer=rounding == "integer",
        required=tuple(required),
    )


def _parse_scale(
    r: _Reader, value: Any, where: str, *, name: str, index: Mapping[str, Item], with_range: bool
) -> Scale:
    optional = (*_SCALE_FIELDS, "range") if with_range else _SCALE_FIELDS
    required = ("method", "missing", "range") if with_range else ("items", "method", "missing")
    doc = r.obj(value, where, required=required, optional=optional)
    method = doc["method"]
    if method not in ("sum", "mean"):
        raise r.fail(f"{where}.method", f"must be 'sum' or 'mean', got {_kind(method)}")
    if "items" in doc:
        keys: list[str] = []
        for i, key in enumerate(r.array(doc["items"], f"{where}.items")):
            key = r.text(key, f"{where}.items[{i}]")
            if key not in index:
                raise r.fail(f"{where}.items[{i}]", f"{key!r} is not an item of this instrument")
            if not index[key].scored:
                raise r.fail(f"{where}.items[{i}]", f"{key!r} is not scored")
            if key in keys:
                raise r.fail(f"{where}.items[{i}]", f"{key!r} appears twice")
            keys.append(key)
        items = tuple(keys)
    else:
        items = tuple(key for key, item in index.items() if item.scored)
    missing = _parse_missing(r, doc["missing"], f"{where}.missing", items=items)
    precision = None
    if doc.get("precision") is not None:
        precision = r.integer(doc["precision"], f"{where}.precision")

    low = sum((index[key].min_points for key in items), Fraction(0))
    high = sum((index[key].max_points for key in items), Fraction(0))
    if method == "mean":
        low, high = low / len(items), high / len(items)
    if with_range:
        bounds = r.array(doc["range"], f"{where}.range")
        if len(bounds) != 2:
            raise r.fail(f"{where}.range", "must be [minimum, maximum]")
        declared = tuple(r.number(b, f"{where}.range[{j}]") for j, b in enumerate(bounds))
        # The declared range is a check on the items: a wrong divisor or option value shows up here.
        if declared != (low, high):
            raise r.fail(
                f"{where}.range",
                f"declared [{_show(declared[0])}, {_show(declared[1])}] but the items give "
                f"[{_show(low)}, {_show(high)}]",
            )
    return Scale(name=name, items=items, method=method, missing=missing, precision=precision, minimum=low, maximum=high)


def _show(value: Fraction) -> str:
    return str(number(value)) if value.denominator == 1 else f"{float(value):.6g}"


def _parse_subscales(r: _Reader, value: Any, *, index: Mapping[str, Item]) -> tuple[Scale, ...]:
    scales: list[Scale] = []
    for i, raw in enumerate(r.array(value, "subscales", nonempty=False)):
        at = f"subscales[{i}]"
        doc = r.obj(raw, at, required=("name", "items", "method", "missing"), optional=("precision",))
        name = r.text(doc["name"], f"{at}.name", pattern=NAME_RE)
        if name == "total" or any(scale.name == name for scale in scales):
            raise r.fail(f"{at}.name", f"{name!r} is taken (subscale names are unique and not 'total')")
        body = {k: v for k, v in doc.items() if k != "name"}
        scales.append(_parse_scale(r, body, at, name=name, index=index, with_range=False))
    return tuple(scales)


def _parse_band_sets(r: _Reader, value: Any, default: Any, total: Scale) -> tuple[dict[str, BandSet], str | None]:
    if value is None:
        if default is not None:
            raise r.fail("default_band_set", "given, but there are no band_sets")
        return {}, None
    sets_doc = r.mapping(value, "band_sets")
    if not sets_doc:
        raise r.fail("band_sets", "must not be empty (leave it out when the instrument has no bands)")
    band_sets: dict[str, BandSet] = {}
    for set_name, raw in sets_doc.items():
        at = f"band_sets.{set_name}"
        if not NAME_RE.match(set_name):
            raise r.fail(at, "names are lower-case letters, digits and underscores")
        doc = r.obj(raw, at, required=("bands",), optional=("source", "uncertain"))
        bands: list[Band] = []
        for i, band_raw in enumerate(r.array(doc["bands"], f"{at}.bands")):
            where = f"{at}.bands[{i}]"
            band_doc = r.obj(band_raw, where, required=("name", "min"), optional=("label",))
            name = r.text(band_doc["name"], f"{where}.name", pattern=NAME_RE)
            minimum = r.number(band_doc["min"], f"{where}.min")
            if i == 0 and minimum != total.minimum:
                raise r.fail(
                    f"{where}.min", f"the first band must start at the scale's minimum ({_show(total.minimum)})"
                )
            if bands and minimum <= bands[-1].minimum:
                raise r.fail(f"{where}.min", "bands must be in increasing order of their minimum")
            if minimum > total.maximum:
                raise r.fail(f"{where}.min", f"above the scale's maximum ({_show(total.maximum)})")
            if any(band.name == name for band in bands):
                raise r.fail(f"{where}.name", f"{name!r} appears twice")
            label = (
                r.text(band_doc["label"], f"{where}.label")
                if "label" in band_doc
                else name.replace("_", " ").capitalize()
            )
            bands.append(Band(name=name, label=label, minimum=minimum))
        band_sets[set_name] = BandSet(
            name=set_name,
            bands=tuple(bands),
            source=r.text(doc["source"], f"{at}.source") if "source" in doc else "",
            uncertain=r.boolean(doc["uncertain"], f"{at}.uncertain") if "uncertain" in doc else False,
        )
    if default is None:
        raise r.fail("default_band_set", "is required when there are band_sets")
    default = r.text(default, "default_band_set")
    if default not in band_sets:
        raise r.fail("default_band_set", f"{default!r} is not one of the band_sets ({', '.join(band_sets)})")
    return band_sets, default


def _parse_flags(r: _Reader, value: Any, *, index: Mapping[str, Item]) -> tuple[FlagRule, ...]:
    rules: list[FlagRule] = []
    for i, raw in enumerate(r.array(value, "flags", nonempty=False)):
        at = f"flags[{i}]"
        doc = r.obj(raw, at, required=("name", "item"), optional=("min", "when"))
        name = r.text(doc["name"], f"{at}.name", pattern=NAME_RE)
        key = r.text(doc["item"], f"{at}.item")
        if key not in index:
            raise r.fail(f"{at}.item", f"{key!r} is not an item of this instrument")
        if ("min" in doc) == ("when" in doc):
            raise r.fail(at, "give either 'min' (raised when the answer is at least min) or 'when': 'missing'")
        if "when" in doc:
            if doc["when"] != "missing":
                raise r.fail(f"{at}.when", f"must be 'missing', got {_kind(doc['when'])}")
            rules.append(FlagRule(name=name, item=key, when_missing=True))
        else:
            minimum = r.number(doc["min"], f"{at}.min")
            if not any(Fraction(option.value) >= minimum for option in index[key].options):
                raise r.fail(
                    f"{at}.min", f"no option of {key} reaches {_show(minimum)}: the flag could never be raised"
                )
            rules.append(FlagRule(name=name, item=key, minimum=minimum))
    return tuple(rules)


def load_definition(path: Path | str) -> tuple[Instrument, bool]:
    path = Path(path)
    return parse_definition(_parse_json(path), file=path.name)


# --------------------------------------------------------------------------------------------------
# Wording supplied by a deployment
# --------------------------------------------------------------------------------------------------


def _read_labels(r: _Reader, instrument: Instrument, value: Any, where: str) -> dict[str, dict[int | float, str]]:
    """``{"*" | item_key: {value: label}}`` as ``{item_key: {value: label}}``; "*" reaches every item that
    has the value, and an item's own labels win whatever the order in the file."""
    labels: dict[str, dict[int | float, str]] = {}
    targets = r.obj(value, where, required=(), optional=("*", *instrument.item_keys))
    for target in sorted(targets, key=lambda t: t != "*"):
        at = f"{where}.{target}"
        keys = instrument.item_keys if target == "*" else (target,)
        for raw_value, label in r.mapping(targets[target], at).items():
            try:
                option_value = number(Fraction(raw_value))
            except ValueError:
                raise r.fail(f"{at}.{raw_value}", "option keys are the options' numeric values") from None
            label = r.text(label, f"{at}.{raw_value}")
            matched = [key for key in keys if instrument.item(key).option_for(option_value) is not None]
            if not matched:
                raise r.fail(f"{at}.{raw_value}", f"no option with value {option_value} in {target}")
            for key in matched:
                labels.setdefault(key, {})[option_value] = label
    return labels


def _read_language(r: _Reader, value: Any, where: str) -> str:
    language = r.text(value, where)
    if not LANGUAGE_RE.match(language):
        raise r.fail(where, f"{language!r} is not a language code (e.g. 'en', 'es', 'pt-br')")
    return language


def _parse_translation(r: _Reader, instrument: Instrument, language: str, value: Any, where: str) -> Wording:
    """A free definition's ``translations.<language>``: ``{"items": {key: text}, "options": {...},
    "instructions": ..., "name": ..., "short_name": ...}``."""
    doc = r.obj(value, where, required=("items",), optional=("instructions", "options", "name", "short_name"))
    items_doc = r.obj(doc["items"], f"{where}.items", required=(), optional=instrument.item_keys)
    texts = {key: r.text(text, f"{where}.items.{key}") for key, text in items_doc.items()}
    labels = _read_labels(r, instrument, doc["options"], f"{where}.options") if "options" in doc else {}
    return Wording(
        language=language,
        items=texts,
        options=labels,
        instructions=r.text(doc["instructions"], f"{where}.instructions") if "instructions" in doc else None,
        name=r.text(doc["name"], f"{where}.name") if "name" in doc else None,
        short_name=r.text(doc["short_name"], f"{where}.short_name") if "short_name" in doc else None,
    )


def _parse_translations(r: _Reader, instrument: Instrument, value: Any) -> Instrument:
    if instrument.licence.wording == "restricted":
        raise r.fail(
            "translations", "a restricted instrument's wording must not be in the repository; use a wording file"
        )
    translations: dict[str, Wording] = {}
    for language, raw in r.mapping(value, "translations").items():
        where = f"translations.{language}"
        _read_language(r, language, where)
        if language == instrument.language:
            raise r.fail(where, f"is the definition's own language ({language!r}); its wording is in the items")
        translations[language] = _parse_translation(r, instrument, language, raw, where)
    return replace(instrument, translations=translations)


def _wording_for(instrument: Instrument, doc: Any, r: _Reader, *, language: str) -> Instrument:
    """A wording file's entry for one instrument, in ``language``: the definition's own language replaces
    its texts; another language adds to (or replaces texts of) its translation in that language."""
    code = instrument.code
    doc = r.obj(
        doc, code, required=(), optional=("instructions", "options", "name", "short_name", *instrument.item_keys)
    )
    fixed = ("instructions", "options", "name", "short_name")
    texts = {key: r.text(value, f"{code}.{key}") for key, value in doc.items() if key not in fixed}
    labels = _read_labels(r, instrument, doc["options"], f"{code}.options") if "options" in doc else {}
    instructions = r.text(doc["instructions"], f"{code}.instructions") if "instructions" in doc else None
    name = r.text(doc["name"], f"{code}.name") if "name" in doc else None
    short_name = r.text(doc["short_name"], f"{code}.short_name") if "short_name" in doc else None
    if language != instrument.language:
        wording = Wording(
            language=language, items=texts, options=labels, instructions=instructions, name=name, short_name=short_name
        )
        earlier = instrument.translations.get(language)
        translations = {**instrument.translations, language: earlier.merged(wording) if earlier else wording}
        return replace(instrument, translations=translations)
    items = []
    for item in instrument.items:
        item_labels = labels.get(item.key, {})
        options = tuple(replace(o, label=item_labels.get(o.value, o.label)) for o in item.options)
        items.append(replace(item, text=texts.get(item.key, item.text), options=options))
    return replace(
        instrument,
        items=tuple(items),
        instructions=instructions or instrument.instructions,
        name=name or instrument.name,
        short_name=short_name or instrument.short_name,
    )


# --------------------------------------------------------------------------------------------------
# The registry
# --------------------------------------------------------------------------------------------------


class Registry:
    """The instruments a process knows, by code. Immutable: :func:`apply_wording` returns a new one."""

    def __init__(self, instruments: Iterable[Instrument]) -> None:
        self._by_code: dict[str, Instrument] = {}
        for instrument in instruments:
            if instrument.code in self._by_code:
                raise InstrumentDefinitionError(
                    f"{instrument.source_file}: code: {instrument.code!r} is registered twice"
                )
            self._by_code[instrument.code] = instrument

    def get(self, code: str) -> Instrument:
        try:
            return self._by_code[code]
        except (KeyError, TypeError):
            known = ", ".join(sorted(self._by_code))
            raise UnknownInstrumentError(f"Unknown instrument {code!r} (known: {known}).") from None

    def all(self) -> tuple[Instrument, ...]:
        return tuple(self._by_code[code] for code in sorted(self._by_code))

    def codes(self) -> tuple[str, ...]:
        return tuple(sorted(self._by_code))

    def __contains__(self, code: object) -> bool:
        return code in self._by_code

    def __iter__(self) -> Iterator[Instrument]:
        return iter(self.all())

    def __len__(self) -> int:
        return len(self._by_code)


def _definition_files(directory: Path) -> list[Path]:
    if not directory.is_dir():
        raise InstrumentDefinitionError(f"{directory}: instrument directory does not exist")
    return sorted(directory.glob("*.json"))


def load_registry(
    extra_dirs: Iterable[Path | str] = (),
    *,
    wording_files: Iterable[Path | str] = (),
    builtin_dir: Path | str = BUILTIN_DIR,
) -> Registry:
    """Read the built-in definitions, then each extra directory in order, then apply wording files.

    An extra directory may add instruments. It may replace a built-in one only when its definition says
    ``"overrides_builtin": true`` (e.g. to make Moore's GAD-Q-IV cut-off the default); a duplicate code
    without it is an error, so a stray copy cannot silently change how a trial is scored.
    """
    found: dict[str, tuple[Instrument, Path]] = {}
    for directory in (Path(builtin_dir), *(Path(d) for d in extra_dirs)):
        for path in _definition_files(directory):
            instrument, overrides = load_definition(path)
            if instrument.code in found:
                _, earlier = found[instrument.code]
                if not overrides:
                    raise InstrumentDefinitionError(
                        f"{path.name}: code: {instrument.code!r} is already defined in {earlier}; "
                        'set "overrides_builtin": true to replace it'
                    )
            elif overrides:
                raise InstrumentDefinitionError(
                    f"{path.name}: overrides_builtin: there is no earlier {instrument.code!r} to override"
                )
            found[instrument.code] = (instrument, path)
    registry = Registry(instrument for instrument, _ in found.values())
    for wording_file in wording_files:
        registry = apply_wording(registry, wording_file)
    return registry


def apply_wording(registry: Registry, wording_file: Path | str) -> Registry:
    """Install wording from a deployment's file: ``{"language": "es", code: {item_key: text,
    "instructions": text, "options": {"*" | item_key: {value: label}}, "name": text}}``. ``language`` is
    optional (default ``"en"``): wording in an instrument's own language replaces its texts, wording in
    another language is kept as that language's translation. Returns a new registry; the given one is
    unchanged. Unknown codes, items or option values raise :class:`InstrumentDefinitionError` naming the
    file and the field."""
    path = Path(wording_file)
    r = _Reader(path.name)
    doc = r.obj(_parse_json(path), "", required=(), optional=("language", *registry.codes()))
    language = _read_language(r, doc["language"], "language") if "language" in doc else "en"
    updated = {instrument.code: instrument for instrument in registry.all()}
    for code, wording in doc.items():
        if code != "language":
            updated[code] = _wording_for(updated[code], wording, r, language=language)
    return Registry(updated.values())


_lock = threading.Lock()
_default: Registry | None = None


def default_registry() -> Registry:
    """The process's registry: the built-in definitions, unless :func:`install_registry` set another."""
    global _default
    with _lock:
        if _default is None:
            _default = load_registry()
        return _default


def install_registry(registry: Registry | None) -> None:
    """Make ``registry`` the process's registry (the app does this at start-up with the settings'
    ``INSTRUMENT_DIRS`` and wording files). ``None`` goes back to the built-in definitions."""
    global _default
    with _lock:
        _default = registry


def get_instrument(code: str) -> Instrument:
    return default_registry().get(code)


def all_instruments() -> tuple[Instrument, ...]:
    return default_registry().all()
