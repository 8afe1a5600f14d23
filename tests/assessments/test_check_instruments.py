from __future__ import annotations

import json

import pytest
from django.core.management import CommandError, call_command

from assessments.instruments import BUILTIN_DIR


@pytest.mark.builtin_wording
def test_it_lists_the_installed_instruments(capsys):
    call_command("check_instruments")
    out = capsys.readouterr().out
    assert "phq9" in out and "wording installed (en, es)" in out
    assert "gadq4" in out and "wording NOT installed" in out
    assert "8 instruments valid." in out


def test_it_names_the_file_and_field_of_a_bad_definition(tmp_path):
    data = json.loads((BUILTIN_DIR / "phq9.json").read_text())
    data["code"] = "phq9x"
    data["items"][0]["key"] = "phq9x_1"
    broken = tmp_path / "phq9x.json"
    broken.write_text(json.dumps(data).replace('"phq9_', '"phq9x_'))
    bad = json.loads(broken.read_text())
    bad["items"][2]["options"] = "lots"
    broken.write_text(json.dumps(bad))
    with pytest.raises(CommandError, match=r"phq9x\.json: items\[2\]"):
        call_command("check_instruments", str(broken))
    with pytest.raises(CommandError, match="no such file"):
        call_command("check_instruments", str(tmp_path / "missing.json"))
