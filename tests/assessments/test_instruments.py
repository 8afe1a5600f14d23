"""Instrument definitions: the eight built-in files, validation errors that name the file and field,
wording placeholders and installed wording, extra directories and the process registry. Pure."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from assessments.instruments import (
    BUILTIN_DIR,
    NEUTRAL_LABEL_RE,
    InstrumentDefinitionError,
    UnknownInstrumentError,
    WordingNotInstalled,
    all_instruments,
    apply_wording,
    default_registry,
    get_instrument,
    install_registry,
    load_definition,
    load_registry,
)
from assessments.scoring import score_instrument

CODES = ("edeqs", "gad7", "gadq4", "phq8", "phq9", "scoff", "waisr", "wcs")
RESTRICTED = ("gadq4", "wcs", "edeqs", "scoff", "waisr")


def builtin(code: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((BUILTIN_DIR / f"{code}.json").read_text(encoding="utf-8"))
    return doc


@pytest.fixture
def write(tmp_path: Path) -> Callable[..., Path]:
    def write_file(doc: Any, name: str, directory: str = "defs") -> Path:
        folder = tmp_path / directory
        folder.mkdir(exist_ok=True)
        path = folder / name
        path.write_text(doc if isinstance(doc, str) else json.dumps(doc), encoding="utf-8")
        return path

    return write_file


@pytest.fixture
def restore_registry() -> Iterator[None]:
    yield
    install_registry(None)


# --------------------------------------------------------------------------------------------------
# The built-in definitions
# --------------------------------------------------------------------------------------------------


def test_the_eight_instruments_are_registered() -> None:
    assert tuple(instrument.code for instrument in all_instruments()) == CODES
    assert get_instrument("phq9").short_name == "PHQ-9"


def test_unknown_code_names_the_code_and_the_known_ones() -> None:
    with pytest.raises(UnknownInstrumentError, match=r"'bdi2'.*phq9"):
        get_instrument("bdi2")


def test_item_keys_follow_the_code() -> None:
    for instrument in all_instruments():
        for key in instrument.item_keys:
            assert re.fullmatch(rf"{instrument.code}_\d+(_\d+)?", key), key
    assert get_instrument("phq9").item_keys == tuple(f"phq9_{n}" for n in range(1, 11))
    assert [item.key for item in get_instrument("phq9").scored_items] == [f"phq9_{n}" for n in range(1, 10)]
    assert len(get_instrument("wcs").items) == 5
    assert [len(item.options) for item in get_instrument("wcs").items] == [5, 5, 7, 4, 5]
    assert len(get_instrument("edeqs").items) == 12
    assert len(get_instrument("waisr").items) == 12
    assert len(get_instrument("scoff").items) == 5


def test_every_definition_has_version_recall_licence_and_sources() -> None:
    for instrument in all_instruments():
        assert instrument.version and instrument.recall_period and instrument.licence.notice, instrument.code
        assert instrument.sources, instrument.code
    assert get_instrument("edeqs").recall_period == "Past 7 days"
    assert get_instrument("phq9").recall_period == "Over the last 2 weeks"


def test_declared_ranges_match_the_manuals() -> None:
    ranges = {i.code: (i.total.minimum, i.total.maximum) for i in all_instruments()}
    assert ranges == {
        "edeqs": (0, 36),
        "gad7": (0, 21),
        "gadq4": (0, 13),
        "phq8": (0, 24),
        "phq9": (0, 27),
        "scoff": (0, 5),
        "waisr": (12, 60),
        "wcs": (0, 100),
    }


def test_loinc_codes_of_phq9() -> None:
    phq9 = get_instrument("phq9")
    assert (phq9.loinc_panel, phq9.loinc_total) == ("44249-1", "44261-6")
    assert [item.loinc for item in phq9.scored_items] == [
        "44250-9", "44255-8", "44259-0", "44254-1", "44251-7", "44258-2", "44252-5", "44253-3", "44260-8",
    ]  # fmt: skip
    assert phq9.item("phq9_9").loinc == "44260-8"
    assert [(o.value, o.loinc) for o in phq9.item("phq9_1").options] == [
        (0, "LA6568-5"), (1, "LA6569-3"), (2, "LA6570-1"), (3, "LA6571-9"),
    ]  # fmt: skip


def test_loinc_codes_of_gad7() -> None:
    gad7 = get_instrument("gad7")
    assert (gad7.loinc_panel, gad7.loinc_total) == ("69737-5", "70274-6")
    assert [item.loinc for item in gad7.items] == [
        "69725-0", "68509-9", "69733-4", "69734-2", "69735-9", "69689-8", "69736-7",
    ]  # fmt: skip
    assert gad7.item("gad7_7").options[3].loinc == "LA6571-9"


# --------------------------------------------------------------------------------------------------
# Wording
# --------------------------------------------------------------------------------------------------


def test_public_domain_instruments_carry_their_wording() -> None:
    phq9 = get_instrument("phq9")
    assert phq9.wording_installed
    assert phq9.item_text("phq9_9") == "Thoughts that you would be better off dead or of hurting yourself in some way"
    assert phq9.instructions and "2 weeks" in phq9.instructions
    assert phq9.option_label("phq9_10", 0) == "Not difficult at all"
    assert get_instrument("phq8").item_text("phq8_1") == phq9.item_text("phq9_1")


def test_gad7_lowest_option_is_not_at_all() -> None:
    gad7 = get_instrument("gad7")
    assert gad7.wording_installed
    assert [gad7.option_label("gad7_1", v) for v in range(4)] == [
        "Not at all", "Several days", "More than half the days", "Nearly every day",
    ]  # fmt: skip
    assert all("sure" not in option.label for item in gad7.items for option in item.options)


@pytest.mark.builtin_wording
@pytest.mark.parametrize("code", RESTRICTED)
def test_licensed_instruments_have_no_wording_in_the_repository(code: str) -> None:
    instrument = get_instrument(code)
    assert instrument.licence.wording == "restricted"
    assert not instrument.wording_installed
    assert instrument.wording_languages() == ()
    assert instrument.instructions is None
    for item in instrument.items:
        assert item.text is None
        assert all(NEUTRAL_LABEL_RE.match(option.label) for option in item.options), item.key
    raw = builtin(code)
    assert "text" not in json.dumps(raw["items"])


@pytest.mark.builtin_wording
def test_licensed_item_text_is_never_a_placeholder_but_staff_see_a_marked_one() -> None:
    gadq4 = get_instrument("gadq4")
    with pytest.raises(WordingNotInstalled, match=r"gadq4: item gadq4_3 has no wording installed in 'en'"):
        gadq4.item_text("gadq4_3")
    with pytest.raises(WordingNotInstalled, match="'es'"):
        gadq4.item_text("gadq4_3", "es")
    assert gadq4.staff_item_text("gadq4_3") == "[Item wording not installed: gadq4_3 (en) — see docs/instruments.md]"
    with pytest.raises(KeyError, match="gadq4_99"):
        gadq4.item_text("gadq4_99")


@pytest.mark.builtin_wording
def test_apply_wording_installs_texts_and_labels(write: Callable[..., Path]) -> None:
    gadq4 = get_instrument("gadq4")
    wording = {key: f"Question {key}" for key in gadq4.item_keys}
    wording["instructions"] = "Please answer."
    wording["options"] = {"*": {"1": "Yes indeed", "0": "Not so"}, "gadq4_8": {"0": "None", "8": "Very severe"}}  # type: ignore[assignment]
    registry = apply_wording(default_registry(), write({"gadq4": wording}, "wording.json"))

    installed = registry.get("gadq4")
    assert installed.wording_installed
    assert installed.item_text("gadq4_3") == "Question gadq4_3"
    assert installed.instructions == "Please answer."
    assert installed.option_label("gadq4_1", 1) == "Yes indeed"
    assert installed.option_label("gadq4_8", 0) == "None"  # the item's own label wins over "*"
    assert installed.option_label("gadq4_8", 4) == "4"
    assert installed.option_label("gadq4_5", 1) == "Yes indeed"  # "*" reaches every item with that value
    # Scoring does not depend on wording, and the registry given is left unchanged.
    assert installed.item("gadq4_8").options[8].points == gadq4.item("gadq4_8").options[8].points
    assert not default_registry().get("gadq4").wording_installed


def test_partial_wording_is_not_wording(write: Callable[..., Path]) -> None:
    registry = load_registry(wording_files=[write({"waisr": {"waisr_1": "Item one"}}, "w.json")])
    waisr = registry.get("waisr")
    assert waisr.item_text("waisr_1") == "Item one"
    with pytest.raises(WordingNotInstalled):
        waisr.item_text("waisr_2")
    assert waisr.staff_item_text("waisr_2").startswith("[Item wording not installed: waisr_2")
    assert not waisr.wording_installed
    assert not waisr.has_wording("en")


@pytest.mark.parametrize(
    ("wording", "message"),
    [
        ({"bdi2": {}}, r"w\.json: bdi2: unknown field"),
        ({"gadq4": {"gadq4_10": "x"}}, r"w\.json: gadq4\.gadq4_10: unknown field"),
        ({"gadq4": {"gadq4_1": ""}}, r"w\.json: gadq4\.gadq4_1: must be a non-empty string"),
        (
            {"gadq4": {"options": {"gadq4_8": {"9": "x"}}}},
            r"w\.json: gadq4\.options\.gadq4_8\.9: no option with value 9",
        ),
        ({"gadq4": {"options": {"gadq4_8": {"one": "x"}}}}, r"w\.json: gadq4\.options\.gadq4_8\.one: option keys"),
    ],
)
def test_bad_wording_files_name_the_field(write: Callable[..., Path], wording: Any, message: str) -> None:
    with pytest.raises(InstrumentDefinitionError, match=message):
        apply_wording(default_registry(), write(wording, "w.json"))


# --------------------------------------------------------------------------------------------------
# Validation of definition files
# --------------------------------------------------------------------------------------------------


def phq9_with(change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    doc = copy.deepcopy(builtin("phq9"))
    change(doc)
    return doc


def inline_item9(value: Any) -> Callable[[dict[str, Any]], None]:
    def change(doc: dict[str, Any]) -> None:
        doc["items"][8] = {"key": "phq9_9", "options": [{"value": 0}, {"value": 1}, {"value": value}, {"value": 3}]}

    return change


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (inline_item9("2"), "phq9.json: items[8].options[2].value: must be a number, got a string ('2')"),
        (inline_item9(True), "phq9.json: items[8].options[2].value: must be a number, got a boolean (true)"),
        (inline_item9(1), "phq9.json: items[8].options[2].value: 1 appears twice"),
        (lambda d: d.update(code="phq8"), "phq9.json: code: 'phq8' does not match the file name"),
        (lambda d: d.update(itmes=[]), "phq9.json: itmes: unknown field"),
        (lambda d: d.pop("scoring"), "phq9.json: scoring: is required"),
        (lambda d: d.update(schema=2), "phq9.json: schema: unsupported schema 2"),
        (lambda d: d["items"][2].update(key="phq9-3"), "phq9.json: items[2].key: 'phq9-3'"),
        (lambda d: d["items"][2].update(key="phq9_2"), "phq9.json: items[2].key: 'phq9_2' appears twice"),
        (
            lambda d: d["items"][2].update(response_set="likert"),
            "phq9.json: items[2].response_set: 'likert' is not defined",
        ),
        (lambda d: d["items"][2].update(divisor=0), "phq9.json: items[2].divisor: must be greater than 0"),
        (
            lambda d: d["scoring"].update(range=[0, 28]),
            r"phq9.json: scoring.range: declared \[0, 28\] but the items give \[0, 27\]",
        ),
        (lambda d: d["scoring"].update(method="median"), "phq9.json: scoring.method: must be 'sum' or 'mean'"),
        (
            lambda d: d["scoring"]["missing"].update(max_missing=9),
            "phq9.json: scoring.missing.max_missing: must be below",
        ),
        (lambda d: d["scoring"]["items"].append("phq9_10"), r"phq9.json: scoring.items\[9\]: 'phq9_10' is not scored"),
        (lambda d: d["scoring"]["items"].append("phq9_11"), r"phq9.json: scoring.items\[9\]: 'phq9_11' is not an item"),
        (
            lambda d: d["band_sets"]["kroenke2001"]["bands"][2].update(min=4),
            r"bands\[2\].min: bands must be in increasing order",
        ),
        (
            lambda d: d["band_sets"]["kroenke2001"]["bands"][0].update(min=1),
            r"bands\[0\].min: the first band must start at the scale's minimum",
        ),
        (
            lambda d: d.update(default_band_set="kroenke"),
            "phq9.json: default_band_set: 'kroenke' is not one of the band_sets",
        ),
        (lambda d: d["flags"][0].update(item="phq9_11"), r"phq9.json: flags\[0\].item: 'phq9_11' is not an item"),
        (lambda d: d["flags"][1].update(min=4), r"phq9.json: flags\[1\].min: no option of phq9_9 reaches 4"),
        (lambda d: d["flags"][2].update(when="present"), r"phq9.json: flags\[2\].when: must be 'missing'"),
        (lambda d: d["licence"].update(wording="open"), "phq9.json: licence.wording: must be 'free' or 'restricted'"),
    ],
)
def test_definition_errors_name_the_file_and_field(
    write: Callable[..., Path], change: Callable[[dict[str, Any]], None], message: str
) -> None:
    path = write(phq9_with(change), "phq9.json")
    with pytest.raises(InstrumentDefinitionError, match=message if "\\" in message else re.escape(message)):
        load_definition(path)


def test_restricted_instruments_refuse_wording_in_the_definition(write: Callable[..., Path]) -> None:
    doc = copy.deepcopy(builtin("waisr"))
    doc["items"][0]["text"] = "Some licensed sentence"
    with pytest.raises(InstrumentDefinitionError, match=r"waisr.json: items\[0\].text: a restricted instrument"):
        load_definition(write(doc, "waisr.json"))

    doc = copy.deepcopy(builtin("waisr"))
    doc["response_sets"]["one_to_five"][0]["label"] = "Seldom"
    with pytest.raises(InstrumentDefinitionError, match=r"response_sets.one_to_five\[0\].label: 'Seldom'"):
        load_definition(write(doc, "waisr.json"))


def test_invalid_json_names_the_file_and_line(write: Callable[..., Path]) -> None:
    with pytest.raises(InstrumentDefinitionError, match=r"phq9.json: not valid JSON: .*line 1"):
        load_definition(write('{"schema": 1,', "phq9.json"))


# --------------------------------------------------------------------------------------------------
# Extra directories, overrides and the process registry
# --------------------------------------------------------------------------------------------------


def toy_definition() -> dict[str, Any]:
    """A 3-item mean scale with a reverse-keyed item, as a deployment might add."""
    return {
        "schema": 1,
        "code": "toy",
        "name": "Toy scale",
        "version": "1",
        "recall_period": "Past week",
        "licence": {"wording": "free", "notice": "Made up for the tests."},
        "sources": ["The test suite."],
        "response_sets": {"agree": [{"value": v, "label": str(v)} for v in range(1, 6)]},
        "items": [
            {"key": "toy_1", "response_set": "agree", "text": "One"},
            {"key": "toy_2", "response_set": "agree", "text": "Two", "reverse": True},
            {"key": "toy_3", "response_set": "agree", "text": "Three"},
        ],
        "scoring": {"method": "mean", "missing": {"method": "none"}, "precision": 2, "range": [1, 5]},
    }


def test_an_extra_directory_adds_an_instrument_and_reverse_items_are_reversed(write: Callable[..., Path]) -> None:
    path = write(toy_definition(), "toy.json", directory="extra")
    registry = load_registry(extra_dirs=[path.parent])
    assert "toy" in registry and "phq9" in registry
    # toy_2 = 1 is reversed to 5: (4 + 5 + 5) / 3 = 4.67.
    result = score_instrument("toy", {"toy_1": 4, "toy_2": 1, "toy_3": 5}, registry=registry)
    assert result.total == 4.67
    assert [option.points for option in registry.get("toy").item("toy_2").options] == [5, 4, 3, 2, 1]


def test_a_duplicate_code_needs_an_explicit_override(write: Callable[..., Path]) -> None:
    doc = copy.deepcopy(builtin("gadq4"))
    doc["default_band_set"] = "moore2014"
    path = write(doc, "gadq4.json", directory="extra")
    with pytest.raises(
        InstrumentDefinitionError, match=r"gadq4.json: code: 'gadq4' is already defined in .*overrides_builtin"
    ):
        load_registry(extra_dirs=[path.parent])

    doc["overrides_builtin"] = True
    path = write(doc, "gadq4.json", directory="extra")
    registry = load_registry(extra_dirs=[path.parent])
    answers = {"gadq4_1": 1, "gadq4_2": 1, "gadq4_3": 1, "gadq4_4": 1, "gadq4_5": 3, "gadq4_8": 3}  # 5.75
    assert score_instrument("gadq4", answers, registry=registry).band == "below_cutoff"  # Moore's 7.67
    assert score_instrument("gadq4", answers).band == "probable_gad"  # built-in: Newman's 5.7


def test_override_without_a_builtin_is_refused(write: Callable[..., Path]) -> None:
    doc = toy_definition() | {"overrides_builtin": True}
    path = write(doc, "toy.json", directory="extra")
    with pytest.raises(InstrumentDefinitionError, match=r"toy\.json: overrides_builtin: there is no earlier 'toy'"):
        load_registry(extra_dirs=[path.parent])


def test_a_missing_extra_directory_fails_loudly(tmp_path: Path) -> None:
    with pytest.raises(InstrumentDefinitionError, match="does not exist"):
        load_registry(extra_dirs=[tmp_path / "nowhere"])


def test_install_registry_changes_what_get_instrument_sees(write: Callable[..., Path], restore_registry: None) -> None:
    path = write(toy_definition(), "toy.json", directory="extra")
    install_registry(load_registry(extra_dirs=[path.parent]))
    assert get_instrument("toy").name == "Toy scale"
    assert score_instrument("toy", {"toy_1": 1, "toy_2": 5, "toy_3": 1}).total == 1.0
    install_registry(None)
    with pytest.raises(UnknownInstrumentError):
        get_instrument("toy")
